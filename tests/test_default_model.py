"""The bundled default model (lic_jax/assets/default) and demo photo (holdout.png).

Both always ship (the demo has no fallback): here they must exist.
`lic_jax.load_model("default")` loads it (float16 weights come back as float32, with
the stream hash of those weights); a crop of the held-out photo codes losslessly
through the stream: the decoded image is forward's x_hat, rounded. A crop keeps the
compiles small.
"""
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import bitstream, checkpoint, image_io, metrics
from lic_jax.codec import pad_image, to_uint8

ASSETS = os.path.join(os.path.dirname(lic_jax.__file__), "assets")
DEFAULT = os.path.join(ASSETS, "default")
HOLDOUT = os.path.join(ASSETS, "holdout.png")


def test_the_assets_ship():
  assert os.path.isfile(os.path.join(DEFAULT, checkpoint.META_FILE)), (
      f"{DEFAULT} is missing: tools/make_default_model.sh makes it")
  assert os.path.isfile(HOLDOUT)


@pytest.fixture(scope="module")
def codec():
  return lic_jax.load_model("default")


def test_default_resolves_to_the_bundled_model(codec):
  meta = checkpoint.read_meta("default")
  assert meta == checkpoint.read_meta(DEFAULT)
  assert codec.model_hash == meta["model_hash"]
  leaves = __import__("jax").tree_util.tree_leaves(codec.params)
  assert all(leaf.dtype == np.float32 for leaf in leaves)
  # The stored hash is that of the weights as loaded (float32 of the float16 values).
  _, params, _ = checkpoint.load("default")
  assert checkpoint.model_hash(meta["arch"], meta["config"], params) == meta["model_hash"]


@pytest.mark.coder
def test_holdout_crop_round_trip(codec):
  pixels, _ = image_io.read_image(HOLDOUT)
  crop = np.ascontiguousarray(pixels[100:196, 200:328])  # 96x128 -> pads to 128x128
  height, width = crop.shape[:2]
  data = codec.compress(crop)
  assert bitstream.info(data)["arch"] == codec.arch
  decoded = codec.decompress(data)
  out = codec.forward(pad_image(crop, codec.pad_multiple))
  assert np.array_equal(decoded, to_uint8(out["x_hat"], height, width))
  # A trained model: a photo crop codes at a sane rate and quality.
  bpp = 8 * len(data) / (height * width)
  assert bpp < 3, bpp
  assert metrics.psnr(metrics.mse_uint8(crop, decoded), 255) > 18  # untrained: about 10 dB
