"""The quick-start demo: code one photo with a lic_jax model and with JPEG.

By default: the bundled model (lic_jax/assets/default, a small ELIC trained on
redistributable sample photos) on the bundled held-out photo (lic_jax/assets/
holdout.png, never trained on); see lic_jax/assets/README.md. Writes the .lic
stream, the reconstruction and a side-by-side PNG, and prints bpp, PSNR and MS-SSIM
of lic_jax, plain and with the encoder's latent refinement, and of JPEG (Pillow) at
the smallest file size at or above each.
"""
import io
import os
import time

import numpy as np
from PIL import Image

from lic_jax import image_io

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
DEFAULT_MODEL = "default"  # lic_jax/assets/default, see checkpoint.BUNDLED
DEFAULT_IMAGE = os.path.join(ASSETS, "holdout.png")
# Both ship in the package (pyproject's package-data); without them it is broken.
INCOMPLETE = ("this lic_jax installation is incomplete (reinstall it; in a checkout, "
              "tools/make_default_model.sh rebuilds the assets)")


# The encoder refines the latents of the photo for this many steps (lic_jax.refine):
# 0.5 dB at 9% fewer bytes for the bundled model and photo, for 30-45 s on 2 CPU cores.
DEFAULT_REFINE_STEPS = 100


def distortion(a, b):
  """(PSNR dB, MS-SSIM) of two uint8 (H, W, 3) images: the exact 8-bit PSNR and
  pytorch_msssim's MS-SSIM, as eval.py reports them."""
  from lic_jax import metrics
  msssim = metrics.ms_ssim(a[None].astype(np.float32), b[None].astype(np.float32), 255.0)
  return metrics.psnr(metrics.mse_uint8(a, b), 255.0), float(msssim[0])


def jpeg_at_size(image, target_bytes):
  """(quality, bytes, decoded) of the smallest Pillow JPEG of at least target_bytes
  (JPEG gets at least our budget); the largest one tried if none is that big."""
  candidates = []
  for quality in range(1, 101):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    candidates.append((quality, buffer.tell(), buffer.getvalue()))
  large_enough = [c for c in candidates if c[1] >= target_bytes]
  chosen = (min(large_enough, key=lambda c: (c[1], c[0])) if large_enough
            else max(candidates, key=lambda c: (c[1], -c[0])))
  quality, size, data = chosen
  return quality, size, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _default_model():
  """The bundled model (always shipped), or ModelDirError if the package lacks it."""
  from lic_jax import checkpoint  # imports JAX: not for `python -m lic_jax --help`
  bundled = checkpoint.resolve(DEFAULT_MODEL)
  if not os.path.isfile(os.path.join(bundled, checkpoint.META_FILE)):
    raise checkpoint.ModelDirError(f"the bundled default model {bundled} is missing: "
                                   f"{INCOMPLETE}; or pass --model DIR")
  return DEFAULT_MODEL, f"the bundled default model ({bundled})"


def _default_image():
  """The bundled held-out photo, or ImageError if the package lacks it."""
  if not os.path.isfile(DEFAULT_IMAGE):
    raise image_io.ImageError(f"the bundled demo photo {DEFAULT_IMAGE} is missing: "
                              f"{INCOMPLETE}; or pass --image PATH")
  return DEFAULT_IMAGE


def run(model=None, image=None, out_dir="demo_out", refine_steps=DEFAULT_REFINE_STEPS):
  import lic_jax
  os.makedirs(out_dir, exist_ok=True)
  model, model_note = (model, model) if model else _default_model()
  image = image or _default_image()
  pixels, notes = image_io.read_image(image)
  h, w = pixels.shape[:2]
  print(f"model: {model_note}\nimage: {image} ({w}x{h})" + "".join(f"\nnote: {n}" for n in notes))

  codec = lic_jax.load_model(model)
  if refine_steps and codec.lmbda is None:
    print("note: this model records no training lambda, so no refined encoding")
    refine_steps = 0
  encoders = [("lic_jax", 0)] + ([(f"lic_jax --refine {refine_steps}", refine_steps)]
                                 if refine_steps else [])
  bpp = lambda n: 8 * n / (h * w)
  print(f"{'codec':<22}{'bytes':>8}{'bpp':>9}{'PSNR dB':>10}{'MS-SSIM':>10}")
  for name, steps in encoders:  # the last one's outputs are written
    start = time.perf_counter()
    data = codec.compress(pixels, refine_steps=steps)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decompress(data)
    decode_s = time.perf_counter() - start
    scores = "{:>10.2f}{:>10.4f}".format(*distortion(pixels, decoded))
    print(f"{name:<22}{len(data):>8}{bpp(len(data)):>9.4f}{scores}   (encode {encode_s:.1f} s, "
          f"decode {decode_s:.1f} s, with compiling)")
    jpeg_quality, jpeg_bytes, jpeg = jpeg_at_size(pixels, len(data))
    scores = "{:>10.2f}{:>10.4f}".format(*distortion(pixels, jpeg))
    print(f"{'JPEG q' + str(jpeg_quality):<22}{jpeg_bytes:>8}{bpp(jpeg_bytes):>9.4f}{scores}   "
          "(Pillow, smallest quality with at least that size)")
  stem = os.path.splitext(os.path.basename(image))[0]
  image_io.atomic_write(os.path.join(out_dir, f"{stem}.lic"), data)
  image_io.write_png(os.path.join(out_dir, f"{stem}_lic_jax.png"), decoded)
  image_io.write_png(os.path.join(out_dir, f"{stem}_jpeg_q{jpeg_quality}.png"), jpeg)
  image_io.write_png(os.path.join(out_dir, f"{stem}_side_by_side.png"),
                     np.concatenate([pixels, decoded, jpeg], axis=1))
  print(f"outputs in {os.path.abspath(out_dir)}, from {encoders[-1][0]} (original | "
        f"lic_jax | JPEG: {stem}_side_by_side.png)")
