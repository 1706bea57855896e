"""The small networks of a variable-rate model (Kamisli, Racapé and Choi, DCC 2024) as
CompressAI 1.2.8 has them, NHWC, and the gain of a quality.

Layer lists (item k is `<name>.k` of the PyTorch nn.Sequential, as in
`lic_jax.nn.transforms`), applied with `lic_jax.nn.layers.apply_layers`:

  offset_layers   QuantABCD: the reconstruction offset from (scaled scale, gain)
  z_step_layers   gayn2zqstep: z's quantization step from 1 / gain, before its
                  lower bound of Z_STEP_MIN
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# CompressAI's initial gains: 1 / the quantization steps 10 ... 1, log-spaced.
INITIAL_GAINS = (0.1, 0.13944, 0.19293, 0.26874, 0.37268, 0.51801, 0.71957, 1.0)
Z_STEP_MIN = 0.5


def initial_gains(levels):
  """`levels` gains log-spaced from 0.1 to 1 (CompressAI's 8 for 8 levels)."""
  if levels == len(INITIAL_GAINS):
    return np.float32(INITIAL_GAINS)
  return np.geomspace(0.1, 1.0, levels).astype(np.float32)


def offset_layers():
  """(B, h, w, C, 2) [scale, gain] -> (B, h, w, C, 1): Linear 2-12-12-1, ReLU between.
  Fresh, the offsets are zero (the last layer starts at zero): a variable-rate model
  started from a fixed-rate one reconstructs as it did."""
  return [nn.Dense(12), jax.nn.relu, nn.Dense(12), jax.nn.relu,
          nn.Dense(1, kernel_init=nn.initializers.zeros)]


def z_step_layers():
  """(B, 1) 1 / gain -> (B, 1): Linear 1-10-10-1, ReLU between, then softplus. Fresh,
  the step is 1 at every gain (z quantized as a fixed-rate model quantizes it)."""
  return [nn.Dense(10), jax.nn.relu, nn.Dense(10), jax.nn.relu,
          nn.Dense(1, kernel_init=nn.initializers.zeros,
                   bias_init=nn.initializers.constant(np.log(np.expm1(1.0)))),
          jax.nn.softplus]


def log_interpolate(values, quality):
  """The value of `quality` (B,) in [1, len(values)] on a ladder of positive values
  (a variable-rate model's gains, or its lambdas): values[q - 1] at a whole q, and in
  between the geometric interpolation of its two neighbours (the ladders are about
  log-spaced, and so then is the rate)."""
  levels = values.shape[0]
  index = jnp.clip(jnp.floor(quality).astype(jnp.int32) - 1, 0, levels - 1)
  upper = jnp.minimum(index + 1, levels - 1)
  fraction = quality - 1 - index
  # values[index] * ratio ** 0 is values[index] exactly, so whole qualities are exact.
  return values[index] * (values[upper] / values[index]) ** fraction
