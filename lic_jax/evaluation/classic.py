"""The classic codecs a learned codec is compared with, each at the smallest file size
at or above a given one (the comparison then never favours lic_jax by giving the
classic codec fewer bytes). All run through Pillow, two through plugins (the
`classic` extra); each with its encoder's default speed and chroma subsampling:

| codec     | encoder                              | searched setting        | fixed           |
|-----------|--------------------------------------|-------------------------|-----------------|
| JPEG      | libjpeg(-turbo), Pillow              | quality 1..100          | 4:2:0           |
| WebP      | libwebp, Pillow                      | quality 0..100          | method 4, 4:2:0 |
| AVIF      | libavif with aom (AV1 intra), Pillow | quality 0..100          | speed 6, 4:2:0  |
| JPEG XL   | libjxl, pillow-jxl-plugin            | quality 0..99           | effort 7        |
| HEIF      | libheif with x265 (HEVC intra:       | quality 0..100          | x265's default  |
|           | BPG's coding), pillow-heif           |                         | preset, 4:2:0   |
| JPEG 2000 | OpenJPEG, Pillow                     | compression ratio, 512  | one quality     |
|           |                                      | geometric steps 2..1000 | layer           |

    codec = classic.CODECS["AVIF"]
    setting, data, decoded = classic.at_size(image, target_bytes, codec)
"""
import dataclasses
import importlib
import importlib.util
import io
from typing import Callable

import numpy as np
from PIL import Image, features

from lic_jax import extras


@dataclasses.dataclass(frozen=True)
class ClassicCodec:
  """A classic codec as Pillow runs it, with the one setting that trades size for
  quality.

  settings: the values of that setting, in the order files grow (almost
    everywhere: `at_size` checks neighbours); options(setting) -> Image.save's
    keyword arguments. label(setting) names a file made with it ("q42").
  feature: the Pillow feature that must be built in, or plugin: the module that
    adds the format (from the `classic` extra)."""
  name: str
  pillow_format: str
  suffix: str
  encoder: str
  settings: tuple
  options: Callable
  label: Callable = lambda setting: f"q{setting}"
  feature: str | None = None
  plugin: str | None = None

  @property
  def key(self):
    """The prefix of this codec's fields in evaluation rows ("jpeg-xl-bpp")."""
    return self.name.lower().replace(" ", "-")


def _quality(**fixed):
  return lambda quality: dict(quality=quality, **fixed)


def _register_heif():
  import pillow_heif
  pillow_heif.register_heif_opener()


CODECS = {codec.name: codec for codec in (
    ClassicCodec("JPEG", "JPEG", "jpg", "libjpeg (Pillow), 4:2:0", tuple(range(1, 101)),
                 _quality(), feature="jpg"),
    ClassicCodec("WebP", "WEBP", "webp", "libwebp (Pillow), method 4", tuple(range(0, 101)),
                 _quality(), feature="webp"),
    ClassicCodec("AVIF", "AVIF", "avif", "libavif + aom (Pillow), speed 6, 4:2:0",
                 tuple(range(0, 101)), _quality(speed=6, codec="aom"), feature="avif"),
    # quality 100 asks libjxl for lossless, which the plugin takes separately.
    ClassicCodec("JPEG XL", "JXL", "jxl", "libjxl (pillow-jxl-plugin), effort 7",
                 tuple(range(0, 100)), _quality(effort=7, num_threads=1),
                 plugin="pillow_jxl"),
    ClassicCodec("HEIF", "HEIF", "heic", "libheif + x265 (pillow-heif), 4:2:0",
                 tuple(range(0, 101)), _quality(), plugin="pillow_heif"),
    ClassicCodec("JPEG 2000", "JPEG2000", "jp2", "OpenJPEG (Pillow), one layer",
                 tuple(float(r) for r in np.round(np.geomspace(1000, 2, 512), 3)),
                 lambda ratio: dict(quality_mode="rates", quality_layers=[ratio]),
                 label=lambda ratio: f"ratio{ratio:g}", feature="jpg_2000"),
)}
_REGISTER = {"pillow_heif": _register_heif, "pillow_jxl": lambda: importlib.import_module(
    "pillow_jxl")}


def unavailable(codec):
  """None if `codec` can encode here, else a line saying what to install."""
  if codec.feature is not None:
    if features.check(codec.feature):
      return None
    return (f"{codec.name}: this Pillow ({Image.__version__}) was built without it; "
            "install a Pillow wheel from PyPI (pip install --upgrade pillow)")
  if importlib.util.find_spec(codec.plugin) is None:
    return f"{codec.name}: {extras.missing('classic', 'this codec')}"
  _REGISTER[codec.plugin]()
  return None


def available(names=None):
  """(codecs that can encode here, lines saying what to install for the others), of
  `names` (default: all)."""
  codecs, notes = [], []
  for name in names or CODECS:
    note = unavailable(CODECS[name])
    (notes.append(note) if note else codecs.append(CODECS[name]))
  return codecs, notes


def encode(image, codec, setting):
  """The bytes of `image` (uint8 (H, W, 3)) coded by `codec` at `setting`."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=codec.pillow_format, **codec.options(setting))
  return buffer.getvalue()


def decode(data):
  """uint8 (H, W, 3) of a classic file's bytes (any format Pillow reads here)."""
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(image.convert("RGB"))


def at_size(image, target_bytes, codec):
  """(setting, file bytes, decoded uint8 image) of the smallest file of `image` by
  `codec` (a ClassicCodec or its name) with at least target_bytes (ties: the setting
  first in order, the lowest quality); the last setting's if none is that big.

  Sizes grow with the setting almost everywhere, so a bisection finds the first
  setting that reaches the target; its neighbours are checked too, where the growth
  is not monotone."""
  if not isinstance(codec, ClassicCodec):
    if codec not in CODECS:
      raise ValueError(f"unknown classic codec {codec!r}; one of {', '.join(CODECS)}")
    codec = CODECS[codec]
  settings = codec.settings
  sizes = {}

  def size(index):
    if index not in sizes:
      sizes[index] = encode(image, codec, settings[index])
    return len(sizes[index])

  low, high = 0, len(settings) - 1
  if size(high) < target_bytes:
    index = high
  else:
    while low < high:
      middle = (low + high) // 2
      low, high = (middle + 1, high) if size(middle) < target_bytes else (low, middle)
    for neighbour in range(max(low - 2, 0), min(low + 3, len(settings))):
      size(neighbour)
    index = min((i for i in sizes if len(sizes[i]) >= target_bytes),
                key=lambda i: (len(sizes[i]), i))
  return settings[index], sizes[index], decode(sizes[index])
