"""Evaluation results as CompressAI-style JSON, RD curves, BD-rates and a text table.

The JSON keeps CompressAI's eval_model layout at the top, so its plotting tools
read it: `name`, `description`, and `results` with one list entry per evaluated
model (`psnr-rgb`, `ms-ssim-rgb`, `bpp`, `encoding_time`, `decoding_time`, plus
`ms-ssim-db`, `bpp-strings`, `bpp-estimate`). lic_jax adds `curves` (the same
layout per curve), `models` (per-model details and per-image rows), `dataset`,
`bd_rate`, `anchors` and `environment`. Non-finite numbers (PSNR of a lossless
image) are written as null: the file stays strict JSON.

Over 250 lines: the JSON, the text table and the BD-rate lines are three views of
one report, built from the same curves and anchors here.
"""
import json
import math
import os

from lic_jax import extras, metrics
from lic_jax.evaluation import anchors as anchor_data
from lic_jax.evaluation import bdrate, classic

RESULT_KEYS = ("psnr-rgb", "ms-ssim-rgb", "ms-ssim-db", "bpp", "bpp-strings", "bpp-estimate",
               "encoding_time", "decoding_time")


def curves(models):
  """Models grouped into RD curves by name, in first-seen order:
  [{"name", "models": [...]}], each curve's points sorted by bpp."""
  grouped = {}
  for model in models:
    grouped.setdefault(model["name"], []).append(model)
  return [{"name": name, "models": sorted(ms, key=lambda m: m["averages"]["bpp"])}
          for name, ms in grouped.items()]


def _results(models):
  """CompressAI's `results`: key -> one value per model (keys all models have)."""
  keys = [k for k in RESULT_KEYS if all(k in m["averages"] for m in models)]
  return {k: [m["averages"][k] for m in models] for k in keys}


def description(estimate):
  if estimate:
    return "Inference (entropy estimation)"
  return "Inference (lic_jax, tensorflow-compression range coder, real bitstreams)"


# BD-rate quality axes: name -> (result key, to dB)
QUALITY = {"PSNR": ("psnr-rgb", float), "MS-SSIM": ("ms-ssim-rgb", metrics.ms_ssim_db)}


def curve_points(models):
  """Each curve's averaged points, {"name", "bpp", "psnr-rgb", "ms-ssim-rgb"} (what
  plots and BD-rates take), in curve order."""
  return [{"name": c["name"], **{k: [m["averages"][k] for m in c["models"]]
                                 for k in ("bpp", *(key for key, _ in QUALITY.values()))
                                 if all(k in m["averages"] for m in c["models"])}}
          for c in curves(models)]


def _bd_rate(anchor, curve, key, to_db):
  """{"bd_rate", "overlap"} of one quality axis, or {"bd_rate": None, "note"}."""
  for who in (anchor, curve):
    if key not in who:
      return {"bd_rate": None, "note": f"no {key} points"}
  anchor_q = [to_db(v) for v in anchor[key]]
  test_q = [to_db(v) for v in curve[key]]
  try:
    return {"bd_rate": bdrate.bd_rate(anchor["bpp"], anchor_q, curve["bpp"], test_q),
            "overlap": bdrate.overlap(anchor_q, test_q)}
  except (bdrate.BDRateError, extras.MissingExtraError) as e:
    return {"bd_rate": None, "note": str(e)}


def bd_rates(points, anchor_key, comparable, reason=None):
  """BD-rates (PCHIP) of each curve against the published anchor, on PSNR and on
  MS-SSIM in dB where both curves have it: {curve name: {"anchor", "anchor_key",
  "interpolation", "PSNR": {"bd_rate" (percent), "overlap"}, "MS-SSIM": ...}}; a
  figure that cannot be given is None beside a "note" saying why.

  points: curves as `curve_points` gives them."""
  anchor = anchor_data.load(anchor_key)
  out = {}
  for curve in points:
    entry = {"anchor": anchor["name"], "anchor_key": anchor_key, "interpolation": "pchip"}
    for axis, (key, to_db) in QUALITY.items():
      entry[axis] = (_bd_rate(anchor["results"], curve, key, to_db) if comparable
                     else {"bd_rate": None, "note": reason})
    out[curve["name"]] = entry
  return out


def published_bd_rates(anchor_key):
  """bd_rates of every other published curve against `anchor_key`'s."""
  return bd_rates([{"name": a["name"], **a["results"]} for a in anchor_data.load_all()
                   if a["key"] != anchor_key], anchor_key, comparable=True)


def bd_rate_lines(bd):
  """bd_rates as text: a line per curve."""
  if not bd:
    return []
  first = next(iter(bd.values()))
  figures = [entry[axis] for entry in bd.values() for axis in QUALITY]
  notes = {figure.get("note") for figure in figures}
  if len(notes) == 1 and all(figure["bd_rate"] is None for figure in figures):
    return [f"BD-rate against {first['anchor']}: n/a ({notes.pop()})"]
  out = [f"BD-rate against {first['anchor']}, Kodak (PCHIP; negative: fewer bits at equal "
         "quality):"]
  for name, entry in bd.items():
    cells = []
    for axis in QUALITY:
      figure = entry[axis]
      cells.append(f"{axis} {figure['bd_rate']:+.2f}% (overlap {100 * figure['overlap']:.0f}%)"
                   if figure["bd_rate"] is not None else f"{axis} n/a ({figure['note']})")
    out.append(f"  {name}: " + "; ".join(cells))
  return out


def build(models, *, estimate, dataset, bd, anchor_key, environment):
  """The whole JSON document (see the module docstring)."""
  curve_list = curves(models)
  return {
      "name": "+".join(c["name"] for c in curve_list),
      "description": description(estimate),
      "results": _results(models),
      "curves": [{"name": c["name"], "description": description(estimate),
                  "results": _results(c["models"])} for c in curve_list],
      "models": models,
      "dataset": dataset,
      "bd_rate": bd,
      "anchors": {key: anchor_data.load(key) for key in anchor_data.NAMES},
      "anchor": anchor_key,
      "environment": environment,
  }


def _finite(obj):
  """Replaces inf / nan by None, recursively, for strict JSON."""
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  if isinstance(obj, dict):
    return {k: _finite(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_finite(v) for v in obj]
  return obj


def to_json(document):
  return json.dumps(_finite(document), indent=2, allow_nan=False) + "\n"


def _num(value, fmt):
  if value is None:
    return "-"
  if isinstance(value, float) and math.isinf(value):
    return "inf"
  return format(value, fmt)


COLUMNS = (  # header, row key, format, width
    ("image", "image", "", 0), ("size", None, "", 9), ("bpp", "bpp", ".4f", 7),
    ("bpp(str)", "bpp-strings", ".4f", 8), ("bpp(est)", "bpp-estimate", ".4f", 8),
    ("PSNR", "psnr-rgb", ".3f", 7), ("MS-SSIM", "ms-ssim-rgb", ".5f", 7),
    ("MS-SSIM dB", "ms-ssim-db", ".3f", 10), ("enc ms", "encoding_time", None, 7),
    ("dec ms", "decoding_time", None, 7), ("match", "roundtrip", None, 5))


def _cells(row, name, size):
  cells = []
  for header, key, fmt, _ in COLUMNS:
    if header == "image":
      cells.append(name)
    elif header == "size":
      cells.append(size)
    elif key.endswith("_time"):
      cells.append(_num(row[key] * 1000 if key in row else None, ".1f"))
    elif key == "roundtrip":
      flag = row.get("roundtrip")
      cells.append("-" if flag is None else ("yes" if flag else "NO"))
    else:
      cells.append(_num(row.get(key), fmt))
  return cells


def table(model):
  """One model's per-image rows and their average, as aligned text."""
  lines = [[h for h, *_ in COLUMNS]]
  starred = False
  for row in model["images"]:
    name = row["image"]
    if any("MS-SSIM" in n for n in row["notes"]):
      name, starred = name + " *", True
    lines.append(_cells(row, name, f"{row['width']}x{row['height']}"))
  lines.append(_cells(model["averages"], f"average ({len(model['images'])})", ""))
  widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
  text = []
  for n, line in enumerate(lines):
    if n == len(lines) - 1:
      text.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    text.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                          for i, (c, w) in enumerate(zip(line, widths))))
  if starred:
    text.append(f"* MS-SSIM below the standard minimum size (shorter side "
                f"{metrics.MIN_STANDARD_SIDE} px): pytorch_msssim's small-image fallback, not "
                "comparable with published MS-SSIM")
  return "\n".join(text)


def classic_codecs(averages):
  """The classic codecs whose numbers a row or average holds, in table order."""
  return [c for c in classic.CODECS.values() if f"{c.key}-bpp" in averages]


def classic_lines(model):
  """The classic codecs beside the model (eval.py --classic), as text: per image the
  PSNR and MS-SSIM of each at the smallest size >= lic_jax's, then the averages with
  each codec's gap to lic_jax."""
  averages = model["averages"]
  codecs = classic_codecs(averages)
  if not codecs:
    return []
  names = ["lic_jax", *(c.name for c in codecs)]
  keys = ["", *(c.key + "-" for c in codecs)]
  lines = [["image", *names]]
  for row in model["images"]:
    lines.append([row["image"], *(f"{row[k + 'psnr-rgb']:.2f}/{row[k + 'ms-ssim-rgb']:.4f}"
                                  for k in keys)])
  widths = [max(len(line[i]) for line in lines) for i in range(len(names) + 1)]
  out = ["per image, PSNR dB/MS-SSIM, each classic codec at the smallest file >= lic_jax's:"]
  out += ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(line, widths))) for line in lines]
  out.append("averages (gap: the codec's PSNR and MS-SSIM minus lic_jax's):")
  for name, key in zip(names, keys):
    gap = "" if not key else (
        f"   gap {averages[key + 'psnr-rgb'] - averages['psnr-rgb']:+.2f} dB, "
        f"{averages[key + 'ms-ssim-rgb'] - averages['ms-ssim-rgb']:+.4f}")
    out.append(f"  {name:<10} bpp {averages[key + 'bpp']:.4f}  PSNR "
               f"{averages[key + 'psnr-rgb']:.3f}  MS-SSIM {averages[key + 'ms-ssim-rgb']:.5f}"
               + gap)
  return out


def progressive_lines(model):
  """The progressive curve's table: per number of groups decoded, the averaged bpp of
  the file cut there and its PSNR and MS-SSIM, and the share of the bytes and of the
  PSNR (over the whole decode's) that it is."""
  points = model.get("progressive")
  if not points:
    return ["progressive: this model has no channel groups"] if "progressive" in model else []
  full = points[-1]
  out = [f"progressive decoding ({_point(model)}, averaged over the images): groups  bpp  "
         "PSNR  MS-SSIM  (share of the bytes, of the PSNR)"]
  for p in points:
    out.append(f"  {p['groups']:>3} {p['bpp']:8.4f} {p['psnr-rgb']:7.2f} {p['ms-ssim-rgb']:8.4f}"
               f"   ({p['bpp'] / full['bpp']:.0%}, {p['psnr-rgb'] / full['psnr-rgb']:.0%})")
  return out


def progressive_curves(models):
  """The progressive curves, as `lic_jax.evaluation.plots.plot_rd` draws curves."""
  return [{"name": f"{_point(m)} progressive", **{k: [p[k] for p in m["progressive"]]
                                                  for k in ("bpp", "psnr-rgb", "ms-ssim-rgb")}}
          for m in models if m.get("progressive")]


def _point(model):
  """A model's own name (its folder's), with its quality for a variable-rate model."""
  name = os.path.basename(os.path.normpath(model["model"])) if model.get("model") else (
      model["name"])
  return name + ("" if model.get("quality") is None else f" quality {model['quality']:g}")


def classic_curves(curve_list):
  """Per curve evaluated with --classic, each classic codec's curve at the same sizes:
  [{"name", "bpp", "psnr-rgb", "ms-ssim-rgb"}]."""
  out = []
  for curve in curve_list:
    points = [m["averages"] for m in curve["models"]]
    for codec in classic_codecs(points[0]):
      if all(f"{codec.key}-bpp" in p for p in points):
        out.append({"name": f"{codec.name} (at {curve['name']}'s sizes)",
                    **{k: [p[f"{codec.key}-{k}"] for p in points]
                       for k in ("bpp", "psnr-rgb", "ms-ssim-rgb")}})
  return out


def summary(document):
  """The whole report: per model its table and compile time, then BD-rates."""
  out = []
  for model in document["models"]:
    avg = model["averages"]
    mode = model["mode"] + (f" with {model['coder']}" if model.get("coder") else "")
    rate = "" if model.get("quality") is None else f" at quality {model['quality']:g}"
    out.append(f"\n== {model['name']}: {model['model']}{rate} ({model['arch']}, hash "
               f"{model['model_hash']}, {mode}) ==")
    out.append(table(model))
    for row in model["images"]:  # input conversions (gray, alpha, 16-bit), said once each
      for note in row["notes"]:
        if "MS-SSIM" not in note:
          out.append(f"note: {row['image']}: {note}")
    out.extend(classic_lines(model))
    out.extend(progressive_lines(model))
    out.append(f"compile (the first image of each size; excluded from the times above): "
               f"{model['compile_time']:.1f} s")
    if avg.get("roundtrip") is False:
      bad = [r["image"] for r in model["images"] if r.get("roundtrip") is False]
      out.append(f"ROUND TRIP MISMATCH: decoded != forward on {', '.join(bad)}")
  out.append("")
  out.extend(bd_rate_lines(document["bd_rate"]))
  return "\n".join(out)
