"""Encoder-side latent refinement (lic_jax.refine, `compress(..., refine_steps=K)`).

On the bundled default model (variable rate: it records its levels' lambdas; the
refinement runs at its default quality and that quality's lambda) and a crop of the
held-out photo: the refined stream decodes, bit for bit, to what the encoder's
refined latents give; it codes the crop at a lower real rate-distortion cost (file
bits and decoded pixels) than the plain encoder; it is deterministic; and a model
without a recorded lambda asks for one.
"""
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import image_io, model_dir, refine
from lic_jax.codec import Codec, pad_image, to_uint8

STEPS = 40


@pytest.fixture(scope="module")
def codec():
  return lic_jax.load_model("default")


@pytest.fixture(scope="module")
def crop():
  holdout = os.path.join(os.path.dirname(lic_jax.__file__), "assets", "holdout.png")
  pixels, _ = image_io.read_image(holdout)
  return np.ascontiguousarray(pixels[100:196, 200:328])  # 96x128 -> pads to 128x128


def rd_cost(image, data, decoded, lmbda):
  """The loss refinement lowers, measured on the real stream: lambda*255^2*MSE + bpp."""
  mse = np.mean((image.astype(np.float64) - decoded) ** 2) / 255.0 ** 2
  return lmbda * 255.0 ** 2 * mse + 8 * len(data) / image[..., 0].size


def test_refined_stream_decodes_to_the_refined_latents(codec, crop):
  height, width = crop.shape[:2]
  latents = codec.latents(crop, refine_steps=STEPS)
  assert set(latents) == {"y", "z"}
  data = codec.compress(crop, refine_steps=STEPS)
  assert codec.compress(crop, refine_steps=STEPS) == data, "refined compress is not deterministic"
  assert codec.compress_latents(latents, height, width) == data
  decoded = codec.decompress(data)
  # What the encoder meant: the evaluation forward from its refined latents.
  assert np.array_equal(decoded, to_uint8(codec.forward_latents(latents)["x_hat"], height, width))
  # ... which refine_latents gives from the analysis transforms' latents
  x = pad_image(crop)
  start = {"y": codec.stages.stage("analysis")(x)}
  start["z"] = codec.stages.stage("hyper_analysis")(start["y"])
  refined = refine.refine_latents(codec.model, codec.params, x, start, height=height,
                                  width=width, steps=STEPS, lmbda=codec.lmbda_at(),
                                  quality=codec.default_quality)
  assert all(np.array_equal(refined[k], latents[k]) for k in ("y", "z"))
  assert not np.array_equal(refined["y"], start["y"])

  plain = codec.compress(crop)
  lmbda = codec.lmbda_at()
  plain_cost = rd_cost(crop, plain, codec.decompress(plain), lmbda)
  refined_cost = rd_cost(crop, data, decoded, lmbda)
  print(f"RD cost {plain_cost:.3f} ({len(plain)} bytes) -> {refined_cost:.3f} "
        f"({len(data)} bytes) after {STEPS} steps")
  assert refined_cost < 0.97 * plain_cost


def test_refining_needs_a_lambda(codec, crop):
  meta, params, tables = model_dir.load("default")
  unlabelled = Codec(meta["arch"], meta["config"], params, tables, meta["model_hash"])
  assert unlabelled.lmbda is None
  with pytest.raises(ValueError, match="lambda"):
    unlabelled.compress(crop, refine_steps=1)
  with pytest.raises(ValueError, match="refine_steps"):
    codec.compress(crop, refine_steps=-1)
