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


@pytest.fixture(autouse=True)
def needs_torch():
  pytest.importorskip("torch", reason="reading the PyTorch checkpoint needs torch")


@pytest.mark.parametrize("name", NAMES)
def test_detection(name):
  zoo.check_detection(name)


@pytest.mark.parametrize("name", NAMES)
def test_modules(name):
  ar.check_modules_ar(name)


@pytest.mark.parametrize("name", NAMES)
def test_forward(name):
  zoo.check_forward(name)


@pytest.mark.parametrize("name", NAMES)
def test_full_size_manifests(name):
  zoo.check_manifest(zoo.ZOO_FIXTURES[name], name)


@pytest.mark.coder
@pytest.mark.parametrize("name", NAMES)
def test_string_sizes(name):
  zoo.check_string_sizes(name)


@pytest.mark.coder
@pytest.mark.parametrize("name", NAMES)
def test_symbols_and_indexes(name):
  ar.check_symbols_ar(name)


@pytest.mark.coder
@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name):
  ar.check_round_trip_ar(name)


def test_context_weight_masked_on_load():
  ar.check_context_weight_masked_on_load("cheng2020_anchor")


def test_skip_keys_of_either_style():
  """compressai's own key style (`.skip.`) converts like the zoo's (`.downsample.`)."""
  sd = zoo.state_dict(zoo.ref_name("cheng2020_anchor"))
  renamed = {k.replace(".downsample.", ".skip."): v for k, v in sd.items()}
  assert renamed != sd
  _, _, params, _ = zoo.convert.convert_state_dict(renamed)
  _, _, expected, _ = zoo.convert.convert_state_dict(sd)
  assert zoo.jax.tree_util.tree_all(zoo.jax.tree_util.tree_map(
      lambda a, b: bool((a == b).all()), params, expected))


def test_wrong_arch_refused():
  zoo.check_wrong_arch("cheng2020_anchor", "cheng2020-attn")
  zoo.check_wrong_arch("cheng2020_attn", "cheng2020-anchor")
  zoo.check_wrong_arch("cheng2020_anchor", "mbt2018")
  zoo.check_mixed_key_styles("cheng2020_attn")
