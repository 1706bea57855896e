"""The bundled default model (lic_jax/assets/default, a variable-rate ELIC) and demo
photo (holdout.png).

Both always ship (the demo has no fallback): here they must exist.
`lic_jax.load_model("default")` loads it (float16 weights come back as float32, with
the stream hash of those weights); a crop of the held-out photo codes losslessly
through the stream at every level (the decoded image is forward's x_hat at that
quality, rounded), the rate rising with the quality and the PSNR too until the small
model saturates; a stream written today (tests/data/streams) decodes to the same
image. A crop keeps the compiles small.
"""
import json
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import __main__ as cli
from lic_jax import bitstream, image_io, metrics, model_dir
from lic_jax.codec import pad_image, to_uint8

ASSETS = os.path.join(os.path.dirname(lic_jax.__file__), "assets")
HOLDOUT = os.path.join(ASSETS, "holdout.png")
STREAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "streams")


@pytest.fixture(scope="module")
def crop():
  pixels, _ = image_io.read_image(HOLDOUT)
  return np.ascontiguousarray(pixels[100:196, 200:328])  # 96x128 -> pads to 128x128


def test_the_assets_ship():
  folder = os.path.join(ASSETS, "default")
  assert os.path.isfile(os.path.join(folder, model_dir.META_FILE)), (
      f"{folder} is missing: tools/make_default_model.sh makes it")
  assert os.path.isfile(HOLDOUT)
  assert model_dir.resolve("default") == folder


def test_it_loads_as_float32_with_its_hash():
  codec = lic_jax.load_model("default")
  meta = model_dir.read_meta("default")
  assert codec.model_hash == meta["model_hash"] and meta["weights_dtype"] == "float16"
  assert codec.qualities == (1, meta["config"]["levels"])
  assert codec.default_quality == meta["default_quality"]
  leaves = __import__("jax").tree_util.tree_leaves(codec.params)
  assert all(leaf.dtype == np.float32 for leaf in leaves)
  # The stored hash is that of the weights as loaded (float32 of the float16 values).
  _, params, _ = model_dir.load("default")
  assert model_dir.model_hash(meta["arch"], meta["config"], params) == meta["model_hash"]


def test_holdout_crop_round_trip_at_every_level(crop):
  height, width = crop.shape[:2]
  codec = lic_jax.load_model("default")
  scores = []
  for quality in range(1, codec.qualities[1] + 1):
    data = codec.compress(crop, quality=quality)
    info = bitstream.info(data)
    assert info["arch"] == codec.arch and info["format_version"] == 5
    decoded = codec.decompress(data)
    out = codec.forward(pad_image(crop, codec.pad_multiple), quality=quality)
    assert np.array_equal(decoded, to_uint8(out["x_hat"], height, width)), quality
    scores.append((8 * len(data) / (height * width),
                   metrics.psnr(metrics.mse_uint8(crop, decoded), 255)))
  # A trained model: a photo crop codes at a sane rate and quality (untrained: about
  # 10 dB), the rate rising with the quality and the PSNR with it, but where the small
  # model saturates (above about 0.8 bpp; on this crop q8 33.90 dB, q9 33.88, q10 33.95).
  rates, psnrs = np.array(scores).T
  assert 0.05 < rates[0] and rates[-1] < 4 and psnrs[0] > 18, scores
  assert np.all(np.diff(rates) > 0) and np.all(np.diff(psnrs) > -0.1), scores
  assert np.all(np.diff(psnrs[rates < 0.8]) > 0) and psnrs[-1] > psnrs[0] + 5, scores


def test_compress_takes_a_quality_and_decompress_needs_none(tmp_path, capsys, crop):
  image_io.write_png(str(tmp_path / "crop.png"), crop)
  assert cli.main(["compress", "--model", "default", "--quality", "2.5",
                   str(tmp_path / "crop.png"), str(tmp_path / "a.lic")]) == 0
  assert "quality 2.5" in capsys.readouterr().out
  assert cli.main(["decompress", "--model", "default", str(tmp_path / "a.lic"),
                   str(tmp_path / "a.png")]) == 0
  data = (tmp_path / "a.lic").read_bytes()
  codec = lic_jax.load_model("default")
  assert data == codec.compress(crop, quality=2.5)
  decoded, _ = image_io.read_image(str(tmp_path / "a.png"))
  assert np.array_equal(decoded, codec.decompress(data))
  # Out of range: one line, nothing written.
  top = codec.qualities[1]
  assert cli.main(["compress", "--model", "default", "--quality", str(top + 0.5),
                   str(tmp_path / "crop.png"), str(tmp_path / "b.lic")]) == 1
  assert f"from 1 to {top}" in capsys.readouterr().err
  assert not (tmp_path / "b.lic").exists()


@pytest.mark.parametrize("name", sorted(
    json.load(open(os.path.join(STREAMS, "streams.json")))["streams"]))
def test_streams_written_before_decode_to_the_same_image(name):
  """The demo photo's streams of the default model as lic_jax wrote them when it
  shipped (tests/data/streams; tests/test_coder.py holds the numba coder to
  TensorFlow's op): the decoding checks pass (every symbol and CDF index as the
  encoder coded it), and the image is the one decoded then: the same PSNR to 0.005 dB
  (the test suite compiles at another XLA optimization level, which moves the
  synthesis' float rounding; under the default flags it is the same image to the bit,
  its recorded sha256)."""
  with open(os.path.join(STREAMS, "streams.json")) as f:
    expected = json.load(f)["streams"][name]
  with open(os.path.join(STREAMS, name), "rb") as f:
    data = f.read()
  assert len(data) == expected["bytes"]
  codec = lic_jax.load_model("default")
  assert bitstream.info(data)["model_hash"] == codec.model_hash
  decoded = codec.decompress(data)
  original, _ = image_io.read_image(HOLDOUT)
  mse = np.mean(np.square(decoded.astype(np.float64) - original))
  assert 10 * np.log10(255 ** 2 / mse) == pytest.approx(expected["psnr_vs_holdout"], abs=0.005)
