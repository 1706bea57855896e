"""mbt2018-mean and mbt2018 (Minnen et al. 2018) against CompressAI 1.2.0b3.

mbt2018-mean: the same checks as tests/test_balle.py (its `check_*` functions, see
its doc for what each covers and the tolerances) on the fixture (N=32, M=48): h_a on
y itself with LeakyReLUs, h_s to 2M channels split into (scales, means) in that
order, y coded as round(y - means). Plus the refusal that tells it apart from
bmshj2018-hyperprior, whose files differ only in the shapes of h_s.

mbt2018 (context model): the `check_*_ar` functions here, which cheng2020's tests
(tests/test_cheng2020.py) share. Module outputs include the context model and the
entropy parameters; CompressAI's coded symbols and indexes are in raster order
(`raster_grid`), ours wave by wave (`Recorder`); the decoded image is the
encoder's own reconstruction exactly, and PyTorch's decompress at 8 bits (not
forward's x_hat: see `lic_jax.latent.autoregressive`).
"""
import jax.numpy as jnp
import numpy as np
import pytest

import test_balle as zoo
from conftest import nhwc, state_dict, stored_tables
from lic_jax import bitstream, conversion, latent
from lic_jax.entropy import factorized, raster
from lic_jax.testing import Recorder, escape_payload_bytes, raster_grid

NAME = "mbt2018_mean"
AR = "mbt2018"



def test_detection():
  zoo.check_detection(NAME)


def test_modules():
  zoo.check_modules(NAME)


def test_forward():
  zoo.check_forward(NAME)


def test_full_size_manifests():
  zoo.check_manifest("mbt2018-mean", NAME)


def test_string_sizes():
  zoo.check_string_sizes(NAME)


def test_symbols_and_indexes():
  zoo.check_symbols(NAME)


def test_round_trip():
  zoo.check_round_trip(NAME)


def test_mixed_key_styles_refused():
  zoo.check_mixed_key_styles(NAME)


def test_wrong_arch_refused():
  # Same keys as bmshj2018-hyperprior's, h_s's shapes apart: each is refused as the
  # other, and the message says which it is.
  message = zoo.check_wrong_arch(NAME, "bmshj2018-hyperprior")
  assert "h_a, h_s" in message
  zoo.check_wrong_arch("bmshj2018_hyperprior", "mbt2018-mean")
  zoo.check_wrong_arch(NAME, "bmshj2018-factorized")


# ----- mbt2018 and the checks of the autoregressive models ----------------------------

def check_modules_ar(name):
  """g_a, h_a, h_s as for the hyperprior models; context_prediction from y_hat =
  round(y) (CompressAI's eval forward), entropy_parameters from the recorded h_s and
  context outputs, g_s from round(y)."""
  ref = {k: nhwc(v) for k, v in zoo.outputs(name).items() if v.ndim == 4}
  c = zoo.codec(name)
  stages = c.stages
  y, z, hyper = ref["forward:g_a:out0"], ref["forward:h_a:out0"], ref["forward:h_s:out0"]
  medians = factorized.medians(c.params["entropy_bottleneck"])
  features = ref["forward:context_prediction:out0"]
  params = stages.stage("gaussian_params")(hyper, features)
  zoo.check_modules(name, {
      "g_a": (stages.stage("analysis")(ref["x"]), y),
      "h_a": (stages.stage("hyper_analysis")(y), z),
      "h_s": (stages.stage("hyper_synthesis")(jnp.round(z - medians) + medians), hyper),
      "context_prediction": (stages.stage("context_model")(jnp.round(y)), features),
      "entropy_parameters": (jnp.concatenate([params["scales"], params["means"]], -1),
                             ref["forward:entropy_parameters:out0"]),
      "g_s": (stages.stage("synthesis")(jnp.round(y)), ref["forward:g_s:out0"]),
  })


def check_symbols_ar(name):
  """Our y symbols and indexes, put back on the grid from the waves, equal
  CompressAI's raster-order ones but for near-ties; z's likewise."""
  c, ref = zoo.codec(name), zoo.outputs(name)
  mode = Recorder(latent.Encode(c.coder, c.stream_tables, c.layout), c.stream_tables)
  y = c.stages.stage("analysis")(nhwc(ref["x"]))
  c.model.latent_codec.code(c.stages, mode, y)
  _, h, w, m = y.shape
  rows, cols, counts = raster.waves(h, w, 5)
  y_calls = [call for call in mode.calls if call.stream == "y"]
  assert len(y_calls) == len(counts) == 3 * h + w - 3
  grids = [np.full((h, w, m), -99.0) for _ in range(4)]
  for t, call in enumerate(y_calls):
    for grid, array in zip(grids, (call.symbols, call.indexes, call.symbol_tie, call.scale_tie)):
      grid[rows[t, :counts[t]], cols[t, :counts[t]]] = array[0, :, 0]
  assert np.all(grids[0] != -99.0)  # Every position coded.
  z_symbols, z_tie = mode.by_stream()["z"].symbols, mode.by_stream()["z"].symbol_tie
  checks = [
      ("y symbols", grids[0], raster_grid(ref["compress:y_symbols"], h, w), grids[2],
       zoo.SYMBOL_TIE_ABS),
      ("y indexes", grids[1], raster_grid(ref["compress:y_indexes"], h, w), grids[3],
       zoo.SCALE_TIE_REL),
      ("z symbols", z_symbols, nhwc(ref["compress:z_symbols"]), z_tie, zoo.SYMBOL_TIE_ABS)]
  report = []
  for what, got, want, tie, bound in checks:
    assert got.shape == want.shape, (what, got.shape, want.shape)
    bad = got != want
    report.append(f"{what}: {bad.sum()}/{bad.size} differ, near-tie distances "
                  f"{tie[bad].tolist()}")
    assert bad.sum() <= zoo.MAX_MISMATCH_FRACTION * bad.size, report[-1]
    assert np.all(np.abs(got[bad] - want[bad]) == 1), report[-1]
    assert np.all(tie[bad] < bound), report[-1]
  print(name, "; ".join(report))


def check_round_trip_ar(name):
  """decompress(compress(image)) is the encoder's own reconstruction, exactly (the
  synthesis of the y_hat it coded), at the fixture size and at an odd 70x100 crop,
  and its strings cost at most 5% over the ideal code length of their symbols (the
  coder's 16-bit tables and 64 scales cost a few % at low rates; forward's
  likelihoods are of another y_hat here). At the fixture size: each string's size
  is CompressAI's within 1% (escape payloads accounted for, as in
  `test_balle.check_string_sizes`) and the decoded image is PyTorch's decompress
  at 8 bits, near-.5 samples apart."""
  c, ref = zoo.codec(name), zoo.outputs(name)
  image = zoo.fixture_image(name)
  for picture in (image, image[13:83, 41:141]):
    height, width = picture.shape[:2]
    data = c.compress(picture)
    decoded = c.decompress(data)
    latents = c.latents(picture)
    assert decoded.dtype == np.uint8 and decoded.shape == picture.shape
    np.testing.assert_array_equal(decoded, c.reconstruction(latents, height, width))
    mode = Recorder(latent.Encode(c.coder, c.stream_tables, c.layout), c.stream_tables)
    c.model.latent_codec.code(c.stages, mode, latents["y"], latents=latents)
    sizes = bitstream.info(data)["string_bytes"]
    assert 8 * sum(sizes.values()) <= 1.05 * mode.bits, (sizes, mode.bits)
    if picture is image:
      zoo.check_pytorch_decoded(name, decoded, 8 * len(data))
      for stream, prefix in (("z", "entropy_bottleneck"), ("y", "gaussian_conditional")):
        symbols = ref[f"compress:{stream}_symbols"]
        indexes = (zoo.channel_indexes(symbols) if stream == "z"
                   else ref["compress:y_indexes"])
        theirs = len(ref[f"compress:{stream}_string"])
        their_payload, our_payload = escape_payload_bytes(
            symbols, indexes, stored_tables(zoo.ref_name(name), prefix))
        expected = theirs - their_payload + our_payload
        print(f"{name} {stream}: {sizes[stream]} bytes, CompressAI {theirs} (expected "
              f"{expected:.0f} with the escape payloads)")
        assert abs(sizes[stream] - expected) <= zoo.STRING_REL * theirs + zoo.STRING_ABS


def check_context_weight_masked_on_load(name):
  """Weights in the masked-out taps of the context model (a file saved before any
  forward) are dropped on load; a wrong mask buffer is refused."""
  sd = dict(state_dict(zoo.ref_name(name)))
  weight = sd["context_prediction.weight"]
  unmasked = weight + (1 - raster.mask(5)) * np.float32(0.5)
  _, _, params, _ = conversion.convert_state_dict({**sd, "context_prediction.weight": unmasked})
  _, _, expected, _ = conversion.convert_state_dict(sd)
  np.testing.assert_array_equal(params["context_prediction"]["kernel"],
                                expected["context_prediction"]["kernel"])
  with pytest.raises(conversion.ConversionError, match="context_prediction.mask"):
    conversion.convert_state_dict({**sd, "context_prediction.mask": np.ones_like(weight)})


def test_mbt2018_detection():
  zoo.check_detection(AR)


def test_mbt2018_modules():
  check_modules_ar(AR)


def test_mbt2018_forward():
  zoo.check_forward(AR)


def test_mbt2018_full_size_manifests():
  zoo.check_manifest("mbt2018", AR)


def test_mbt2018_string_sizes():
  """The range coder on CompressAI's raster-order symbols and indexes."""
  zoo.check_string_sizes(AR)


def test_mbt2018_symbols_and_indexes():
  check_symbols_ar(AR)


def test_mbt2018_round_trip():
  check_round_trip_ar(AR)


def test_mbt2018_context_weight_masked_on_load():
  check_context_weight_masked_on_load(AR)


def test_mbt2018_wrong_arch_refused():
  zoo.check_wrong_arch(AR, "mbt2018-mean")
  zoo.check_wrong_arch(NAME, "mbt2018")
  zoo.check_mixed_key_styles(AR)
