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
  """The 64 log-spaced scales 0.11..256 (float32), as compressai's get_scale_table."""
  lo, hi, levels = SCALE_TABLE_RANGE
  return np.exp(np.linspace(math.log(lo), math.log(hi), levels)).astype(np.float32)


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
