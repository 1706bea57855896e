"""Variable rate (`lic_jax.latent.variable_rate`), through CompressAI 1.2.8's three
variable-rate zoo models and their fixtures in ../shared/reference/compressai (N=32,
M=48, one 128x192 picture, rates s0, s3 and s7 = Gain[0], Gain[3], Gain[7] and the
gain 0.3 between Gain[3] and Gain[4]; README there, "CompressAI 1.2.8"):

  * forward at each rate: x_hat and y's likelihoods as CompressAI's; z's (the two
    hyperprior models, z quantized at a step from the gain) as CompressAI's where it
    reports them (over unit bins, a slip in its EntropyBottleneckVbr.forward), while
    lic_jax's are over bins a step wide, as z is coded; mbt2018-vbr's forward by
    wavefronts equals CompressAI's position-by-position recursion;
  * z's step, the coded symbols and CDF indexes (near-ties allowed), each string's
    size against CompressAI's rANS strings, and the decoded image against its
    decompress at 8 bits;
  * exact round trips of lic_jax's own streams at the levels and between them, and
    the quality scale (gains at whole qualities, rising rates).

Tolerances as tests/test_balle.py's (PyTorch and XLA sum convolutions in other orders).
"""
import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

import test_balle as zoo
from conftest import nhwc, reference_path
from lic_jax import bitstream, latent
from lic_jax.codec import Codec, pad_image, to_uint8
from lic_jax.entropy import factorized, raster
from lic_jax.latent import call
from lic_jax.latent.variable_rate import SteppedFactorized
from lic_jax.models import base as model_base
from lic_jax.testing import Recorder, escape_payload_bytes, raster_grid

NAMES = ["bmshj2018_hyperprior_vbr", "mbt2018_mean_vbr", "mbt2018_vbr"]
RATES = ["s0", "s3", "s7", "scale0.3"]
zoo.ZOO_FIXTURES.update({name: name.replace("_vbr", "-vbr").replace("_", "-")
                         for name in NAMES})


def sidecar(name):
  with open(reference_path(f"{zoo.ref_name(name)}_outputs.json")) as f:
    return json.load(f)


def at(name, rate):
  """The context of rate `rate` (its gain), and the gain."""
  gain = jnp.asarray([sidecar(name)["rates"][rate]["scale"]], jnp.float32)
  return latent.EMPTY.add(gain=gain), gain


def stepped_z(codec, context, z):
  """z's distribution at the rate (a hyperprior model's: z quantized at a step)."""
  step = call(codec.stages, "z_step", context=context)
  return SteppedFactorized(codec.params["entropy_bottleneck"], step.reshape(-1, 1, 1, 1))


def is_stepped(name):
  return name != "mbt2018_vbr"


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_compressai(name, rate):
  c, ref = zoo.codec(name), zoo.outputs(name)
  context, _ = at(name, rate)
  latents = model_base.analyze(c.stages, jnp.asarray(nhwc(ref["x"])))
  out = model_base.forward_from_latents(c.stages, latents, context=context)
  errors = {key: zoo.max_error(out[key], nhwc(ref[f"forward:{rate}:{key}"]))
            for key in ("x_hat", "y_likelihoods")}
  theirs_z = nhwc(ref[f"forward:{rate}:z_likelihoods"])
  if is_stepped(name):
    dist = stepped_z(c, context, latents["z"])
    z_hat = dist.dequantize(jnp.round(dist.residual(latents["z"])))
    # CompressAI's forward reports z over unit bins; lic_jax, over the step it codes.
    errors["z (unit bins)"] = zoo.max_error(factorized.likelihood(dist.params, z_hat), theirs_z)
    np.testing.assert_allclose(out["z_likelihoods"], dist.symbol_likelihood(
        jnp.round(dist.residual(latents["z"]))), rtol=1e-6)
  else:
    errors["z"] = zoo.max_error(out["z_likelihoods"], theirs_z)
  print(name, rate, {k: f"{v:.2e}" for k, v in errors.items()})
  x_hat = nhwc(ref[f"forward:{rate}:x_hat"])
  assert errors["x_hat"] <= 1e-4 * max(1.0, float(np.max(np.abs(x_hat))))
  assert errors["y_likelihoods"] <= 1e-4
  assert max(v for k, v in errors.items() if k.startswith("z")) <= 1e-6


@pytest.mark.parametrize("name", NAMES[:2])
def test_z_step_is_compressais(name):
  c, ref = zoo.codec(name), zoo.outputs(name)
  for rate in RATES:
    step = call(c.stages, "z_step", context=at(name, rate)[0])
    np.testing.assert_allclose(np.asarray(step), [ref[f"compress:{rate}:z_qstep"]], rtol=2e-7)


def recorded(name, rate):
  """What lic_jax's encoder hands the coder at `rate`: {stream: [RecordedCall]}."""
  c, ref = zoo.codec(name), zoo.outputs(name)
  context, _ = at(name, rate)
  latents = model_base.analyze(c.stages, jnp.asarray(nhwc(ref["x"])))
  mode = Recorder(latent.Encode(c.coder, c.stream_tables, c.layout), c.stream_tables)
  c.model.latent_codec.code(c.stages, mode, latents["y"], context, latents)
  calls = {}
  for record in mode.calls:
    calls.setdefault(record.stream, []).append(record)
  return calls, mode


def grid(calls, height, width, field):
  """The autoregressive model's wave-by-wave calls put back on the (h, w, M) grid."""
  rows, cols, counts = raster.waves(height, width, 5)
  out = np.full((height, width, calls[0].symbols.shape[-1]), np.nan)
  for t, record in enumerate(calls):
    out[rows[t, :counts[t]], cols[t, :counts[t]]] = getattr(record, field)[0, :, 0]
  return out


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", NAMES)
def test_symbols_and_indexes_match_compressai(name, rate):
  ref = zoo.outputs(name)
  calls, _ = recorded(name, rate)
  (z,) = calls["z"]
  checks = [("z symbols", z.symbols, nhwc(ref[f"compress:{rate}:z_symbols"]), z.symbol_tie,
             zoo.SYMBOL_TIE_ABS)]
  if name == "mbt2018_vbr":
    h, w = ref["x"].shape[2] // 16, ref["x"].shape[3] // 16  # NCHW; y at 1/16
    fields = [grid(calls["y"], h, w, f) for f in ("symbols", "indexes", "symbol_tie",
                                                   "scale_tie")]
    theirs = [raster_grid(ref[f"compress:{rate}:y_{k}"], h, w) for k in ("symbols", "indexes")]
  else:
    (y,) = calls["y"]
    fields = [y.symbols, y.indexes, y.symbol_tie, y.scale_tie]
    theirs = [nhwc(ref[f"compress:{rate}:y_{k}"]) for k in ("symbols", "indexes")]
  checks += [("y symbols", fields[0], theirs[0], fields[2], zoo.SYMBOL_TIE_ABS),
             ("y indexes", fields[1], theirs[1], fields[3], zoo.SCALE_TIE_REL)]
  for what, ours, want, tie, bound in checks:
    assert ours.shape == want.shape, (what, ours.shape, want.shape)
    bad = ours != want
    assert bad.sum() <= zoo.MAX_MISMATCH_FRACTION * bad.size + 1, (what, bad.sum())
    assert np.all(np.abs(ours[bad] - want[bad]) == 1) and np.all(tie[bad] < bound), what


@pytest.mark.parametrize("rate", RATES[:3])
@pytest.mark.parametrize("name", NAMES)
def test_string_sizes_and_decoded_image_match_compressai(name, rate):
  """Each string within 1% of CompressAI's once the coders' escape payloads are
  accounted for (z at the rate's step: tables computed for it); the decoded image is
  CompressAI's decompress at 8 bits but for samples a hair from .5."""
  c, ref = zoo.codec(name), zoo.outputs(name)
  image = zoo.fixture_image(name)
  quality = int(rate[1:]) + 1
  data = c.compress(image, quality=quality)
  sizes = bitstream.info(data)["string_bytes"]
  calls, _ = recorded(name, rate)
  for stream in ("z", "y"):
    symbols, theirs = ref[f"compress:{rate}:{stream}_symbols"], len(ref[f"compress:{rate}:"
                                                                          f"{stream}_string"])
    if stream == "z":
      indexes = zoo.channel_indexes(symbols)
      table = calls["z"][0].dist.coding_tables(c.stream_tables["z"]).cdf
    else:
      indexes, table = ref[f"compress:{rate}:y_indexes"], c.stream_tables["y"].cdf
    their_payload, our_payload = escape_payload_bytes(symbols, indexes, table)
    expected = theirs - their_payload + our_payload
    print(name, rate, stream, sizes[stream], "CompressAI", theirs, f"expected {expected:.0f}")
    assert abs(sizes[stream] - expected) <= zoo.STRING_REL * theirs + zoo.STRING_ABS
  decoded = c.decompress(data)
  theirs = np.round(nhwc(ref[f"decompress:{rate}:x_hat"])[0] * 255)
  differ = decoded != theirs
  assert np.all(np.abs(decoded[differ] - theirs[differ]) <= 1)
  assert differ.mean() < 0.01, differ.mean()


@pytest.mark.parametrize("name", NAMES)
def test_round_trips_at_and_between_the_levels(name):
  """Decoding gives forward's x_hat exactly (mbt2018-vbr too: its forward goes by
  wavefronts), at the levels and between them, at the fixture size and an odd crop;
  the stream records the gain (format 5)."""
  c = zoo.codec(name)
  image = zoo.fixture_image(name)
  sizes = []
  for picture in (image, image[13:83, 41:141]):
    height, width = picture.shape[:2]
    for quality in (1, 2.5, 4, 6.3, 8):
      data = c.compress(picture, quality=quality)
      info = bitstream.info(data)
      assert info["format_version"] == 5 and info["gain"] == c.rate(quality)[1]
      expected = to_uint8(c.forward(pad_image(picture), quality=quality)["x_hat"], height, width)
      assert np.array_equal(c.decompress(data), expected), (name, quality)
      sizes.append(len(data))
  assert sizes[:5] == sorted(sizes[:5]) and sizes[5:] == sorted(sizes[5:])  # rate rises


def test_the_quality_scale():
  """Whole qualities are the learned gains exactly; between them the gain rises
  geometrically; out of range, or on a model of one rate, a quality is refused."""
  c = zoo.codec("mbt2018_mean_vbr")
  gains = np.asarray(c.params["Gain"])
  for level in range(1, 9):
    assert c.rate(level)[1] == float(gains[level - 1])
  between = [c.rate(q)[1] for q in np.linspace(3, 4, 5)]
  assert between == sorted(between) and gains[2] == between[0] and between[-1] == gains[3]
  np.testing.assert_allclose(c.rate(3.5)[1], np.sqrt(gains[2] * gains[3]), rtol=1e-6)
  for bad in (0.5, 8.5, "4"):
    with pytest.raises(ValueError, match="a number from 1 to 8"):
      c.compress(zoo.fixture_image("mbt2018_mean_vbr"), quality=bad)
  with pytest.raises(ValueError, match="codes one rate"):
    zoo.codec("bmshj2018_hyperprior").compress(zoo.fixture_image("bmshj2018_hyperprior"),
                                              quality=4)


def test_a_stream_of_a_variable_rate_model_needs_its_gain():
  """A fixed-rate model's stream (format 4, no gain) is refused by a variable-rate
  decoder and the other way round: both name what is wrong."""
  c = zoo.codec("bmshj2018_hyperprior_vbr")
  data = c.compress(zoo.fixture_image("bmshj2018_hyperprior_vbr"), quality=2)
  without = dataclasses.replace(bitstream.Stream.from_bytes(data), gain=None).to_bytes()
  with pytest.raises(bitstream.BitstreamError, match="records no gain"):
    c.decompress(without)
  fixed = zoo.codec("bmshj2018_hyperprior")
  stream = bitstream.Stream.from_bytes(fixed.compress(zoo.fixture_image("bmshj2018_hyperprior")))
  with pytest.raises(bitstream.BitstreamError, match="coded at a gain, but the model codes one"):
    fixed.decompress(dataclasses.replace(stream, gain=0.5).to_bytes())


@pytest.mark.tfc
@pytest.mark.parametrize("name", NAMES)
def test_a_variable_rate_stream_is_the_same_on_both_coders(name):
  """numba and TensorFlow's op write the same bytes at a rate between the levels (z
  at its own step's tables) and decode each other's streams to the same image."""
  numba = zoo.codec(name)
  tfc = Codec(numba.arch, numba.config, numba.params, numba.table_arrays, numba.model_hash,
              coder="tfc")
  image = zoo.fixture_image(name)
  streams = [c.compress(image, quality=3.7) for c in (numba, tfc)]
  assert streams[0] == streams[1]
  assert np.array_equal(numba.decompress(streams[1]), tfc.decompress(streams[0]))
