"""Rate-distortion losses, as the original MLIC++ `RateDistortionLoss`.

    rate       R = sum over the streams (y, and z with a hyperprior) of -sum(log2 p),
                   in bits per pixel
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

from lic_jax import metrics

METRICS = ("mse", "ms-ssim")
LIKELIHOODS = "_likelihoods"


def _bits_per_image(likelihoods):
  """-sum log2 p over all but the batch axis: (B, ...) -> (B,)."""
  axes = tuple(range(1, likelihoods.ndim))
  return jnp.sum(jnp.log(likelihoods), axis=axes) / -math.log(2)


def _ms_ssim_per_image(x_hat, x):
  """MS-SSIM of each image, (B, H, W, 3) -> (B,), data range 1. Each image is scored
  alone, which works whether `metrics.ms_ssim` returns one value per batch or per image."""
  return jax.vmap(lambda a, b: jnp.mean(metrics.ms_ssim(a[None], b[None])))(x_hat, x)


def per_image_terms(out, x, lmbda, metric="mse"):
  """The loss and its parts for each image of a batch.

  out: the model's forward dict (x_hat and `<stream>_likelihoods` for each stream);
  x: (B, H, W, 3) in [0, 1]. Returns a dict of (B,) arrays: loss, bpp, `<stream>_bpp`
  for each stream (y_bpp, and z_bpp with a hyperprior), mse, and ms_ssim for the
  MS-SSIM metric.
  """
  if metric not in METRICS:
    raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
  num_pixels = x.shape[1] * x.shape[2]
  streams = sorted(k[:-len(LIKELIHOODS)] for k in out if k.endswith(LIKELIHOODS))
  if not streams:
    raise ValueError(f"the forward dict has no *{LIKELIHOODS} (keys: {sorted(out)})")
  terms = {f"{name}_bpp": _bits_per_image(out[name + LIKELIHOODS]) / num_pixels
           for name in streams}
  terms["bpp"] = sum(terms[f"{name}_bpp"] for name in streams)
  terms["mse"] = mse = jnp.mean(jnp.square(out["x_hat"] - x), axis=(1, 2, 3))
  if metric == "mse":
    terms["loss"] = lmbda * 255.0 ** 2 * mse + terms["bpp"]
  else:
    terms["ms_ssim"] = _ms_ssim_per_image(out["x_hat"], x)
    terms["loss"] = lmbda * (1.0 - terms["ms_ssim"]) + terms["bpp"]
  return terms


def batch_means(per_image):
  """`per_image_terms` as the original logs a batch (scalars): their means, and psnr
  of the batch MSE (on the unclipped x_hat)."""
  terms = {k: jnp.mean(v) for k, v in per_image.items()}
  terms["psnr"] = metrics.psnr(terms["mse"])
  return terms


def rate_distortion(out, x, lmbda, metric="mse"):
  """The batch loss of the original (scalars): `batch_means` of `per_image_terms`."""
  return batch_means(per_image_terms(out, x, lmbda, metric))
