"""The bundled default model's two operating points (lic_jax/assets/default-q1 and
default-q2) and demo photo (holdout.png).

All always ship (the demo has no fallback): here they must exist.
`lic_jax.load_model("default-q1")` loads a point (float16 weights come back as
float32, with the stream hash of those weights), "default" is default-q2; a crop of
the held-out photo codes losslessly through the stream (the decoded image is
forward's x_hat, rounded), at a lower rate and quality at q1 than at q2. A crop keeps
the compiles small.
"""
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import __main__ as cli
from lic_jax import bitstream, image_io, metrics, model_dir
from lic_jax.codec import pad_image, to_uint8

ASSETS = os.path.join(os.path.dirname(lic_jax.__file__), "assets")
POINTS = ("default-q1", "default-q2")
HOLDOUT = os.path.join(ASSETS, "holdout.png")


def test_the_assets_ship():
  for point in POINTS:
    folder = os.path.join(ASSETS, point)
    assert os.path.isfile(os.path.join(folder, model_dir.META_FILE)), (
        f"{folder} is missing: tools/make_default_model.sh makes it")
  assert os.path.isfile(HOLDOUT)
  assert model_dir.curve("default") == POINTS
  assert model_dir.resolve("default") == os.path.join(ASSETS, "default-q2")


@pytest.mark.parametrize("point", POINTS)
def test_a_point_loads_as_float32_with_its_hash(point):
  codec = lic_jax.load_model(point)
  meta = model_dir.read_meta(point)
  assert meta == model_dir.read_meta(os.path.join(ASSETS, point))
  assert codec.model_hash == meta["model_hash"] and meta["weights_dtype"] == "float16"
  leaves = __import__("jax").tree_util.tree_leaves(codec.params)
  assert all(leaf.dtype == np.float32 for leaf in leaves)
  # The stored hash is that of the weights as loaded (float32 of the float16 values).
  _, params, _ = model_dir.load(point)
  assert model_dir.model_hash(meta["arch"], meta["config"], params) == meta["model_hash"]


def test_holdout_crop_round_trip_at_both_points():
  pixels, _ = image_io.read_image(HOLDOUT)
  crop = np.ascontiguousarray(pixels[100:196, 200:328])  # 96x128 -> pads to 128x128
  height, width = crop.shape[:2]
  scores = []
  for point in POINTS:
    codec = lic_jax.load_model(point)
    data = codec.compress(crop)
    assert bitstream.info(data)["arch"] == codec.arch
    decoded = codec.decompress(data)
    out = codec.forward(pad_image(crop, codec.pad_multiple))
    assert np.array_equal(decoded, to_uint8(out["x_hat"], height, width))
    scores.append((8 * len(data) / (height * width),
                   metrics.psnr(metrics.mse_uint8(crop, decoded), 255)))
  # Trained models: a photo crop codes at a sane rate and quality (untrained: about
  # 10 dB), the low-rate point at fewer bits and a lower PSNR.
  (low_bpp, low_psnr), (high_bpp, high_psnr) = scores
  assert 0.05 < low_bpp < high_bpp < 3 and 18 < low_psnr < high_psnr, scores


def test_decompress_with_default_picks_the_point_that_wrote_the_stream(tmp_path, capsys):
  pixels, _ = image_io.read_image(HOLDOUT)
  image_io.write_png(str(tmp_path / "crop.png"), np.ascontiguousarray(pixels[100:196, 200:328]))
  assert cli.main(["compress", "--model", "default-q1", str(tmp_path / "crop.png"),
                   str(tmp_path / "q1.lic")]) == 0
  assert cli.main(["decompress", "--model", "default", str(tmp_path / "q1.lic"),
                   str(tmp_path / "q1.png")]) == 0
  data = (tmp_path / "q1.lic").read_bytes()
  decoded, _ = image_io.read_image(str(tmp_path / "q1.png"))
  assert np.array_equal(decoded, lic_jax.load_model("default-q1").decompress(data))
  # Where a single model is meant, "default" is q2: it refuses q1's stream by its hash.
  with pytest.raises(bitstream.BitstreamError, match="hash"):
    lic_jax.load_model("default").decompress(data)


@pytest.mark.parametrize("name", ["default-q1_holdout.lic", "default-q2_holdout.lic"])
@pytest.mark.parametrize("version", [3, 2, 1])
def test_streams_of_earlier_versions_decode_with_the_default_coder(name, version):
  """The demo photo's streams as the TensorFlow coder wrote them before the numba coder
  existed (tests/data/streams), and in formats 2 and 1: decoded with the default
  coder (numba, no TensorFlow needed). The format-3 decoding checks pass (every
  symbol and CDF index as the encoder coded it), and the image is the one that
  version decoded: the same PSNR to 0.005 dB (the test suite compiles at another XLA
  optimization level, which moves the synthesis' float rounding; under the default
  flags it is the same image to the bit, its recorded sha256)."""
  import json
  folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "streams")
  with open(os.path.join(folder, "streams.json")) as f:
    expected = json.load(f)["streams"][name]
  with open(os.path.join(folder, name), "rb") as f:
    data = f.read()
  assert len(data) == expected["bytes"]
  data = bitstream.Stream.from_bytes(data).to_bytes(version=version)
  codec = lic_jax.load_model(name.split("_")[0])
  assert codec.coder.name == "numba"
  decoded = codec.decompress(data)
  original, _ = image_io.read_image(HOLDOUT)
  mse = np.mean(np.square(decoded.astype(np.float64) - original))
  assert 10 * np.log10(255 ** 2 / mse) == pytest.approx(expected["psnr_vs_holdout"], abs=0.005)
