"""The slice loop that forward, compress and decompress share.

A model with channel slices and checkerboard halves provides three methods, the
slice step:

  anchor_params(i, hyper, previous) -> (scales, means, contexts)
  nonanchor_params(i, anchor_q, hyper, previous, contexts) -> (anchor_hat, scales, means)
  finish_slice(i, y_hat_slice, hyper, previous) -> y_hat_slice

where `previous` holds the decoded slices < i on channels (zero channels for slice 0).
`run_slices` calls them in coding order and asks a `quantize` callback for each half.
The callback is what differs: rounding (or noise) in `forward`, range encoding in
compress, range decoding in decompress.
"""
import jax
import jax.numpy as jnp

from lic_jax.entropy import checkerboard, factorized, gaussian
from lic_jax.ops import ste_round

HALVES = {"anchor": checkerboard.anchor, "nonanchor": checkerboard.nonanchor}


def run_slices(step, hyper, num_slices, quantize):
  """Decodes all slices through `step`; returns y_hat (B, h, w, M).

  quantize(i, half, scales, means) -> the quantized half of slice i: full-size
  (B, h, w, C_i), zero outside the half. `half` is "anchor" or "nonanchor".
  """
  b, h, w, _ = hyper.shape
  previous = jnp.zeros((b, h, w, 0), hyper.dtype)
  for i in range(num_slices):
    scales, means, contexts = step.anchor_params(i, hyper, previous)
    anchor_q = quantize(i, "anchor", scales, means)
    anchor_hat, scales, means = step.nonanchor_params(i, anchor_q, hyper, previous, contexts)
    nonanchor_q = quantize(i, "nonanchor", scales, means)
    y_hat_slice = step.finish_slice(i, anchor_hat + nonanchor_q, hyper, previous)
    previous = jnp.concatenate([previous, y_hat_slice], axis=-1)
  return previous


def split_slices(y, widths):
  """(B, h, w, sum(widths)) -> list of (B, h, w, width)."""
  bounds = [sum(widths[:k]) for k in range(1, len(widths))]
  return jnp.split(y, bounds, axis=-1)


def forward(model, x, rng=None):
  """x (B, H, W, 3) in [0, 1], H and W multiples of 64 -> dict of
  x_hat (B, H, W, 3), y_likelihoods (B, H/16, W/16, M), z_likelihoods (B, H/64, W/64, N).

  Without `rng`: evaluation, y and z rounded around their means / medians. With it:
  training, additive uniform noise for the likelihoods and straight-through
  rounding for y_hat and z_hat (the original's training forward).
  """
  y = model.analysis(x)
  return forward_latents(model, y, model.hyper_analysis(y), rng)


def forward_latents(model, y, z, rng=None):
  """`forward` from given latents y (B, h, w, M) and z (B, h/4, w/4, N) on: the
  decoder's view of them, with the rates. `forward` passes g_a's and h_a's; the
  encoder's refinement (`lic_jax.refine`) passes its own."""
  eb_params = model.entropy_bottleneck_params()
  medians = factorized.medians(eb_params)
  z_hat = ste_round(z - medians) + medians
  if rng is None:
    z_tilde = z_hat
  else:
    rng_z, rng = jax.random.split(rng)
    z_tilde = z + jax.random.uniform(rng_z, z.shape, z.dtype, -0.5, 0.5)
  widths = model.config.slice_widths
  y_slices = split_slices(y, widths)
  # ELIC's quant='noise' trains on noisy latents (compressai's "noise" mode), the
  # noise of y_hat drawn apart from that of the y likelihoods, as in the original.
  noisy_slices = None
  if rng is not None and getattr(model.config, "quant", "ste") == "noise":
    rng_hat, rng = jax.random.split(rng)
    z_hat = z_tilde
    noisy_slices = split_slices(
        y + jax.random.uniform(rng_hat, y.shape, y.dtype, -0.5, 0.5), widths)
  z_likelihoods = factorized.likelihood(eb_params, z_tilde)
  hyper = model.hyper_synthesis(z_hat)
  gaussians = [{} for _ in widths]

  def quantize(i, half, scales, means):
    mask = HALVES[half]
    scales, means = mask(scales), mask(means)
    gaussians[i][half] = (scales, means)
    if noisy_slices is not None:
      return mask(noisy_slices[i])
    return mask(ste_round(mask(y_slices[i]) - means) + means)

  y_hat = run_slices(model, hyper, len(widths), quantize)

  y_likelihoods = []
  for i, y_slice in enumerate(y_slices):
    # The halves are zero off their positions, so their sum is the merged slice.
    scales = gaussians[i]["anchor"][0] + gaussians[i]["nonanchor"][0]
    means = gaussians[i]["anchor"][1] + gaussians[i]["nonanchor"][1]
    if rng is None:
      y_tilde = jnp.round(y_slice - means) + means
    else:
      rng_y, rng = jax.random.split(rng)
      y_tilde = y_slice + jax.random.uniform(rng_y, y_slice.shape, y.dtype, -0.5, 0.5)
    y_likelihoods.append(gaussian.likelihood(y_tilde, scales, means))

  return {
      "x_hat": model.synthesis(y_hat),
      "y_likelihoods": jnp.concatenate(y_likelihoods, axis=-1),
      "z_likelihoods": z_likelihoods,
      "y_hat": y_hat,
  }
