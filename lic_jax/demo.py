"""The quick-start demo: code one photo at each operating point of a lic_jax model and
compare with the classic codecs at the same size.

By default: both points of the bundled model ("default", lic_jax/assets: a small ELIC
trained on BSDS500 and ImageNet sample photos) on the bundled held-out photo
(lic_jax/assets/holdout.png, never trained on); see lic_jax/assets/README.md. Prints
bytes, bpp, PSNR and MS-SSIM of lic_jax's plain encoder (or, with refine_steps, the
encoder's latent refinement) and of JPEG, WebP, AVIF, JPEG XL, HEIF and JPEG 2000
(`lic_jax.evaluation.classic`; those whose library is not installed are skipped, saying
so) at the smallest file size at or above lic_jax's, and writes per point the .lic
stream and its reconstruction, the classic files, and one labelled PNG of them all.
"""
import os
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lic_jax import image_io
from lic_jax.evaluation import classic

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
DEFAULT_MODEL = "default"  # both bundled operating points, see model_dir.CURVES
DEFAULT_IMAGE = os.path.join(ASSETS, "holdout.png")
# Both ship in the package (pyproject's package-data); without them it is broken.
INCOMPLETE = ("this lic_jax installation is incomplete (reinstall it; in a checkout, "
              "tools/make_default_model.sh rebuilds the assets)")
PANELS_PER_ROW = 4  # original, lic_jax and two classic codecs; then four classic ones


def _models(model):
  """[(model name, label)]: the points `model` stands for (model_dir.curve); the
  bundled ones must be there, or ModelDirError says the installation is broken."""
  from lic_jax import model_dir  # imports JAX: not for `python -m lic_jax --help`
  names = model_dir.curve(model or DEFAULT_MODEL)
  for name in names:
    folder = model_dir.BUNDLED.get(name)
    if folder and not os.path.isfile(os.path.join(folder, model_dir.META_FILE)):
      raise model_dir.ModelDirError(f"the bundled model {name} ({folder}) is missing: "
                                     f"{INCOMPLETE}; or pass --model DIR")
  return [(name, os.path.basename(os.path.normpath(name))) for name in names]


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


def run(model=None, image=None, out_dir="demo_out", refine_steps=0, coder=None):
  """Codes `image` with every point of `model` (a name, folder or "default") and with
  the classic codecs at the same size; prints the table; writes the outputs to out_dir."""
  import lic_jax
  from lic_jax.evaluation.runner import classic_scores, distortion
  started = time.perf_counter()
  codecs, missing = classic.available()
  for note in missing:
    print(f"note: {note}; skipped")
  models = _models(model)
  image = image or _default_image()
  pixels, notes = image_io.read_image(image)
  h, w = pixels.shape[:2]
  stem = os.path.splitext(os.path.basename(image))[0]
  print(f"image: {image} ({w}x{h})" + "".join(f"\nnote: {n}" for n in notes))
  bpp = lambda n: 8 * n / (h * w)
  row = lambda name, n, d: (f"{name:<26}{n:>8}{bpp(n):>9.4f}{d['psnr-rgb']:>10.2f}"
                           f"{d['ms-ssim-rgb']:>10.4f}")
  caption = lambda n, d: (f"{bpp(n):.3f} bpp, {d['psnr-rgb']:.2f} dB, "
                          f"MS-SSIM {d['ms-ssim-rgb']:.4f}")
  print(f"{'codec':<26}{'bytes':>8}{'bpp':>9}{'PSNR dB':>10}{'MS-SSIM':>10}")
  outputs, panels = {}, []
  for name, label in models:
    codec = lic_jax.load_model(name, coder)
    steps = refine_steps if codec.lmbda is not None else 0
    if refine_steps and not steps:
      print(f"note: {name} records no training lambda, so no refined encoding")
    start = time.perf_counter()
    data = codec.compress(pixels, refine_steps=steps)
    decoded = codec.decompress(data)
    seconds = time.perf_counter() - start
    scores = distortion(pixels, decoded)
    ours = f"lic_jax {label}" + (f" --refine {steps}" if steps else "")
    lmbda = f", lambda {codec.lmbda:g}" if codec.lmbda is not None else ""
    print(row(ours, len(data), scores) + f"   ({codec.arch}{lmbda}; encode + decode "
          f"{seconds:.1f} s, compiling included)")
    outputs[f"{stem}_{label}.lic"] = data
    outputs[f"{stem}_{label}_lic_jax.png"] = decoded
    point = [(["original", stem], pixels), ([ours, caption(len(data), scores)], decoded)]
    for codec, (other_data, other, other_scores) in zip(
        codecs, classic_scores(pixels, len(data), codecs)):
      setting = codec.label(other_scores["setting"])
      print(row(f"  {codec.name} {setting}", len(other_data), other_scores))
      outputs[f"{stem}_{label}_{codec.key}_{setting}.{codec.suffix}"] = other_data
      point.append(([f"{codec.name} {setting}", caption(len(other_data), other_scores)], other))
    panels += [point[i:i + PANELS_PER_ROW] for i in range(0, len(point), PANELS_PER_ROW)]
  print("(" + "; ".join(c.encoder for c in codecs) + ": each the smallest file at least as "
        "large as lic_jax's)")
  outputs[f"{stem}_side_by_side.png"] = labelled(panels)
  # Everything was computed before anything is written: a failure leaves no outputs.
  os.makedirs(out_dir, exist_ok=True)
  for filename, content in outputs.items():
    path = os.path.join(out_dir, filename)
    if isinstance(content, bytes):
      image_io.atomic_write(path, content)
    else:
      image_io.write_png(path, content)
  order = " | ".join(["original", "lic_jax", *(c.name for c in codecs)])
  print(f"outputs in {os.path.abspath(out_dir)}: per point the .lic stream, its "
        f"reconstruction, the classic files; {stem}_side_by_side.png (per point "
        f"{', '.join(label for _, label in models)}, {PANELS_PER_ROW} panels a row: "
        f"{order})\n"
        f"demo done in {time.perf_counter() - started:.1f} s")
