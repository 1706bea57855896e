"""Factorized prior ("entropy bottleneck") for the hyper-latent z.

Ballé et al. 2018, "Variational image compression with a scale hyperprior", appendix
6.1: each channel has its own univariate density, defined through its cumulative
c(x) = sigmoid(f_4(f_3(f_2(f_1(f_0(x)))))), with small monotone per-channel MLPs f_k.
The math lives in plain functions over a parameter dict; `EntropyBottleneck` only
declares the parameters (named as codex does: matrix_k, bias_k, factor_k).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.ops import lower_bound

FILTERS = (3, 3, 3, 3)
INIT_SCALE = 10.0
TAIL_MASS = 1e-9
LIKELIHOOD_BOUND = 1e-9


def logits_cumulative(params, x):
  """Logit of the cumulative density. x: (C, 1, L) -> (C, 1, L)."""
  logits = x
  for k in range(len(FILTERS) + 1):
    logits = jnp.matmul(jax.nn.softplus(params[f"matrix_{k}"]), logits)
    logits = logits + params[f"bias_{k}"]
    if k < len(FILTERS):
      logits = logits + jnp.tanh(params[f"factor_{k}"]) * jnp.tanh(logits)
  return logits


def medians(params):
  """(C,) per-channel medians, the centre z is rounded around."""
  return params["quantiles"][:, 0, 1]


def _to_channel_rows(z):
  """(..., C) -> (C, 1, L), the layout `logits_cumulative` takes."""
  channels = z.shape[-1]
  return jnp.moveaxis(z.reshape(-1, channels), -1, 0)[:, None, :]


def likelihood(params, z_tilde, step=None):
  """P(z_tilde) over unit bins, or bins `step` wide (broadcastable to z_tilde: a
  variable-rate model's z step). z_tilde: (..., C) -> (..., C)."""
  rows = _to_channel_rows(z_tilde)
  half = 0.5 if step is None else _to_channel_rows(jnp.broadcast_to(0.5 * step, z_tilde.shape))
  lower = logits_cumulative(params, rows - half)
  upper = logits_cumulative(params, rows + half)
  # Evaluate on the side of the median where the sigmoids are far from 1, so
  # the difference keeps its precision.
  sign = jax.lax.stop_gradient(-jnp.sign(lower + upper))
  lik = jnp.abs(jax.nn.sigmoid(sign * upper) - jax.nn.sigmoid(sign * lower))
  lik = lower_bound(lik, LIKELIHOOD_BOUND)
  return jnp.moveaxis(lik[:, 0, :], 0, -1).reshape(z_tilde.shape)


def aux_loss(params):
  """Pulls `quantiles` to the tail_mass/2, 1/2 and 1 - tail_mass/2 quantiles.

  Only the quantiles get gradients: the density is held fixed here, as in compressai.
  """
  density = jax.lax.stop_gradient({k: v for k, v in params.items() if k != "quantiles"})
  logits = logits_cumulative(density, params["quantiles"])
  target = np.log(2 / TAIL_MASS - 1)
  return jnp.sum(jnp.abs(logits - jnp.array([-target, 0.0, target])))


class EntropyBottleneck(nn.Module):
  """Parameters of the factorized density for `channels` channels."""
  channels: int

  @nn.compact
  def __call__(self):
    """Returns the parameter dict the functions of this module take."""
    widths = (1,) + FILTERS + (1,)
    scale = INIT_SCALE ** (1 / (len(FILTERS) + 1))
    params = {}
    for k in range(len(FILTERS) + 1):
      fan_out, fan_in = widths[k + 1], widths[k]
      init = float(np.log(np.expm1(1 / scale / fan_out)))
      params[f"matrix_{k}"] = self.param(
          f"matrix_{k}", nn.initializers.constant(init), (self.channels, fan_out, fan_in))
      params[f"bias_{k}"] = self.param(
          f"bias_{k}", _uniform(-0.5, 0.5), (self.channels, fan_out, 1))
      if k < len(FILTERS):
        params[f"factor_{k}"] = self.param(
            f"factor_{k}", nn.initializers.zeros, (self.channels, fan_out, 1))
    params["quantiles"] = self.param(
        "quantiles",
        lambda _, shape: jnp.broadcast_to(jnp.array([-INIT_SCALE, 0.0, INIT_SCALE]), shape),
        (self.channels, 1, 3))
    return params


def _uniform(low, high):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, low, high)
  return init
