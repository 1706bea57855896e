"""lic_jax.evaluation.classic: JPEG and WebP at the smallest file of at least a given
size, checked against an exhaustive search over every quality with Pillow."""
import io

import numpy as np
import pytest
from PIL import Image

from lic_jax import image_io
from lic_jax.demo import DEFAULT_IMAGE
from lic_jax.evaluation import classic


@pytest.fixture(scope="module")
def photo():
  pixels, _ = image_io.read_image(DEFAULT_IMAGE)
  return np.ascontiguousarray(pixels[80:272, 120:376])  # 192x256


@pytest.mark.parametrize("fmt", classic.FORMATS)
def test_smallest_file_at_least_the_target(photo, fmt):
  sizes = {}
  for quality in classic.QUALITIES:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format=fmt, quality=quality)
    sizes[quality] = buffer.tell()
  ordered = sorted(sizes.values())
  # Targets between, on and beyond the sizes Pillow makes.
  targets = [1, ordered[0] - 1, ordered[10], ordered[50] + 1, ordered[-1] - 1, ordered[-1]]
  for target in targets:
    quality, data, decoded = classic.at_size(photo, target, fmt)
    best = min((q for q in sizes if sizes[q] >= target), key=lambda q: (sizes[q], q))
    assert (quality, len(data)) == (best, sizes[best]), (fmt, target)
    assert len(data) >= target
    with Image.open(io.BytesIO(data)) as image:
      assert image.format.lower() == fmt.lower()
      assert np.array_equal(decoded, np.asarray(image.convert("RGB")))
  # Beyond the largest file: the largest file, said by its size being below the target.
  quality, data, _ = classic.at_size(photo, ordered[-1] + 1, fmt)
  assert len(data) == ordered[-1] and sizes[quality] == ordered[-1]


def test_unknown_format_is_named(photo):
  with pytest.raises(ValueError, match="'PNG'"):
    classic.at_size(photo, 1000, "PNG")
