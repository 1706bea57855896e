"""Rate-distortion losses, as the original MLIC++ `RateDistortionLoss`.

    rate       R = -sum(log2 p(y_tilde)) - sum(log2 p(z_tilde)), in bits per pixel
    MSE        L = lambda * 255^2 * MSE(x_hat, x) + R
    MS-SSIM    L = lambda * (1 - MS-SSIM(x_hat, x)) + R

x_hat is the synthesis output, not clipped (the original scores it unclipped too).
Every term is computed per image first, shape (B,), so training (their means) and
validation (weighted sums over a padded last batch) share one definition. For images
of one size the mean of per-image terms equals the batch terms of the original.
"""
import math

import jax
import jax.numpy as jnp

METRICS = ("mse", "ms-ssim")


def _bits_per_image(likelihoods):
  """-sum log2 p over all but the batch axis: (B, ...) -> (B,)."""
  axes = tuple(range(1, likelihoods.ndim))
  return jnp.sum(jnp.log(likelihoods), axis=axes) / -math.log(2)


def _ms_ssim_per_image(x_hat, x):
  """MS-SSIM of each image, (B, H, W, 3) -> (B,), data range 1.

  Uses `lic_jax.metrics.ms_ssim`, imported here so that MSE training never
  needs it. Each image is scored alone, which works whether that function returns one
  value per batch or one per image.
  """
  from lic_jax.metrics import ms_ssim
  return jax.vmap(lambda a, b: jnp.mean(ms_ssim(a[None], b[None])))(x_hat, x)


def per_image_terms(out, x, lmbda, metric="mse"):
  """The loss and its parts for each image of a batch.

  out: the model's forward dict (x_hat, y_likelihoods, z_likelihoods); x: (B, H, W, 3)
  in [0, 1]. Returns a dict of (B,) arrays: loss, bpp, y_bpp, z_bpp, mse, and ms_ssim
  for the MS-SSIM metric.
  """
  if metric not in METRICS:
    raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
  num_pixels = x.shape[1] * x.shape[2]
  y_bpp = _bits_per_image(out["y_likelihoods"]) / num_pixels
  z_bpp = _bits_per_image(out["z_likelihoods"]) / num_pixels
  bpp = y_bpp + z_bpp
  mse = jnp.mean(jnp.square(out["x_hat"] - x), axis=(1, 2, 3))
  terms = {"bpp": bpp, "y_bpp": y_bpp, "z_bpp": z_bpp, "mse": mse}
  if metric == "mse":
    terms["loss"] = lmbda * 255.0 ** 2 * mse + bpp
  else:
    terms["ms_ssim"] = _ms_ssim_per_image(out["x_hat"], x)
    terms["loss"] = lmbda * (1.0 - terms["ms_ssim"]) + bpp
  return terms


def rate_distortion(out, x, lmbda, metric="mse"):
  """The batch loss of the original (scalars): loss, bpp, y_bpp, z_bpp, mse, psnr
  (of the batch MSE, on the unclipped x_hat) and ms_ssim for that metric."""
  terms = {k: jnp.mean(v) for k, v in per_image_terms(out, x, lmbda, metric).items()}
  terms["psnr"] = psnr(terms["mse"])
  return terms


def psnr(mse):
  """PSNR in dB for images in [0, 1]."""
  return -10.0 * jnp.log10(jnp.maximum(mse, 1e-20))
