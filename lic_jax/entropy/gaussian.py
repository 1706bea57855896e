"""Gaussian conditional model for the latent y (Ballé et al. 2018; Minnen et al. 2018).

Pure functions, no parameters: the scales and means come from the context model.
Matches compressai's GaussianConditional, including its 64-entry scale table that
maps each scale to the index of the CDF table the range coder uses.
"""
import math

import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from lic_jax.ops import lower_bound

SCALE_BOUND = 0.11
LIKELIHOOD_BOUND = 1e-9
SCALE_TABLE_RANGE = (0.11, 256.0, 64)


def default_scale_table():
  """The 64 log-spaced scales 0.11..256 (float32), bit for bit what compressai's
  get_scale_table gives: torch.exp(torch.linspace(log 0.11, log 256, 64)).

  torch's float32 linspace takes a float32 step and computes each entry with one
  rounding (a fused multiply-add), from the start for the first half and from the
  end for the second; its float32 exp is correctly rounded here. Tables computed
  from this equal the ones stored in the checkpoints.
  """
  lo, hi, levels = SCALE_TABLE_RANGE
  start, end = np.float32(math.log(lo)), np.float32(math.log(hi))
  step = (end - start) / np.float32(levels - 1)
  index = np.arange(levels)
  # A float32 product is exact in float64, so one rounding to float32 after the sum
  # is what the fused multiply-add does.
  linspace = np.where(index < levels // 2, np.float64(start) + np.float64(step) * index,
                      np.float64(end) - np.float64(step) * (levels - 1 - index))
  return np.exp(linspace.astype(np.float32).astype(np.float64)).astype(np.float32)


def standardized_cumulative(x):
  """Standard normal CDF via erfc, which keeps precision in the far tails."""
  return 0.5 * jax.scipy.special.erfc(-(2 ** -0.5) * x)


def likelihood(y_tilde, scales, means):
  """P(y_tilde) for unit-width bins around the rounded values. Shapes broadcast."""
  values = jnp.abs(y_tilde - means)
  scales = lower_bound(scales, SCALE_BOUND)
  upper = standardized_cumulative((0.5 - values) / scales)
  lower = standardized_cumulative((-0.5 - values) / scales)
  return lower_bound(upper - lower, LIKELIHOOD_BOUND)


def scale_indexes(scales, scale_table):
  """Index of the smallest table scale >= the (bounded) scale, as int32.

  compressai counts table entries (all but the last) that are >= the scale; the
  same comparisons are made here so encoder and decoder agree on every tie.
  """
  scales = jnp.maximum(scales, SCALE_BOUND)
  table = jnp.asarray(scale_table[:-1], scales.dtype)
  below = jnp.sum(scales[..., None] <= table, axis=-1)
  return (len(scale_table) - 1 - below).astype(jnp.int32)
