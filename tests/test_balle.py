"""bmshj2018-factorized and bmshj2018-hyperprior against CompressAI 1.2.0b3.

The fixtures in ../shared/reference/compressai (see its README) hold small
checkpoints (N=32, M=48) in the zoo's key style, the tensors CompressAI's eval-mode
forward computed on one 128x192 picture, the symbols and indexes its compress coded,
its rANS strings and its decompressed image. Checked here, per fixture:
  * detection: arch, config, tables, and that no other zoo fixture is taken for it;
  * every recorded module output from its recorded input (g_a from x, h_a from y,
    h_s from z_hat = round(z - median) + median, g_s from y_hat), module by module;
  * the end-to-end forward through `lic_jax.codec.Codec`;
  * the full-size manifests of every zoo quality through the converter's shape logic;
  * the range coder on the recorded symbols: string sizes against CompressAI's;
  * our symbols and indexes against the recorded ones (near-ties allowed);
  * compress -> decompress: exact against our forward, and against PyTorch's
    decompress at 8 bits, at the fixture's size and at an odd crop; file size
    against the likelihoods;
  * refusals: a file mixing key styles, a file of the other architecture.

`lic_jax/models/minnen.py`'s tests (tests/test_minnen.py) run the same checks, the
`check_*` functions here, on the mbt2018-mean fixture.

Tolerances. PyTorch and XLA sum convolutions in different orders: ~1e-7 relative per
conv. A module output passes at max|jax - torch| <= 1e-6 + 1e-5 max|torch|; x_hat
and y likelihoods at 1e-4, z likelihoods at 1e-6 (absolute), as for MLIC++/ELIC.

Over 250 lines: the `check_*` functions here are shared by the zoo families' test
files (test_minnen.py, test_cheng2020.py).
"""
import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import (converted, nhwc, reference_outputs, reference_path, state_dict,
                      stored_tables)
from lic_jax import bitstream, conversion, latent, model_dir
from lic_jax.codec import Codec, pad_image, to_uint8
from lic_jax.coder import range_coder
from lic_jax.entropy import cdf as cdf_tables
from lic_jax.entropy import factorized, raster
from lic_jax.models import registry
from lic_jax.testing import Recorder, escape_payload_bytes, tie_distances

RTOL, ATOL = 1e-5, 1e-6
# Near-tie bounds (as in tests/test_codec.py): a scale this close (relative) to a
# scale-table entry, or a y - mean this close to a half-integer, may flip under
# float noise of ~1e-6 relative.
SCALE_TIE_REL = 1e-5
SYMBOL_TIE_ABS = 1e-4
MAX_MISMATCH_FRACTION = 1e-3
# tfc's range coder against CompressAI's rANS on the same symbols and tables: within
# 1% of CompressAI's size once the two coders' different escape payloads are
# accounted for (see `escape_payload_bytes`), plus 6 bytes: rANS ends with its 4-byte
# state, the range coder with about 2 bytes.
STRING_REL, STRING_ABS = 0.01, 6
# The fixture name (without `_small`) of each zoo architecture in ../shared/reference.
ZOO_FIXTURES = {"bmshj2018_factorized": "bmshj2018-factorized",
                "bmshj2018_factorized_relu": "bmshj2018-factorized-relu",
                "bmshj2018_hyperprior": "bmshj2018-hyperprior",
                "mbt2018_mean": "mbt2018-mean", "mbt2018": "mbt2018",
                "cheng2020_anchor": "cheng2020-anchor", "cheng2020_attn": "cheng2020-attn"}
BALLE = ["bmshj2018_factorized", "bmshj2018_factorized_relu", "bmshj2018_hyperprior"]


def ref_name(name):
  """The conftest name of a zoo fixture (conftest's helpers take the subfolder)."""
  return f"compressai/{name}_small"


def outputs(name):
  return reference_outputs(ref_name(name))


@functools.lru_cache(maxsize=None)
def codec(name):
  """The converted fixture as a Codec (cached: its stages compile once per module)."""
  arch, config, params, tables_ = converted(ref_name(name))
  return Codec(arch, config, params, tables_,
               model_dir.model_hash(arch, dataclasses.asdict(config), params))


def max_error(actual, expected):
  return float(np.max(np.abs(np.asarray(actual, np.float64) - expected)))


def within(actual, expected, rtol=RTOL, atol=ATOL):
  return max_error(actual, expected) <= atol + rtol * float(np.max(np.abs(expected)))


def fixture_image(name):
  """The fixture input as the uint8 (H, W, 3) picture it was made from."""
  x = nhwc(outputs(name)["x"])[0]
  image = np.round(x * 255).astype(np.uint8)
  assert np.array_equal(image.astype(np.float32) / 255, x)
  return image


def has_hyperprior(name):
  return "forward:z_likelihoods" in outputs(name)


# ----- detection ---------------------------------------------------------------------

def check_detection(name):
  arch = ZOO_FIXTURES[name]
  spec = registry.get(arch)
  c = codec(name)
  assert c.arch == arch
  assert c.config == spec.make_config("test-small")
  assert spec.zoo_qualities(c.config) == []  # N=32, M=48 is no zoo size
  streams = ["y", "z"] if has_hyperprior(name) else ["y"]
  assert sorted(c.stream_tables) == streams
  # The checkpoint's tables, carried over, are what the weights give (update()). The
  # Gaussian ones are recomputed from the stored scale table: torch's float32 exp of
  # the log-spaced scales differs from numpy's by an ulp, which moves two rows.
  # CompressAI 1.2.8's bottleneck computes its pmf with other float32 steps than
  # 1.2.0b3's (which lic_jax reproduces): a count moves by one here and there.
  recomputed = c.model.latent_codec.stream_tables(c.params)
  newer = json.loads(open(reference_path(f"{ref_name(name)}_outputs.json")).read()).get(
      "compressai", "1.2.0b3") != "1.2.0b3"
  for stream in streams:
    table = c.stream_tables[stream]
    cdf = (recomputed[stream].cdf if table.scale_table is None
           else cdf_tables.gaussian_tables(np.asarray(table.scale_table)))
    for field in ("cdf_length", "offset") if newer else ("quantized_cdf", "cdf_length", "offset"):
      np.testing.assert_array_equal(getattr(cdf, field), getattr(table.cdf, field))
    if newer:
      moved = np.abs(cdf.quantized_cdf.astype(np.int64) - table.cdf.quantized_cdf)
      assert moved.max() <= 1 and np.mean(moved > 0) < 0.02, (moved.max(), np.mean(moved > 0))


@pytest.mark.parametrize("name", BALLE)
def test_detection(name):
  check_detection(name)


def test_recognizers_are_disjoint():
  """Each zoo fixture is recognized by its own converter only, among every
  registered model's (MLIC++ and ELIC included)."""
  for name, arch in ZOO_FIXTURES.items():
    sd = conversion.normalize_keys(state_dict(ref_name(name)))
    found = [spec.name for spec in registry.specs()
             if spec.converter is not None and spec.converter.recognize(sd)]
    assert found == [arch], (name, found)
    assert conversion.detect_arch(sd) == arch


# ----- module by module --------------------------------------------------------------

def module_outputs(name):
  """{module: (lic_jax output, recorded output)} for g_a, h_a, h_s, g_s, each from the
  recorded input of that module (NHWC)."""
  ref = {k: nhwc(v) for k, v in outputs(name).items() if v.ndim == 4}
  c = codec(name)
  stages = c.stages
  y = ref["forward:g_a:out0"]
  results = {"g_a": (stages.stage("analysis")(ref["x"]), y)}
  if has_hyperprior(name):
    # compressai's forward: h_a(|y|) for the scale hyperprior, h_a(y) for mean-scale;
    # hyper_analysis is the model's own choice.
    z = ref["forward:h_a:out0"]
    results["h_a"] = (stages.stage("hyper_analysis")(y), z)
    medians = factorized.medians(c.params["entropy_bottleneck"])
    z_hat = jnp.round(z - medians) + medians
    hyper = ref["forward:h_s:out0"]
    results["h_s"] = (stages.stage("hyper_synthesis")(z_hat), hyper)
    center = latent.Gaussian.of(stages.stage("gaussian_params")(hyper)).means
  else:
    center = factorized.medians(c.params["entropy_bottleneck"])
  y_hat = jnp.round(y - center) + center
  results["g_s"] = (stages.stage("synthesis")(y_hat), ref["forward:g_s:out0"])
  return results


def check_modules(name, results=None):
  """Each module's output (`results`: {module: (ours, recorded)}, by default
  `module_outputs(name)`) within RTOL and ATOL, g_s within 1e-4."""
  report, failures = [], []
  for module, (got, want) in (results or module_outputs(name)).items():
    assert got.shape == want.shape, f"{module}: {got.shape} vs {want.shape}"
    report.append(f"{name} {module}: max abs err {max_error(got, want):.2e} "
                  f"(max |ref| {np.max(np.abs(want)):.3g})")
    tolerance_ok = (max_error(got, want) <= 1e-4 if module == "g_s" else within(got, want))
    if not tolerance_ok:
      failures.append(report[-1])
  print("\n".join(report))
  assert not failures, "beyond tolerance:\n" + "\n".join(failures)


@pytest.mark.parametrize("name", BALLE)
def test_modules(name):
  check_modules(name)


# ----- end to end --------------------------------------------------------------------

def check_forward(name):
  ref = outputs(name)
  out = codec(name).forward(nhwc(ref["x"]))
  keys = ["x_hat", "y_likelihoods"] + (["z_likelihoods"] if has_hyperprior(name) else [])
  assert sorted(k for k in out if k.endswith("_likelihoods")) == sorted(keys[1:])
  errors = {k: max_error(out[k], nhwc(ref[f"forward:{k}"])) for k in keys}
  print(name, {k: f"{v:.2e}" for k, v in errors.items()})
  assert errors["x_hat"] <= 1e-4
  assert errors["y_likelihoods"] <= 1e-4
  assert errors.get("z_likelihoods", 0.0) <= 1e-6


@pytest.mark.parametrize("name", BALLE)
def test_forward(name):
  check_forward(name)


# ----- the full-size zoo manifests ---------------------------------------------------

def manifest_state_dict(entry, small):
  """Zero arrays of the manifest's shapes (broadcast: no memory), with the constant
  buffers (bounds, pedestals, target), whose values the converter checks, taken from
  the small checkpoint `small`, where they have the same shape, and the context
  model's mask."""
  sd = {}
  for key, spec in entry["keys"].items():
    shape, dtype = tuple(spec["shape"]), np.dtype(spec["dtype"])
    known = small.get(key)
    is_constant = key.endswith(("pedestal", ".bound", ".target", "scale_bound"))
    if is_constant and known is not None and known.shape == shape:
      sd[key] = known
    elif key == "context_prediction.mask":  # mbt2018, cheng2020: type A, checked
      sd[key] = np.broadcast_to(raster.mask(shape[-1]), shape)
    else:
      sd[key] = np.broadcast_to(np.zeros((), dtype), shape)
  return sd


def check_manifest(arch, name):
  """Every zoo quality's state dict converts onto an eval_shape init of the zoo
  config (the preset `q<k>`), every key used, and detection names that quality."""
  with open(reference_path("compressai/compressai_zoo_keys.json")) as f:
    entries = json.load(f)["architectures"].get(arch)
  if entries is None:  # CompressAI 1.2.6's (bmshj2018-factorized-relu): one per quality
    entries = {}
    with open(reference_path("compressai/compressai_zoo_vbr_keys.json")) as f:
      for quality, entry in json.load(f)[arch].items():
        size = (entry["config"]["N"], entry["config"]["M"])
        group = entries.setdefault(size, {
            "N": size[0], "M": size[1], "params": entry["params"], "qualities": [],
            "keys": {key: {"shape": shape, "dtype": dtype.replace("torch.", "")}
                     for key, (shape, dtype) in entry["keys"].items()}})
        group["qualities"].append(int(quality[1:]))
  spec = registry.get(arch)
  small = state_dict(ref_name(name))
  qualities = []
  for entry in entries.values():
    got_arch, config, params, tables_ = conversion.convert_state_dict(
        manifest_state_dict(entry, small))
    assert got_arch == arch
    assert (config.N, config.M) == (entry["N"], entry["M"])  # cheng2020: M is N
    assert spec.zoo_qualities(config) == entry["qualities"]
    for q in entry["qualities"]:
      assert spec.make_config(f"q{q}") == config
    expected = jax.eval_shape(spec.build(config).init, jax.random.PRNGKey(0),
                              jnp.zeros((1, 64, 64, 3)))["params"]
    assert (jax.tree_util.tree_map(np.shape, params)
            == jax.tree_util.tree_map(lambda a: a.shape, expected))
    assert sum(np.size(a) for a in jax.tree_util.tree_leaves(params)) == entry["params"]
    assert sorted(tables_) == sorted(spec.converter.table_arrays.values())
    qualities += entry["qualities"]
  zoo = sorted(int(p[1:]) for p in spec.presets if p[:1] == "q")
  assert sorted(qualities) == zoo and zoo[0] == 1  # q1..q8, cheng2020 q1..q6
  assert spec.make_config("full") == spec.make_config(f"q{zoo[-1]}")


@pytest.mark.parametrize("name", BALLE)
def test_full_size_manifests(name):
  check_manifest(ZOO_FIXTURES[name], name)


# ----- the range coder on CompressAI's symbols ---------------------------------------

def channel_indexes(symbols):
  """The CDF row of each symbol of a factorized stream (1, C, h, w): its channel."""
  return np.broadcast_to(np.arange(symbols.shape[1])[None, :, None, None], symbols.shape)


def check_string_sizes(name):
  """The recorded symbols coded with the checkpoint's tables, in CompressAI's
  order (NCHW), come to CompressAI's string sizes within STRING_REL + STRING_ABS,
  escape payloads accounted for; and decode back."""
  ref = outputs(name)
  streams = {}
  if has_hyperprior(name):
    z = ref["compress:z_symbols"]
    streams["z"] = (z, channel_indexes(z), stored_tables(ref_name(name), "entropy_bottleneck"))
    streams["y"] = (ref["compress:y_symbols"], ref["compress:y_indexes"],
                    stored_tables(ref_name(name), "gaussian_conditional"))
  else:
    y = ref["compress:y_symbols"]
    streams["y"] = (y, channel_indexes(y), stored_tables(ref_name(name), "entropy_bottleneck"))
  report = []
  for stream, (symbols, indexes, table) in streams.items():
    data = range_coder.encode(symbols, indexes, table)
    np.testing.assert_array_equal(range_coder.decode(data, np.asarray(indexes), table),
                                  symbols)
    theirs = len(ref[f"compress:{stream}_string"])
    their_payload, our_payload = escape_payload_bytes(symbols, indexes, table)
    expected = theirs - their_payload + our_payload
    report.append(f"{stream}: {len(data)} bytes vs compressai {theirs} (escape payloads "
                  f"{our_payload:.0f} vs {their_payload:.0f} bytes: expected {expected:.0f})")
    assert abs(len(data) - expected) <= STRING_REL * theirs + STRING_ABS, report[-1]
  print(name, "; ".join(report))


@pytest.mark.parametrize("name", BALLE)
def test_string_sizes(name):
  check_string_sizes(name)


# ----- our symbols and indexes -------------------------------------------------------

def check_symbols(name):
  """Our encoder's symbols and indexes equal the recorded ones except at near-ties."""
  c, ref = codec(name), outputs(name)
  mode = Recorder(latent.Encode(c.coder, c.stream_tables, c.layout), c.stream_tables)
  y = c.stages.stage("analysis")(nhwc(ref["x"]))
  c.model.latent_codec.code(c.stages, mode, y)
  report = []
  for stream, call in mode.by_stream().items():
    latent_, dist, symbols, indexes = call.y, call.dist, call.symbols, call.indexes
    scale_table = c.stream_tables[stream].scale_table
    symbol_tie, scale_tie = tie_distances(latent_, dist, scale_table)
    got_symbols, got_indexes = (a.transpose(0, 3, 1, 2) for a in (symbols, indexes))
    checks = [("symbols", got_symbols, ref[f"compress:{stream}_symbols"], symbol_tie,
               SYMBOL_TIE_ABS)]
    if f"compress:{stream}_indexes" in ref:
      checks.append(("indexes", got_indexes, ref[f"compress:{stream}_indexes"], scale_tie,
                     SCALE_TIE_REL))
    else:  # factorized: the CDF row is the channel
      np.testing.assert_array_equal(got_indexes, channel_indexes(got_indexes))
    for what, got, want, tie, bound in checks:
      assert got.shape == want.shape, (stream, what, got.shape, want.shape)
      bad = got != want
      report.append(f"{stream} {what}: {bad.sum()}/{bad.size} differ, near-tie distances "
                    f"{tie[bad].tolist()}")
      assert bad.sum() <= MAX_MISMATCH_FRACTION * bad.size, report[-1]
      assert np.all(np.abs(got[bad] - want[bad]) == 1), report[-1]
      assert np.all(tie[bad] < bound), report[-1]
  print(name, "; ".join(report))


@pytest.mark.parametrize("name", BALLE)
def test_symbols_and_indexes(name):
  check_symbols(name)


# ----- compress and decompress -------------------------------------------------------

def likelihood_bits(out):
  return sum(float(-np.sum(np.log2(np.asarray(v, np.float64))))
             for k, v in out.items() if k.endswith("_likelihoods"))


def round_trip(c, image):
  """(decoded, forward's x_hat rounded, file bits, bound on them) for `image`."""
  height, width = image.shape[:2]
  data = c.compress(image)
  decoded = c.decompress(data)
  out = c.forward(pad_image(image, c.pad_multiple))
  info = bitstream.info(data)
  container_bits = 8 * (info["header_bytes"] + 4)  # header and CRC
  return (decoded, to_uint8(out["x_hat"], height, width), 8 * len(data),
          1.01 * likelihood_bits(out) + container_bits)


def check_round_trip(name):
  """Decoded == forward's x_hat at 8 bits, == PyTorch's decompress at 8 bits (but for
  samples whose float noise straddles a .5 boundary), and the file costs what the
  likelihoods say, at the fixture size and at an odd 70x100 crop."""
  c = codec(name)
  image = fixture_image(name)
  decoded, ours, bits, bound = round_trip(c, image)
  assert decoded.dtype == np.uint8 and decoded.shape == image.shape
  np.testing.assert_array_equal(decoded, ours)
  assert bits <= bound, (bits, bound)
  check_pytorch_decoded(name, decoded, bits)

  crop = image[13:83, 41:141]
  decoded, ours, bits, bound = round_trip(c, crop)
  assert decoded.shape == (70, 100, 3)
  np.testing.assert_array_equal(decoded, ours)
  assert bits <= bound, (bits, bound)


def check_pytorch_decoded(name, decoded, bits):
  """`decoded` (the fixture image through our compress and decompress) equals
  PyTorch's decompress at 8 bits, but for samples whose float noise straddles a .5
  boundary."""
  ref = outputs(name)
  torch_x_hat = np.clip(nhwc(ref["decompress:x_hat"])[0].astype(np.float64), 0, 1) * 255
  torch_decoded = np.round(torch_x_hat).astype(np.uint8)
  differ = decoded != torch_decoded
  distance = np.abs(torch_x_hat[differ] - np.floor(torch_x_hat[differ]) - 0.5)
  print(f"{name}: {bits // 8} bytes vs PyTorch's strings "
        f"{sum(len(v) for k, v in ref.items() if k.endswith('_string'))}; "
        f"{differ.sum()}/{differ.size} samples differ from PyTorch's decompress "
        f"(distances to .5 in 8-bit units: {distance.tolist()})")
  assert differ.sum() <= 1e-4 * differ.size
  assert np.all(np.abs(decoded[differ].astype(int) - torch_decoded[differ]) == 1)
  # 1e-4 of x_hat (the forward tolerance) is 0.0255 in 8-bit units.
  assert np.all(distance <= 0.0255)


@pytest.mark.parametrize("name", BALLE)
def test_round_trip(name):
  check_round_trip(name)


# ----- refusals ----------------------------------------------------------------------

def check_mixed_key_styles(name):
  """One bottleneck key of another style than the file's (zoo files: `_matrices.K`;
  CompressAI 1.2.8's own: `matrices.K`) is refused, naming both styles' keys."""
  sd = state_dict(ref_name(name))
  zoo_style = "entropy_bottleneck._matrices.0" in sd
  prefix = "entropy_bottleneck._" if zoo_style else "entropy_bottleneck."
  sd["entropy_bottleneck._matrix0"] = sd.pop(prefix + "matrices.0")
  with pytest.raises(conversion.ConversionError) as error:
    conversion.convert_state_dict(sd)
  message = str(error.value)
  assert "entropy_bottleneck._matrix0" in message
  assert prefix + "biases.0" in message  # a key of the file's own style


@pytest.mark.parametrize("name", BALLE)
def test_mixed_key_styles_refused(name):
  check_mixed_key_styles(name)


def check_wrong_arch(name, arch):
  """`arch` asked for on fixture `name`: refused, naming what the keys are; returns
  the message."""
  with pytest.raises(conversion.ConversionError) as error:
    conversion.convert_state_dict(state_dict(ref_name(name)), arch=arch)
  message = str(error.value)
  assert f"--arch {arch}" in message and f"{ZOO_FIXTURES[name]}'s" in message, message
  return message


def test_wrong_arch_refused():
  # The hyperprior file has every key the factorized model identifies itself by; the
  # message names the file's modules, h_a and h_s among them.
  message = check_wrong_arch("bmshj2018_hyperprior", "bmshj2018-factorized")
  assert "h_a, h_s" in message
  message = check_wrong_arch("bmshj2018_factorized", "bmshj2018-hyperprior")
  assert "modules: entropy_bottleneck, g_a, g_s)" in message


@pytest.mark.torch
def test_convert_cli_records_the_zoo_qualities(tmp_path):
  """convert.py on a zoo file of the q6-q8 shapes (zeros but the constant buffers)
  records the zoo name and the qualities those shapes fit (torch writes the file)."""
  import os
  import subprocess
  import sys
  import torch
  with open(reference_path("compressai/compressai_zoo_keys.json")) as f:
    entries = json.load(f)["architectures"]["bmshj2018-hyperprior"]
  entry = next(e for e in entries.values() if e["qualities"] == [6, 7, 8])
  sd = manifest_state_dict(entry, state_dict(ref_name("bmshj2018_hyperprior")))
  path = tmp_path / "bmshj2018-hyperprior-8.pth.tar"
  torch.save({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, path)
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, os.path.join(repo, "convert.py"), str(path),
                           "--out", str(tmp_path / "model")], capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr
  assert "zoo:        bmshj2018-hyperprior, quality 6 or 7 or 8" in result.stdout
  meta = model_dir.read_meta(str(tmp_path / "model"))
  assert meta["arch"] == "bmshj2018-hyperprior" and meta["config"] == {"N": 192, "M": 320}
  assert meta["zoo"] == {"name": "bmshj2018-hyperprior", "qualities": [6, 7, 8]}
