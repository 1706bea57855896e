"""Gaussian conditional: a latent coded element by element with a Gaussian whose
scale (and mean) the model computes from the context, e.g. a hyperprior's output.
"""
import dataclasses

import jax.numpy as jnp

from lic_jax.latent.base import ALL, Gaussian, LatentCodec
from lic_jax.latent.tables import gaussian_stream_tables


@dataclasses.dataclass(frozen=True)
class GaussianConditional(LatentCodec):
  """params: the model method context -> (scales, means), each like y; means may be
  None for a zero-mean model (Ballé et al. 2018)."""
  params: str = "gaussian_params"
  name: str = "y"

  def code(self, stages, mode, y, context=(), latents=None):
    scales, means = getattr(stages, self.params)(*context)
    if means is None:
      means = jnp.zeros_like(scales)
    y_hat, likelihoods = mode(self.name, y, Gaussian(scales, means), ALL)
    return y_hat, {self.name: likelihoods}

  def tables(self, params):
    return {self.name: gaussian_stream_tables()}
