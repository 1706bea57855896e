"""The quick-start demo: code one photo along a lic_jax model's curve and compare
with the classic codecs at the same sizes.

By default: the bundled variable-rate model ("default", lic_jax/assets: a small ELIC
trained on BSDS500 and ImageNet sample photos) at five qualities over its range, on
the bundled held-out photo (lic_jax/assets/holdout.png, never trained on); see
lic_jax/assets/README.md. A model of one rate gives one point. Prints bytes, bpp, PSNR
and MS-SSIM of lic_jax's plain encoder (or, with refine_steps, the encoder's latent
refinement) and of JPEG, WebP, AVIF, JPEG XL, HEIF and JPEG 2000
(`lic_jax.evaluation.classic`; those whose library is not installed are skipped, saying
so) at the smallest file size at or above lic_jax's, and writes per point the .lic
stream and its reconstruction and the classic files; one labelled PNG of them all at
the lowest and the highest rate; and, with matplotlib (the `plot` extra), the curves.
"""
import os
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lic_jax import image_io
from lic_jax.evaluation import classic

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
DEFAULT_MODEL = "default"
DEFAULT_IMAGE = os.path.join(ASSETS, "holdout.png")
# Both ship in the package (pyproject's package-data); without them it is broken.
INCOMPLETE = ("this lic_jax installation is incomplete (reinstall it; in a checkout, "
              "tools/make_default_model.sh rebuilds the assets)")
PANELS_PER_ROW = 4  # original, lic_jax and two classic codecs; then four classic ones
CURVE_POINTS = 5  # a variable-rate model's qualities, evenly over its range


def _codec(model, coder):
  """The model's Codec; the bundled one must be there, or ModelDirError says the
  installation is broken."""
  import lic_jax
  from lic_jax import model_dir  # imports JAX: not for `python -m lic_jax --help`
  folder = model_dir.BUNDLED.get(model)
  if folder and not os.path.isfile(os.path.join(folder, model_dir.META_FILE)):
    raise model_dir.ModelDirError(f"the bundled model {model} ({folder}) is missing: "
                                   f"{INCOMPLETE}; or pass --model DIR")
  return lic_jax.load_model(model, coder)


def _qualities(codec, qualities):
  """The qualities to code at: those asked for, else CURVE_POINTS over a variable-rate
  model's range (whole numbers where they fall so), or [None] for a model of one rate."""
  if qualities:
    for quality in qualities:
      codec.rate(quality)  # ValueError: out of range, or a model of one rate
    return sorted(qualities)
  if codec.qualities is None:
    return [None]
  return [round(float(q), 2) for q in np.linspace(*codec.qualities, CURVE_POINTS)]


def _default_image():
  """The bundled held-out photo, or ImageError if the package lacks it."""
  if not os.path.isfile(DEFAULT_IMAGE):
    raise image_io.ImageError(f"the bundled demo photo {DEFAULT_IMAGE} is missing: "
                              f"{INCOMPLETE}; or pass --image PATH")
  return DEFAULT_IMAGE


def labelled(panels):
  """One uint8 image of rows of (caption lines, uint8 (H, W, 3) image) panels, each
  with its caption drawn in a band above it."""
  font = ImageFont.load_default(size=15)
  line_height = font.getbbox("Ag")[3] + 4
  band = line_height * max(len(lines) for row in panels for lines, _ in row) + 6
  height, width = panels[0][0][1].shape[:2]
  sheet = Image.new("RGB", (width * max(map(len, panels)), (band + height) * len(panels)),
                    "white")
  draw = ImageDraw.Draw(sheet)
  for r, row in enumerate(panels):
    for c, (lines, image) in enumerate(row):
      left, top = c * width, r * (band + height)
      for i, line in enumerate(lines):
        draw.text((left + 4, top + 3 + i * line_height), line, fill="black", font=font)
      sheet.paste(Image.fromarray(image), (left, top + band))
  return np.asarray(sheet)


def run(model=None, image=None, out_dir="demo_out", refine_steps=0, coder=None,
        qualities=None):
  """Codes `image` with `model` (a folder or a bundled name; default "default") at
  each of `qualities` (a variable-rate model's; default CURVE_POINTS over its range)
  and with the classic codecs at the same sizes; prints the table; writes the outputs
  to out_dir."""
  from lic_jax.evaluation.runner import classic_scores, distortion
  started = time.perf_counter()
  codecs, missing = classic.available()
  for note in missing:
    print(f"note: {note}; skipped")
  model = model or DEFAULT_MODEL
  codec = _codec(model, coder)
  qualities = _qualities(codec, qualities)
  image = image or _default_image()
  pixels, notes = image_io.read_image(image)
  h, w = pixels.shape[:2]
  stem = os.path.splitext(os.path.basename(image))[0]
  name = os.path.basename(os.path.normpath(model))
  print(f"image: {image} ({w}x{h})" + "".join(f"\nnote: {n}" for n in notes))
  bpp = lambda n: 8 * n / (h * w)
  row = lambda label, n, d: (f"{label:<26}{n:>8}{bpp(n):>9.4f}{d['psnr-rgb']:>10.2f}"
                            f"{d['ms-ssim-rgb']:>10.4f}")
  caption = lambda n, d: (f"{bpp(n):.3f} bpp, {d['psnr-rgb']:.2f} dB, "
                          f"MS-SSIM {d['ms-ssim-rgb']:.4f}")
  steps = refine_steps if codec.lmbda is not None else 0
  if refine_steps and not steps:
    print(f"note: {model} records no training lambda, so no refined encoding")
  print(f"{'codec':<26}{'bytes':>8}{'bpp':>9}{'PSNR dB':>10}{'MS-SSIM':>10}")
  outputs, panels, curves = {}, [], {}
  for quality in qualities:
    label = name if quality is None else f"{name} q{quality:g}"
    start = time.perf_counter()
    data = codec.compress(pixels, quality=quality, refine_steps=steps)
    decoded = codec.decompress(data)
    seconds = time.perf_counter() - start
    scores = distortion(pixels, decoded)
    ours = f"lic_jax {label}" + (f" --refine {steps}" if steps else "")
    lmbda = codec.lmbda_at(quality)
    print(row(ours, len(data), scores) + f"   ({codec.arch}"
          + (f", lambda {lmbda:.3g}" if lmbda is not None else "")
          + f"; encode + decode {seconds:.1f} s, compiling included)")
    file_stem = f"{stem}_{label.replace(' ', '_')}"
    outputs[f"{file_stem}.lic"] = data
    outputs[f"{file_stem}_lic_jax.png"] = decoded
    point = [(["original", stem], pixels), ([ours, caption(len(data), scores)], decoded)]
    _add_point(curves, f"lic_jax {name}" + (f" --refine {steps}" if steps else ""),
               len(data), scores, bpp)
    for other_codec, (other_data, other, other_scores) in zip(
        codecs, classic_scores(pixels, len(data), codecs)):
      setting = other_codec.label(other_scores["setting"])
      print(row(f"  {other_codec.name} {setting}", len(other_data), other_scores))
      outputs[f"{file_stem}_{other_codec.key}_{setting}.{other_codec.suffix}"] = other_data
      point.append(([f"{other_codec.name} {setting}", caption(len(other_data), other_scores)],
                    other))
      _add_point(curves, f"{other_codec.name} (at lic_jax's sizes)", len(other_data),
                 other_scores, bpp)
    if quality in (qualities[0], qualities[-1]):  # the picture: lowest and highest rate
      panels += [point[i:i + PANELS_PER_ROW] for i in range(0, len(point), PANELS_PER_ROW)]
  print("(" + "; ".join(c.encoder for c in codecs) + ": each the smallest file at least as "
        "large as lic_jax's)")
  outputs[f"{stem}_side_by_side.png"] = labelled(panels)
  plotted = _curves_figure(list(curves.values()), f"{stem} ({w}x{h}), lic_jax {name}",
                           len(qualities))
  if plotted:
    outputs[f"{stem}_rd.png"] = plotted
  # Everything was computed before anything is written: a failure leaves no outputs.
  os.makedirs(out_dir, exist_ok=True)
  for filename, content in outputs.items():
    path = os.path.join(out_dir, filename)
    if isinstance(content, bytes):
      image_io.atomic_write(path, content)
    else:
      image_io.write_png(path, content)
  order = " | ".join(["original", "lic_jax", *(c.name for c in codecs)])
  shown = ", ".join(sorted({f"q{q:g}" for q in (qualities[0], qualities[-1])
                            if q is not None}))
  print(f"outputs in {os.path.abspath(out_dir)}: per point the .lic stream, its "
        f"reconstruction, the classic files; {stem}_side_by_side.png ("
        + (f"{shown}, " if shown else "") + f"{PANELS_PER_ROW} panels a row: {order})"
        + (f"; {stem}_rd.png (the curves)" if plotted else "")
        + f"\ndemo done in {time.perf_counter() - started:.1f} s")


def _add_point(curves, name, size, scores, bpp):
  """Appends a point to the curve `name` of {name: {"name", "bpp", "psnr-rgb",
  "ms-ssim-rgb"}}."""
  curve = curves.setdefault(name, {"name": name, "bpp": [], "psnr-rgb": [], "ms-ssim-rgb": []})
  curve["bpp"].append(bpp(size))
  for key in ("psnr-rgb", "ms-ssim-rgb"):
    curve[key].append(scores[key])


def _curves_figure(curves, title, points):
  """The curves as a PNG (`lic_jax.evaluation.plots`), or None for a single point or
  without matplotlib (saying so)."""
  from lic_jax.extras import missing
  if points < 2:
    return None
  note = missing("plot", "the demo's RD figure")
  if note:
    print(f"note: {note}")
    return None
  from lic_jax.evaluation import plots
  return plots.rd_figure(curves, [], title)[0]
