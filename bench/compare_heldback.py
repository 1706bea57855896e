"""lic_jax's ports of CompressAI's zoo models against the held-back CompressAI cases that
bench/compressai_heldback.py wrote (seeds, sizes, widths and images the test fixtures do
not use).

    .venv/bin/python bench/compare_heldback.py /tmp/heldback

Run with the project venv (no torch: lic_jax reads the .pth.tar files itself). The cases
come from a throwaway venv with compressai (see compressai_heldback.py); compressai is
no project dependency and only a read-only reference. Per case it prints max |diff| of
x_hat and the likelihoods against compressai's eval forward, whether decompress gives
exactly our forward's x_hat at 8 bits (for the autoregressive models: the encoder's
own reconstruction), how many 8-bit values differ from compressai's
decompressed image, and our stream's bytes against compressai's rANS strings.

A variable-rate case (bmshj2018-hyperprior-vbr, mbt2018-mean-vbr, mbt2018-vbr) is
compared at each of its rates, lic_jax at that gain (a `gain` in the latent codec's
context, as tests/test_variable_rate.py runs it): x_hat and the likelihoods (z's, for
the two hyperprior models, as compressai's forward reports them, over unit bins, and
lic_jax's own, over bins of the z step as z is coded, against compressai's
`_likelihood_variable` at that step), the z step, the z and y symbols and y's CDF
indexes compress coded (mismatches with their near-tie distances), the string sizes
(escape payloads accounted for), our stream at that gain decoded against compressai's
decompress at 8 bits and against our forward, and lic_jax's own round trips through
`Codec.compress(image, quality=q)` at the rates' levels and one quality between levels.
"""
import argparse
import dataclasses
import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from lic_jax import bitstream, conversion, latent, model_dir  # noqa: E402
from lic_jax.codec import Codec, pad_image, to_uint8  # noqa: E402
from lic_jax.coder import range_coder  # noqa: E402
from lic_jax.entropy import factorized  # noqa: E402
from lic_jax.entropy import raster  # noqa: E402
from lic_jax.latent.variable_rate import SteppedFactorized  # noqa: E402
from lic_jax.models import base as model_base  # noqa: E402
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


def tie_mismatches(ours, theirs, tie):
  """(how many of ours differ from theirs, of how many, the largest |ours - theirs|,
  the largest near-tie distance among the differing ones, and the near-tie distance
  of the first differing one in (h, w, channel) order: for an autoregressive model
  its coding order, where the first flip changes the contexts after it)."""
  ours, theirs, tie = np.asarray(ours), np.asarray(theirs), np.asarray(tie)
  assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
  bad = ours != theirs
  if not bad.any():
    return 0, int(bad.size), None, None, None
  return (int(bad.sum()), int(bad.size), int(np.max(np.abs(ours[bad].astype(np.int64)
                                                           - theirs[bad]))),
          float(np.max(tie[bad])), float(tie.ravel()[np.argmax(bad.ravel())]))


def y_symbol_flips(codec, ref):
  """(y symbols of ours that differ from compressai's, the largest distance from a
  rounding tie of compressai's y - centre among them): ours from our own transforms,
  the tie distance from compressai's recorded g_a and h_s outputs."""
  stages = codec.stages
  medians = np.asarray(factorized.medians(codec.params["entropy_bottleneck"]))
  y = np.asarray(stages.stage("analysis")(nhwc(ref["x"])))
  if "forward:h_s:out0" in ref:
    z = np.asarray(stages.stage("hyper_analysis")(y))
    hyper = stages.stage("hyper_synthesis")(np.round(z - medians) + medians)
    # gaussian_params gives named outputs; Gaussian.of: zero means where it has none
    center = np.asarray(latent.Gaussian.of(stages.stage("gaussian_params")(hyper)).means)
    their_center = np.asarray(latent.Gaussian.of(
        stages.stage("gaussian_params")(nhwc(ref["forward:h_s:out0"]))).means)
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


def coder_on_their_symbols(codec, ref, prefix="compress:", tables=None, factorized_y=None):
  """compressai's symbols coded by our range coder with our tables:
  {stream: (our bytes, compressai's bytes less its escape payload plus ours, escapes)}.
  prefix: of the arrays (a variable-rate case's rate: "compress:<rate>:"); tables:
  {stream: CDF table} where not the stored ones (z's at a rate's step); factorized_y:
  y coded with the factorized prior (index = channel; default: no h_s recorded)."""
  tables = tables or {}
  if factorized_y is None:
    factorized_y = "forward:h_s:out0" not in ref
  out = {}
  for stream in ("z", "y"):
    if f"{prefix}{stream}_symbols" not in ref:
      continue
    symbols = ref[f"{prefix}{stream}_symbols"]
    indexes = ref.get(f"{prefix}{stream}_indexes")
    if indexes is None or stream == "z" or factorized_y:
      indexes = np.broadcast_to(np.arange(symbols.shape[1])[None, :, None, None], symbols.shape)
    table = tables.get(stream, codec.stream_tables[stream].cdf)
    data = range_coder.encode(symbols, np.ascontiguousarray(indexes), table)
    theirs_payload, ours_payload = escape_payload_bytes(symbols, indexes, table)
    values = np.asarray(symbols, np.int64).ravel() - table.offset[indexes.ravel()]
    escapes = int(np.sum((values < 0) | (values >= table.cdf_length[indexes.ravel()] - 2)))
    expected = ref[f"{prefix}{stream}_string"].size - theirs_payload + ours_payload
    out[stream] = (len(data), round(float(expected)), escapes)
  return out


def load_case(directory, name):
  """(sidecar, arrays, Codec of the converted .pth.tar, the picture, x NHWC: the
  picture padded as compressai was given it)."""
  meta = json.load(open(os.path.join(directory, f"{name}_outputs.json")))
  ref = dict(np.load(os.path.join(directory, f"{name}_outputs.npz")))
  sd = conversion.load_torch_state_dict(os.path.join(directory, f"{name}.pth.tar"))
  arch, config, params, tables = conversion.convert_state_dict(sd)
  codec = Codec(arch, config, params, tables,
                model_dir.model_hash(arch, dataclasses.asdict(config), params))
  image = np.asarray(Image.open(os.path.join(directory, f"{name}_input.png")).convert("RGB"))
  x = nhwc(ref["x"])
  # compressai was given the picture padded as lic_jax pads it (a no-op at multiples)
  assert np.array_equal(pad_image(image, codec.pad_multiple), x), "PNG and x disagree"
  return meta, ref, codec, image, x


def compare(directory, name):
  """The comparison of one case, as a dict."""
  meta, ref, codec, image, x = load_case(directory, name)
  if meta.get("rates"):
    return compare_variable_rate(meta, ref, codec, image, x, name)
  height, width = image.shape[:2]

  result = {"case": name, "arch": codec.arch, "expected_arch": meta["arch"],
            "config": dataclasses.asdict(codec.config), "size": size_text(image, x)}
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


def size_text(image, x):
  height, width = image.shape[:2]
  return f"{width}x{height}" + (f" (padded {x.shape[2]}x{x.shape[1]})"
                                if x.shape[1:3] != (height, width) else "")


def their_image(ref, key, height, width):
  """compressai's decompressed image at 8 bits, and 255 x its float values (cropped)."""
  scaled = np.clip(nhwc(ref[key])[0, :height, :width].astype(np.float64), 0, 1) * 255
  return to_uint8(nhwc(ref[key]), height, width), scaled


def decoded_vs_theirs(decoded, theirs, scaled, ours_scaled):
  """(values that differ, of how many, the largest difference, the largest distance of
  compressai's 255 x from a rounding tie among the differing ones, and the largest
  |ours - theirs| there before rounding, 255 x ours (forward's x_hat, which ours decodes
  to) against theirs: a value whose tie distance is below that rounds either way)."""
  differ = decoded != theirs
  if not differ.any():
    return 0, int(differ.size), 0, None, None
  tie = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5)
  return (int(differ.sum()), int(differ.size),
          int(np.max(np.abs(decoded.astype(int) - theirs))), float(tie[differ].max()),
          float(np.max(np.abs(ours_scaled - scaled)[differ])))


def table_differences(table, ref, prefix):
  """Our CDF table at a rate's z step against compressai's (update_variable's):
  (offsets equal, lengths equal, CDF entries that differ (within the lengths), of how
  many, the largest difference in counts of 2^16); None where not recorded."""
  if f"{prefix}z_quantized_cdf" not in ref:
    return None
  theirs, lengths = ref[f"{prefix}z_quantized_cdf"], ref[f"{prefix}z_cdf_length"]
  offsets = np.array_equal(table.offset, ref[f"{prefix}z_offset"])
  same_lengths = np.array_equal(table.cdf_length, lengths)
  if not same_lengths:
    return offsets, False, None, None, None
  valid = np.arange(theirs.shape[1])[None, :] < lengths[:, None]
  ours = np.zeros_like(theirs)
  ours[:, :min(theirs.shape[1], table.quantized_cdf.shape[1])] = (
      table.quantized_cdf[:, :theirs.shape[1]])
  diff = np.abs(ours.astype(np.int64) - theirs)[valid]
  return offsets, True, int(np.sum(diff > 0)), int(diff.size), int(diff.max())


def ar_grid(calls, height, width, field):
  """The autoregressive model's wave-by-wave calls put back on the (h, w, M) grid."""
  rows, cols, counts = raster.waves(height, width, 5)
  out = np.zeros((height, width, calls[0].symbols.shape[-1]), getattr(calls[0], field).dtype)
  for t, record in enumerate(calls):
    out[rows[t, :counts[t]], cols[t, :counts[t]]] = getattr(record, field)[0, :, 0]
  return out


def compare_rate(codec, ref, latents, rate, gain, image, stepped):
  """One rate of a variable-rate case (the gain as compressai coded at it), as a dict."""
  height, width = image.shape[:2]
  p = f"forward:{rate}:"
  context = latent.EMPTY.add(gain=jnp.asarray([gain], jnp.float32))
  out = model_base.forward_from_latents(codec.stages, latents, context=context)
  x_hat = nhwc(ref[f"{p}x_hat"])
  r = {"gain": gain, "x_hat": max_error(out["x_hat"], x_hat),
       "x_hat_max": float(np.max(np.abs(x_hat))),
       "y_likelihoods": max_error(out["y_likelihoods"], nhwc(ref[f"{p}y_likelihoods"]))}
  tables = {}
  if stepped:
    step = latent.call(codec.stages, "z_step", context=context)
    theirs_step = float(ref[f"compress:{rate}:z_qstep"])
    r["z_step"] = (float(np.asarray(step).reshape(-1)[0]), theirs_step)
    dist = SteppedFactorized(codec.params["entropy_bottleneck"], step.reshape(-1, 1, 1, 1))
    z_hat = dist.dequantize(jnp.round(dist.residual(latents["z"])))
    # compressai's forward reports z over unit bins (a slip: qs goes to stop_gradient);
    # lic_jax's are over the step, as z is coded: against compressai's own function there.
    r["z_likelihoods (unit bins)"] = max_error(factorized.likelihood(dist.params, z_hat),
                                               nhwc(ref[f"{p}z_likelihoods"]))
    r["z_likelihoods (step bins)"] = max_error(out["z_likelihoods"],
                                               nhwc(ref[f"{p}z_likelihoods_qs"]))
  else:
    r["z_likelihoods"] = max_error(out["z_likelihoods"], nhwc(ref[f"{p}z_likelihoods"]))

  # what our encoder hands the coder at this gain, against what compressai's coded
  encode = latent.Encode(codec.coder, codec.stream_tables, codec.layout)
  mode = Recorder(encode, codec.stream_tables)
  codec.model.latent_codec.code(codec.stages, mode, latents["y"], context, latents)
  calls = {}
  for record in mode.calls:
    calls.setdefault(record.stream, []).append(record)
  (z,) = calls["z"]
  c = f"compress:{rate}:"
  r["z_symbols"] = tie_mismatches(z.symbols, nhwc(ref[f"{c}z_symbols"]), z.symbol_tie)
  if len(calls["y"]) == 1:  # one call codes all of y
    (y,) = calls["y"]
    fields = [y.symbols, y.indexes, y.symbol_tie, y.scale_tie]
    theirs = [nhwc(ref[f"{c}y_{k}"]) for k in ("symbols", "indexes")]
  else:  # mbt2018-vbr: wave by wave; compressai's flat, in raster order
    h, w = latents["y"].shape[1:3]
    fields = [ar_grid(calls["y"], h, w, f) for f in ("symbols", "indexes", "symbol_tie",
                                                     "scale_tie")]
    theirs = [raster_grid(ref[f"{c}y_{k}"], h, w) for k in ("symbols", "indexes")]
  r["y_symbols"] = tie_mismatches(fields[0], theirs[0], fields[2])
  r["y_indexes"] = tie_mismatches(fields[1], theirs[1], fields[3])
  if stepped:
    tables["z"] = z.dist.coding_tables(codec.stream_tables["z"]).cdf
    r["z_tables"] = table_differences(tables["z"], ref, c)
  strings = encode.strings()  # (once: each call finishes the coders again)
  r["string_bytes"] = {k: len(v) for k, v in strings.items()}
  r["compressai_string_bytes"] = {k: int(ref[f"{c}{k}_string"].size) for k in ("y", "z")}
  r["coder_on_compressai_symbols"] = coder_on_their_symbols(codec, ref, c, tables,
                                                            factorized_y=False)

  # our stream at this gain: decoded, against our forward and compressai's decompress
  stream = bitstream.Stream(codec.arch, bytes.fromhex(codec.model_hash), height, width,
                            strings, codec.coder.format, encode.checks(), gain=gain)
  data = stream.to_bytes()
  decoded = codec.decompress(data)
  expected = to_uint8(out["x_hat"], height, width)
  r["round_trip_exact"] = bool(np.array_equal(decoded, expected))
  r["round_trip_diff_values"] = int(np.sum(decoded != expected))
  ours_scaled = np.clip(np.asarray(out["x_hat"], np.float64)[0, :height, :width], 0, 1) * 255
  r["vs_compressai"] = decoded_vs_theirs(
      decoded, *their_image(ref, f"decompress:{rate}:x_hat", height, width), ours_scaled)
  r["file_bytes"] = len(data)
  if re.fullmatch(r"s\d+", rate):  # a level: Codec.compress at its quality writes this stream
    quality = int(rate[1:]) + 1
    r["quality"] = quality
    r["quality_gain_is_compressais"] = codec.rate(quality)[1] == gain
    r["quality_stream_identical"] = codec.compress(image, quality=quality) == data
  return r


def compare_variable_rate(meta, ref, codec, image, x, name):
  """A variable-rate case at each of its rates (`compare_rate`), and lic_jax's own
  round trips through Codec.compress(quality=...) at the levels and between them."""
  height, width = image.shape[:2]
  gains = np.asarray(codec.params["Gain"])
  result = {"case": name, "arch": codec.arch, "expected_arch": meta["arch"],
            "config": dataclasses.asdict(codec.config), "size": size_text(image, x),
            "gains_equal": bool(np.array_equal(gains, np.asarray(meta["gains"], np.float32))),
            "rates": {}}
  latents = model_base.analyze(codec.stages, jnp.asarray(x))
  stepped = bool(codec.config.z_step)
  result["z_step_network"] = stepped
  for rate, info in meta["rates"].items():
    result["rates"][rate] = compare_rate(codec, ref, latents, rate, info["scale"], image,
                                         stepped)
  levels = [r["quality"] for r in result["rates"].values() if "quality" in r]
  round_trips = {}
  for quality in levels + [min(levels) + 1.4]:
    data = codec.compress(image, quality=quality)
    expected = to_uint8(codec.forward(pad_image(image, codec.pad_multiple),
                                      quality=quality)["x_hat"], height, width)
    decoded = codec.decompress(data)
    round_trips[quality] = (bool(np.array_equal(decoded, expected)),
                            int(np.sum(decoded != expected)), len(data),
                            bitstream.info(data)["gain"])
  result["round_trips"] = round_trips
  return result


def print_variable_rate(r):
  print(f"{r['case']} ({r['arch']} {r['config']}, {r['size']}): gains as compressai's: "
        f"{r['gains_equal']}; z step network: {r['z_step_network']}")
  for rate, q in r["rates"].items():
    z = "; ".join(f"{k} {q[k]:.2e}" for k in q if k.startswith("z_likelihoods"))
    step = "" if "z_step" not in q else (
        f"; z step {q['z_step'][0]:.7f} vs {q['z_step'][1]:.7f} (rel "
        f"{abs(q['z_step'][0] / q['z_step'][1] - 1):.1e})")
    level = "" if "quality" not in q else f", quality {q['quality']}"
    print(f"  {rate} (gain {q['gain']:.7g}{level}): max|diff| x_hat {q['x_hat']:.2e} (max "
          f"|x_hat| {q['x_hat_max']:.2f}), y_likelihoods {q['y_likelihoods']:.2e}; {z}{step}")
    print("    differing from compressai's (count/of, max |diff|, largest near-tie distance "
          "among them[, that of the first in (h, w, channel) order]): " + "; ".join(
              f"{k} {q[k][0]}/{q[k][1]}, {q[k][2]}, {q[k][3]}"
              + (f", first {q[k][4]:.2e}" if q[k][0] else "")
              for k in ("z_symbols", "y_symbols", "y_indexes")))
    if q.get("z_tables"):
      offsets, lengths, n, of, most = q["z_tables"]
      print(f"    z CDF tables at the step vs compressai's update_variable: offsets equal "
            f"{offsets}, lengths equal {lengths}, entries differing {n}/{of} (max {most})")
    coder = "; ".join(f"{k} {n} vs {e} expected ({esc} escapes)"
                      for k, (n, e, esc) in q["coder_on_compressai_symbols"].items())
    print(f"    strings {q['string_bytes']} vs compressai {q['compressai_string_bytes']}; "
          f"our coder on compressai's symbols: {coder}")
    n, of, most, tie, gap = q["vs_compressai"]
    extra = "" if "quality" not in q else (
        f"; Codec.compress(quality={q['quality']}): gain = compressai's "
        f"{q['quality_gain_is_compressais']}, same stream {q['quality_stream_identical']}")
    print(f"    our stream at this gain ({q['file_bytes']} bytes): round trip exact "
          f"{q['round_trip_exact']} ({q['round_trip_diff_values']} values differ); vs "
          f"compressai decompress at 8 bits: {n}/{of} values differ (max {most}; among them "
          f"the largest distance of its 255 x from a tie {tie}, the largest |255 x ours - "
          f"255 x theirs| {gap}){extra}")
  print("  own round trips (quality: exact, values differing, bytes, gain): " + "; ".join(
      f"{qq:g}: {e}, {d}, {b}, {g:.6g}" for qq, (e, d, b, g) in r["round_trips"].items()))


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
      print(json.dumps(r, default=str))
      continue
    if "rates" in r:
      print_variable_rate(r)
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
