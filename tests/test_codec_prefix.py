"""Decoding a part of a stream (format 4, `Codec.decompress(groups=, max_bytes=)`):
for models with channel groups, the first K groups are the file cut after group K,
quality rises with K and the whole file decodes as before; a file cut at any byte
decodes the groups it holds whole or is refused, never to a wrong picture; models
without groups say they cannot.

The bundled default model (4 groups) and the converted MLIC++ and ELIC fixtures
(3 and 4 groups), on crops of the held-out photo.
"""
import dataclasses
import os
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import lic_jax
from conftest import bounded
from test_custom_model import tiny_codec
from lic_jax import bitstream, image_io, latent
from lic_jax.bitstream import BitstreamError, Stream
from lic_jax.codec import pad_image, to_uint8

HOLDOUT = os.path.join(os.path.dirname(lic_jax.__file__), "assets", "holdout.png")
MODELS = ["default", "mlicpp_small", "elic_small"]


def load(name, codecs):
  return lic_jax.load_model(name) if name.startswith("default") else codecs(name)


def photo(height, width):
  image, _ = image_io.read_image(HOLDOUT)
  return image[37:37 + height, 91:91 + width]


def psnr(a, b):
  return 10 * np.log10(255 ** 2 / np.mean(np.square(a.astype(np.float64) - b)))


def layout(codec, data):
  """(groups, units per group, [end of the file after unit k, k = 0 (z only) ..])."""
  info = bitstream.info(data)
  units, groups = codec.layout.units, codec.layout.groups
  sizes = info["string_bytes"]
  assert list(sizes) == ["z", *(f"{units}{k}" for k in range(len(sizes) - 1))]
  ends = np.cumsum([info["header_bytes"], *sizes.values()]).tolist()
  return groups, (len(sizes) - 1) // groups, ends[1:]


def decode_cut(codec, data):
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    image = codec.decompress(data)
  return image, [str(w.message) for w in caught]


@pytest.mark.filterwarnings("ignore:the stream is cut short")  # max_bytes cuts it
@pytest.mark.parametrize("name", MODELS)
def test_the_first_k_groups_are_the_file_cut_after_group_k(name, codecs):
  """Decoding K groups is decoding the file cut after group K, for every K, with the
  warning that says so. The picture gets no worse group by group beyond 0.5 dB: the
  default model's second group alone adds little (the groups after it are filled with
  their predicted means; on this photo 13.33 dB after one group, 13.19 after two, 24.95
  after three), and the whole file is the best of all."""
  codec, image = load(name, codecs), photo(128, 192)
  data = codec.compress(image)
  groups, per_group, ends = layout(codec, data)
  whole = codec.decompress(data)
  quality = []
  for k in range(groups + 1):
    part = codec.decompress(data, groups=k)
    end = ends[k * per_group]
    assert np.array_equal(part, codec.decompress(data, max_bytes=end + per_group - 1))
    if k < groups:
      cut, said = decode_cut(codec, data[:end])
      assert np.array_equal(part, cut)
      assert said == [f"the stream is cut short: decoded {k} of {groups} channel groups "
                      f"({k * per_group} of {groups * per_group} coded units)"]
    quality.append(psnr(part, image))
  assert np.array_equal(part, whole)
  print(name, "PSNR after each group:", [round(q, 2) for q in quality])
  assert all(b > a - 0.5 for a, b in zip(quality, quality[1:])), quality
  assert quality[-1] == max(quality) and quality[-1] > quality[0], quality
  with pytest.raises(BitstreamError, match="truncated"):
    codec.decompress(data[:-1], complete=True)


def test_the_layout_costs_under_one_percent_and_decodes_as_before():
  """The bundled model on the whole held-out photo (at quality 5, its smaller files):
  the prefix layout against one y string (the layout of format 3), the same image
  either way."""
  codec = lic_jax.load_model("default")
  image, _ = image_io.read_image(HOLDOUT)
  data = codec.compress(image, quality=5)
  latents = codec.latents(image, quality=5)
  mode = latent.Encode(codec.coder, codec.stream_tables, latent.StreamLayout())  # one y string
  codec.model.latent_codec.code(codec.stages, mode, latents["y"], latents=latents,
                                context=codec.rate(5)[0])
  old = dataclasses.replace(Stream.from_bytes(data), strings=mode.strings(),
                            checks=mode.checks()).to_bytes()
  assert list(Stream.from_bytes(old).strings) == ["z", "y"]
  print(f"prefix layout {len(data)} bytes, one y string {len(old)}: "
        f"+{len(data) / len(old) - 1:.2%}")
  assert len(old) < len(data) <= 1.01 * len(old)
  assert np.array_equal(codec.decompress(data), codec.decompress(old))


@pytest.mark.parametrize("name", ["default", "elic_small"])
def test_a_cut_at_any_byte_decodes_its_whole_groups_or_is_refused(name, codecs):
  """Every byte of a small stream: the parse (what the prefix holds) at each, and one
  decode per distinct prefix, which equals the decode of those units; random cuts of
  a larger one, decoded each. Never a wrong picture, each decode bounded in time."""
  codec = load(name, codecs)
  for image, cuts in ((photo(64, 64), None), (photo(256, 384), 12)):
    data = codec.compress(image)
    groups, per_group, ends = layout(codec, data)
    header = ends[0] - bitstream.info(data)["string_bytes"]["z"]
    rng = np.random.default_rng(0)
    positions = range(len(data)) if cuts is None else rng.integers(0, len(data), cuts)
    by_units = {}
    for n in positions:
      if n < ends[0]:
        with pytest.raises(BitstreamError):
          bounded(lambda: codec.decompress(data[:n]), 30)
        if n >= header:  # the header is whole: the file holds no z yet
          assert not Stream.from_bytes(data[:n], prefix=True).strings
        continue
      units = sum(end <= n for end in ends[1:])
      if units not in by_units:
        (cut, said), seconds = bounded(lambda: decode_cut(codec, data[:n]), 30)
        # What the prefix holds decodes as these units of the whole file would.
        expected = codec.decompress(data, groups=units // per_group)
        if units % per_group:  # and a group's anchor half
          assert said and f"({units} of " in said[0]
        else:
          assert np.array_equal(cut, expected)
        by_units[units] = cut
      else:
        assert {*Stream.from_bytes(data[:n], prefix=True).strings} == {
            "z", *(f"y{k}" for k in range(units))}


def test_a_corrupt_prefix_is_refused_or_decodes_right(codecs):
  """A byte flipped inside the strings a cut file holds: its decoding checks refuse
  it (or the flip did not change a symbol: the same picture)."""
  codec = codecs("elic_small")
  data = codec.compress(photo(128, 192))
  groups, per_group, ends = layout(codec, data)
  cut = data[:ends[2 * per_group] + 3]
  right, _ = decode_cut(codec, cut)
  rng = np.random.default_rng(1)
  outcomes = []
  for position in rng.integers(ends[0] - 40, len(cut), 30):
    flipped = bytearray(cut)
    flipped[position] ^= int(rng.integers(1, 256))
    try:
      image, _ = decode_cut(codec, bytes(flipped))
      outcomes.append("same" if np.array_equal(image, right) else "wrong")
    except BitstreamError:
      outcomes.append("refused")
  assert "wrong" not in outcomes and outcomes.count("refused") >= 20, outcomes


def test_models_without_groups_cannot_decode_a_part(codecs):
  codec = codecs("compressai/bmshj2018_hyperprior_small")
  assert codec.layout.units is None
  data = codec.compress(photo(64, 64))
  assert list(bitstream.info(data)["string_bytes"]) == ["z", "y"]
  for part in ({"groups": 1}, {"max_bytes": len(data) // 2}):
    with pytest.raises(ValueError, match="no channel groups, so it cannot decode a part"):
      codec.decompress(data, **part)
  with pytest.raises(BitstreamError, match="truncated"):
    codec.decompress(data[:-5])


def test_a_preview_is_the_first_groups_synthesised_smaller():
  """preview(scale=1) is the partial decode itself; at scale 2 and 4 (the default) a
  picture half and a quarter the size on each side, the groups after the first K
  predicted on the coarse grid whatever the file holds beyond them, that comes closer
  to the photo downscaled with every group decoded (the default model at its default
  quality, the whole photo; measured, PSNR dB against the photo downscaled, K = 0, 1, 3:
  scale 2 9.91, 12.56, 18.66; scale 4 10.12, 12.38, 16.75)."""
  codec = lic_jax.load_model("default")
  image, _ = image_io.read_image(HOLDOUT)
  data = codec.compress(image)
  assert np.array_equal(codec.preview(data, groups=2, scale=1), codec.decompress(data, groups=2))
  from PIL import Image
  for scale, floor in ((2, 12), (4, 11.5)):
    small = codec.preview(data, scale=scale)
    assert small.shape == (400 // scale, 600 // scale, 3)
    reference = np.asarray(Image.fromarray(image).resize((600 // scale, 400 // scale), Image.BOX))
    first = psnr(small, reference)
    z_alone, three = (psnr(codec.preview(data, groups=k, scale=scale), reference) for k in (0, 3))
    assert z_alone + 1 < first and floor < first and first + 3 < three
  assert np.array_equal(codec.preview(data), codec.preview(data, groups=1, scale=4))
  # A preview of a partial download: no warning; the same picture as of the whole file.
  cut = data[:len(data) // 2]
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert np.array_equal(codec.preview(cut, groups=1), codec.preview(data, groups=1))
  with pytest.raises(ValueError, match="scale"):
    codec.preview(data, scale=3)


def test_a_model_of_ones_own_on_channel_groups_decodes_parts():
  """tests/test_custom_model.py's model: nothing in it is about prefixes."""
  codec = tiny_codec()
  assert codec.layout == latent.StreamLayout(units="y", groups=2)
  image = photo(64, 96)
  data = codec.compress(image)
  groups, per_group, ends = layout(codec, data)
  assert (groups, per_group) == (2, 2)
  assert np.array_equal(codec.decompress(data),
                        to_uint8(codec.forward(pad_image(image))["x_hat"], 64, 96))
  cut, said = decode_cut(codec, data[:ends[2] + 2])
  assert np.array_equal(cut, codec.decompress(data, groups=1)) and "1 of 2" in said[0]
  # Its preview: the second group predicted on a grid 2 or 4 times coarser.
  assert codec.preview(data, scale=2).shape == (32, 48, 3)
  assert codec.preview(data).shape == (16, 24, 3)
  assert np.array_equal(codec.preview(data[:ends[2] + 2]), codec.preview(data))
  with pytest.raises(ValueError, match="a 6x4 latent grid does not divide into 4x4 blocks"):
    latent.average_blocks(jnp.zeros((1, 4, 6, 2)), 4)
