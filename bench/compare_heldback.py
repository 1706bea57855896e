"""lic_jax's ports of CompressAI's zoo models against the held-back CompressAI cases that
bench/compressai_heldback.py wrote (seeds, sizes and images the test fixtures do not use).

    .venv/bin/python bench/compare_heldback.py /tmp/heldback

Run with the project venv (it needs torch only to read the .pth.tar files). The cases
come from a throwaway venv with compressai (see compressai_heldback.py); compressai is
no project dependency and only a read-only reference. Per case it prints max |diff| of
x_hat and the likelihoods against compressai's eval forward, whether decompress gives
exactly our forward's x_hat at 8 bits (for the autoregressive models: the encoder's
own reconstruction), how many 8-bit values differ from compressai's
decompressed image, and our stream's bytes against compressai's rANS strings.
"""
import argparse
import dataclasses
import glob
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from lic_jax import conversion, latent, model_dir  # noqa: E402
from lic_jax.codec import Codec, to_uint8  # noqa: E402
from lic_jax.coder import range_coder  # noqa: E402
from lic_jax.entropy import factorized  # noqa: E402
from lic_jax.entropy import raster  # noqa: E402
from lic_jax.testing import Recorder, escape_payload_bytes, raster_grid  # noqa: E402


def nhwc(array):
  return np.asarray(array).transpose(0, 2, 3, 1)


def max_error(actual, expected):
  return float(np.max(np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))))


def string_sizes(codec, image):
  """{stream: bytes} of the coded strings alone (the file adds a header)."""
  latents = codec.latents(image)
  mode = latent.Encode(codec.coder, codec.stream_tables, codec.layout)
  codec.model.latent_codec.code(codec.stages, mode, latents["y"], latents=latents)
  return {name: len(s) for name, s in mode.strings().items()}


def y_symbol_flips(codec, ref):
  """(y symbols of ours that differ from compressai's, the largest distance from a
  rounding tie of compressai's y - centre among them): ours from our own transforms,
  the tie distance from compressai's recorded g_a and h_s outputs."""
  stages = codec.stages
  medians = np.asarray(factorized.medians(codec.params["entropy_bottleneck"]))
  y = np.asarray(stages.stage("analysis")(nhwc(ref["x"])))
  if "forward:h_s:out0" in ref:
    z = np.asarray(stages.stage("hyper_analysis")(y))
    _, means = stages.stage("gaussian_params")(stages.stage("hyper_synthesis")(np.round(z - medians) + medians))
    _, their_means = stages.stage("gaussian_params")(nhwc(ref["forward:h_s:out0"]))
    center = 0.0 if means is None else np.asarray(means)
    their_center = 0.0 if their_means is None else np.asarray(their_means)
  else:
    center = their_center = medians
  flips = np.round(y - center) != nhwc(ref["compress:y_symbols"])
  theirs = nhwc(ref["forward:g_a:out0"]) - their_center
  tie = np.abs(np.abs(theirs - np.floor(theirs)) - 0.5)[flips]
  return int(flips.sum()), float(tie.max()) if tie.size else None


def ar_symbol_flips(codec, ref):
  """y_symbol_flips for the autoregressive models: our symbols put back on the grid
  from the waves against compressai's raster-order ones, and the largest of our
  near-tie distances (y - mean from a half-integer) among the differing ones. After
  a flip the contexts differ, so flips can cascade."""
  mode = Recorder(latent.Encode(codec.coder, codec.stream_tables, codec.layout),
                  codec.stream_tables)
  y = codec.stages.stage("analysis")(nhwc(ref["x"]))
  codec.model.latent_codec.code(codec.stages, mode, y)
  _, h, w, m = y.shape
  rows, cols, counts = raster.waves(h, w, 5)
  symbols, tie = np.zeros((h, w, m)), np.zeros((h, w, m))
  for t, call in enumerate(c for c in mode.calls if c.stream == "y"):
    symbols[rows[t, :counts[t]], cols[t, :counts[t]]] = call.symbols[0, :, 0]
    tie[rows[t, :counts[t]], cols[t, :counts[t]]] = call.symbol_tie[0, :, 0]
  flips = symbols != raster_grid(ref["compress:y_symbols"], h, w)
  return int(flips.sum()), float(tie[flips].max()) if flips.any() else None


def coder_on_their_symbols(codec, ref):
  """compressai's symbols coded by our range coder with our tables:
  {stream: (our bytes, compressai's bytes less its escape payload plus ours, escapes)}."""
  out = {}
  for stream in ("z", "y"):
    if f"compress:{stream}_symbols" not in ref:
      continue
    symbols = ref[f"compress:{stream}_symbols"]
    indexes = ref.get(f"compress:{stream}_indexes")
    if indexes is None or stream == "z" or "forward:h_s:out0" not in ref:
      indexes = np.broadcast_to(np.arange(symbols.shape[1])[None, :, None, None], symbols.shape)
    table = codec.stream_tables[stream].cdf
    data = range_coder.encode(symbols, np.ascontiguousarray(indexes), table)
    theirs_payload, ours_payload = escape_payload_bytes(symbols, indexes, table)
    values = np.asarray(symbols, np.int64).ravel() - table.offset[indexes.ravel()]
    escapes = int(np.sum((values < 0) | (values >= table.cdf_length[indexes.ravel()] - 2)))
    expected = ref[f"compress:{stream}_string"].size - theirs_payload + ours_payload
    out[stream] = (len(data), round(float(expected)), escapes)
  return out


def compare(directory, name):
  """The comparison of one case, as a dict."""
  meta = json.load(open(os.path.join(directory, f"{name}_outputs.json")))
  ref = dict(np.load(os.path.join(directory, f"{name}_outputs.npz")))
  sd = conversion.load_torch_state_dict(os.path.join(directory, f"{name}.pth.tar"))
  arch, config, params, tables = conversion.convert_state_dict(sd)
  codec = Codec(arch, config, params, tables,
                model_dir.model_hash(arch, dataclasses.asdict(config), params))
  image = np.asarray(Image.open(os.path.join(directory, f"{name}_input.png")).convert("RGB"))
  x = nhwc(ref["x"])
  assert np.array_equal(image.astype(np.float32) / 255, x[0]), "PNG and x disagree"
  height, width = image.shape[:2]

  result = {"case": name, "arch": arch, "expected_arch": meta["arch"],
            "config": dataclasses.asdict(config), "size": f"{width}x{height}"}
  out = codec.forward(x)
  for key in ("x_hat", "y_likelihoods", "z_likelihoods"):
    if f"forward:{key}" in ref:
      result[key] = max_error(out[key], nhwc(ref[f"forward:{key}"]))
  data = codec.compress(image)
  decoded = codec.decompress(data)
  # What the decoder must give: forward's x_hat, or for the autoregressive models the
  # encoder's own reconstruction (their forward differs by design).
  autoregressive = not codec.decodes_forward
  expected = (codec.reconstruction(codec.latents(image), height, width) if autoregressive
              else to_uint8(out["x_hat"], height, width))
  result["round_trip_exact"] = bool(np.array_equal(decoded, expected))
  result["round_trip_diff_values"] = int(np.sum(decoded != expected))
  theirs = to_uint8(nhwc(ref["decompress:x_hat"]), height, width)
  result["vs_compressai_diff_values"] = int(np.sum(decoded != theirs))
  result["vs_compressai_max_diff"] = int(np.max(np.abs(decoded.astype(int) - theirs)))
  result["values"] = int(decoded.size)
  result["file_bytes"] = len(data)
  sizes = string_sizes(codec, image)
  result["string_bytes"] = sizes
  theirs_bytes = {k.split(":")[1]: int(v.size) for k, v in ref.items()
                  if k.startswith("compress:") and k.endswith("_string")}
  result["compressai_string_bytes"] = theirs_bytes
  total, theirs_total = sum(sizes.values()), sum(theirs_bytes.values())
  result["strings_vs_compressai"] = total / theirs_total - 1
  result["y_symbol_flips"], result["flip_max_tie_distance"] = (
      ar_symbol_flips if autoregressive else y_symbol_flips)(codec, ref)
  result["coder_on_compressai_symbols"] = coder_on_their_symbols(codec, ref)
  result["bpp_file"] = 8 * len(data) / (height * width)
  result["bpp_compressai"] = 8 * theirs_total / (height * width)
  return result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("directory", nargs="?", default="/tmp/heldback")
  parser.add_argument("--json", action="store_true", help="one JSON line per case")
  args = parser.parse_args(argv)
  names = sorted(os.path.basename(p)[:-len("_outputs.json")]
                 for p in glob.glob(os.path.join(args.directory, "*_outputs.json")))
  if not names:
    sys.exit(f"no *_outputs.json in {args.directory}; run bench/compressai_heldback.py first")
  for name in names:
    r = compare(args.directory, name)
    if args.json:
      print(json.dumps(r))
      continue
    errors = ", ".join(f"{k} {r[k]:.2e}" for k in ("x_hat", "y_likelihoods", "z_likelihoods")
                       if k in r)
    detected = r["arch"] if r["arch"] == r["expected_arch"] else (
        f"{r['arch']}, BUT THE CASE IS {r['expected_arch']}")
    print(f"{name} ({detected} {r['config']}, {r['size']}): max|diff| {errors}")
    print(f"  round trip exact: {r['round_trip_exact']} ({r['round_trip_diff_values']} values "
          f"differ); vs compressai decompress at 8 bits: {r['vs_compressai_diff_values']}/"
          f"{r['values']} values differ (max {r['vs_compressai_max_diff']})")
    print(f"  bytes: file {r['file_bytes']}, strings {r['string_bytes']} vs compressai "
          f"{r['compressai_string_bytes']} ({100 * r['strings_vs_compressai']:+.2f}%); "
          f"{r['bpp_file']:.3f} vs {r['bpp_compressai']:.3f} bpp")
    print(f"  y symbols differing from compressai's: {r['y_symbol_flips']} (largest distance "
          f"of y - centre from a rounding tie there: {r['flip_max_tie_distance']})")
    print("  our coder on compressai's symbols: " + "; ".join(
        f"{k} {n} bytes vs {e} expected (compressai's less its escape payload plus ours, "
        f"{esc} escapes)" for k, (n, e, esc) in r["coder_on_compressai_symbols"].items()))


if __name__ == "__main__":
  main()
