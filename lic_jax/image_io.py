"""Image files and arrays in, 8-bit RGB out; atomic writes.

Codecs take 8-bit RGB. Everything else Pillow reads (grayscale, palette, RGBA,
16-bit) is converted here, with a note saying what was done, never a crash.
"""
import os
import tempfile

import numpy as np
from PIL import Image


class ImageError(ValueError):
  """An input image cannot be read or has an unusable shape."""


def to_rgb8(image):
  """(H, W), (H, W, 1|3|4) uint8/uint16/float array -> ((H, W, 3) uint8, notes).

  Floats are taken as [0, 1]; 16-bit values are scaled to 8 bits; gray is
  replicated to RGB; alpha is dropped.
  """
  image = np.asarray(image)
  notes = []
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or 0 in image.shape:
    raise ImageError(f"expected an (H, W) or (H, W, C) image with C in 1..4, got shape "
                     f"{image.shape}")
  if image.dtype == np.uint16 or (image.dtype.kind in "iu" and image.max(initial=0) > 255):
    notes.append(f"{image.dtype} samples scaled to 8 bits")
    image = np.round(image.astype(np.float64) * (255 / 65535))
  elif image.dtype.kind == "f":
    notes.append(f"{image.dtype} samples taken as [0, 1] and rounded to 8 bits")
    image = np.round(np.clip(image, 0, 1) * 255)
  elif image.dtype == np.bool_:
    image = image * 255
  channels = image.shape[-1]
  if channels in (2, 4):
    notes.append("alpha channel dropped")
    image = image[..., :channels - 1]
  if image.shape[-1] == 1:
    notes.append("grayscale replicated to RGB")
    image = np.repeat(image, 3, axis=-1)
  return np.clip(image, 0, 255).astype(np.uint8), notes


def read_image(path):
  """A file Pillow can read -> ((H, W, 3) uint8, notes)."""
  try:
    with Image.open(path) as img:
      img.load()
      mode = img.mode
      if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
      elif mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img, np.uint32 if mode == "I" else np.uint16)
        array, notes = to_rgb8(array.astype(np.uint16) if mode != "I" else array)
        return array, [f"{mode} image"] + notes
      elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "1", "F"):
        img = img.convert("RGB") if mode != "F" else img
      array = np.asarray(img)
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise ImageError(f"cannot read {path!r} as an image: {e}") from e
  array, notes = to_rgb8(array)
  if mode == "P":
    notes.insert(0, "palette image expanded")
  return array, notes


def atomic_write(path, data):
  """Writes bytes to `path` via a temporary file in the same folder and a rename.

  The file gets the permissions open() would give it (0666 less the umask), not
  mkstemp's owner-only 0600.
  """
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_png(path, image):
  """(H, W, 3) uint8 -> PNG file, atomically."""
  import io
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
  atomic_write(path, buffer.getvalue())
