"""Gaussian conditional: a latent coded element by element with a Gaussian whose
scale (and mean) the model computes from the context, e.g. a hyperprior's output.
"""
import dataclasses

from lic_jax.latent.base import Gaussian, LatentCodec
from lic_jax.latent.context import EMPTY, call
from lic_jax.latent.tables import gaussian_stream_tables


@dataclasses.dataclass(frozen=True)
class GaussianConditional(LatentCodec):
  """params: the model method that gives y's Gaussian from the context values it
  asks for (e.g. `hyper`): {"scales": ..., "means": ...}, each like y; "means"
  absent or None for a zero-mean model (Ballé et al. 2018)."""
  params: str = "gaussian_params"
  name: str = "y"
  METHODS = ("params",)

  def code(self, model, mode, y, context=EMPTY, latents=None):
    dist = Gaussian.of(call(model, self.params, context=context))
    y_hat, likelihoods = mode(self.name, y, dist)
    return y_hat, {self.name: likelihoods}

  def streams(self):
    return (self.name,)

  def stream_tables(self, params):
    return {self.name: gaussian_stream_tables()}
