"""lic_jax.evaluation.classic: each classic codec at the smallest file of at least a
given size, checked against an exhaustive search over every setting with Pillow;
a codec whose library is missing is named with what to install."""
import io
import sys

import numpy as np
import pytest
from PIL import Image

from lic_jax import image_io
from lic_jax.demo import DEFAULT_IMAGE
from lic_jax.evaluation import classic


@pytest.fixture(scope="module")
def photo():
  pixels, _ = image_io.read_image(DEFAULT_IMAGE)
  return np.ascontiguousarray(pixels[80:208, 120:312])  # 128x192


def pillow_file(image, codec, setting):
  """The file Pillow writes with the codec's documented options, independently of
  classic.encode."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=codec.pillow_format, **codec.options(setting))
  return buffer.getvalue()


@pytest.mark.parametrize("name", classic.CODECS)
def test_smallest_file_at_least_the_target(photo, name):
  codec = classic.CODECS[name]
  assert classic.unavailable(codec) is None  # both test environments have every codec
  sizes = {setting: len(pillow_file(photo, codec, setting)) for setting in codec.settings}
  ordered = sorted(sizes.values())
  # Targets between, on and beyond the sizes Pillow makes.
  middle = len(ordered) // 2
  targets = [1, ordered[0] - 1, ordered[10], ordered[middle] + 1, ordered[-1] - 1, ordered[-1]]
  for target in targets:
    setting, data, decoded = classic.at_size(photo, target, codec)
    # Ties: the setting first in order (the lowest quality).
    best = min((s for s in sizes if sizes[s] >= target),
               key=lambda s: (sizes[s], codec.settings.index(s)))
    assert len(data) >= target
    assert (setting, len(data)) == (best, sizes[best]), (name, target)
    with Image.open(io.BytesIO(data)) as image:
      assert image.format == codec.pillow_format
      assert np.array_equal(decoded, np.asarray(image.convert("RGB")))
  # Beyond the largest file: the largest setting's file, smaller than the target.
  setting, data, _ = classic.at_size(photo, ordered[-1] + 1, name)
  assert len(data) == sizes[codec.settings[-1]] <= ordered[-1]


def test_every_codec_degrades_gracefully_with_rate(photo):
  """More bytes, closer to the photo: each codec's PSNR rises from its smallest to a
  mid-size file (the settings are in the order the files grow)."""
  for codec in classic.CODECS.values():
    errors = []
    for setting in (codec.settings[len(codec.settings) // 10], codec.settings[-10]):
      decoded = classic.decode(pillow_file(photo, codec, setting))
      errors.append(np.mean((decoded.astype(float) - photo) ** 2))
    assert errors[1] < errors[0] / 4, codec.name


def test_a_missing_plugin_is_named_with_its_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, "pillow_heif", None)
  note = classic.unavailable(classic.CODECS["HEIF"])
  assert note == ("HEIF: this codec needs pillow_heif, which is not installed: pip install "
                  "'lic_jax[classic]' (from a checkout: pip install -e '.[classic]')")
  codecs, notes = classic.available()
  assert [c.name for c in codecs] == ["JPEG", "WebP", "AVIF", "JPEG XL", "JPEG 2000"]
  assert notes == [note]


def test_unknown_codec_is_named(photo):
  with pytest.raises(ValueError, match="'PNG'"):
    classic.at_size(photo, 1000, "PNG")
