"""The classic codecs a learned codec is compared with: JPEG and WebP through Pillow,
each at the smallest file size at or above a given one (the comparison then never
favours lic_jax by giving the classic codec fewer bytes).

    quality, data, decoded = classic.at_size(image, target_bytes, "WebP")
"""
import io

import numpy as np
from PIL import Image

FORMATS = ("JPEG", "WebP")
QUALITIES = range(1, 101)  # Pillow's quality scale (JPEG treats 0 as 1)


def encode(image, fmt, quality):
  """The bytes of `image` (uint8 (H, W, 3)) in `fmt` at Pillow's `quality` (its
  defaults otherwise: 4:2:0 chroma for JPEG, method 4 for WebP)."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=fmt, quality=quality)
  return buffer.getvalue()


def decode(data):
  """uint8 (H, W, 3) of a JPEG or WebP file's bytes."""
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(image.convert("RGB"))


def at_size(image, target_bytes, fmt):
  """(quality, file bytes, decoded uint8 image) of the smallest `fmt` file of `image` with at
  least target_bytes (ties: the lower quality); the highest quality's if none is that big.

  Sizes grow with quality almost everywhere, so a bisection finds the first quality
  that reaches the target; its neighbours are checked too, where the growth is not
  monotone."""
  if fmt not in FORMATS:
    raise ValueError(f"unknown classic format {fmt!r}; one of {FORMATS}")
  sizes = {}

  def size(quality):
    if quality not in sizes:
      sizes[quality] = encode(image, fmt, quality)
    return len(sizes[quality])

  low, high = QUALITIES[0], QUALITIES[-1]
  if size(high) < target_bytes:
    quality = high
  else:
    while low < high:
      middle = (low + high) // 2
      low, high = (middle + 1, high) if size(middle) < target_bytes else (low, middle)
    for neighbour in range(max(low - 2, QUALITIES[0]), min(low + 3, QUALITIES[-1] + 1)):
      size(neighbour)
    quality = min((q for q in sizes if len(sizes[q]) >= target_bytes),
                  key=lambda q: (len(sizes[q]), q))
  return quality, sizes[quality], decode(sizes[quality])
