"""cheng2020-anchor and cheng2020-attn (Cheng et al. 2020, CompressAI's versions)
against CompressAI 1.2.0b3, with the checks of tests/test_minnen.py (the context
model is mbt2018's) and tests/test_balle.py on the fixtures (N=32): residual blocks
with LeakyReLUs, strided blocks whose skip conv the zoo's files call `downsample`,
sub-pixel convs, and for the attention model two attention blocks in g_a and in g_s.
"""
import pytest

import test_balle as zoo
import test_minnen as ar

NAMES = ["cheng2020_anchor", "cheng2020_attn"]



# The checks of test_balle.py and test_minnen.py, each on both fixtures.
CHECKS = {
    "detection": zoo.check_detection,
    "modules": ar.check_modules_ar,
    "forward": zoo.check_forward,
    "full_size_manifests": lambda name: zoo.check_manifest(zoo.ZOO_FIXTURES[name], name),
    "string_sizes": zoo.check_string_sizes,
    "symbols_and_indexes": ar.check_symbols_ar,
    "round_trip": ar.check_round_trip_ar,
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("check", list(CHECKS))
def test_check(check, name):
  CHECKS[check](name)


def test_context_weight_masked_on_load():
  ar.check_context_weight_masked_on_load("cheng2020_anchor")


def test_skip_keys_of_either_style():
  """compressai's own key style (`.skip.`) converts like the zoo's (`.downsample.`)."""
  sd = zoo.state_dict(zoo.ref_name("cheng2020_anchor"))
  renamed = {k.replace(".downsample.", ".skip."): v for k, v in sd.items()}
  assert renamed != sd
  _, _, params, _ = zoo.conversion.convert_state_dict(renamed)
  _, _, expected, _ = zoo.conversion.convert_state_dict(sd)
  assert zoo.jax.tree_util.tree_all(zoo.jax.tree_util.tree_map(
      lambda a, b: bool((a == b).all()), params, expected))


def test_wrong_arch_refused():
  zoo.check_wrong_arch("cheng2020_anchor", "cheng2020-attn")
  zoo.check_wrong_arch("cheng2020_attn", "cheng2020-anchor")
  zoo.check_wrong_arch("cheng2020_anchor", "mbt2018")
  zoo.check_mixed_key_styles("cheng2020_attn")
