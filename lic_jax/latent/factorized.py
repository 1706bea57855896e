"""Factorized prior: a latent coded with a learned per-channel density (Ballé et al.
2018's "entropy bottleneck"), no context. The CDF table row of a symbol is its channel.
"""
import dataclasses

from lic_jax.entropy import cdf
from lic_jax.latent.base import Factorized, LatentCodec
from lic_jax.latent.context import EMPTY
from lic_jax.latent.tables import StreamTables


@dataclasses.dataclass(frozen=True)
class FactorizedPrior(LatentCodec):
  """module: the model's `lic_jax.entropy.factorized.EntropyBottleneck` attribute;
  name: the stream ("z" under a hyperprior, "y" alone)."""
  module: str = "entropy_bottleneck"
  name: str = "z"

  def code(self, model, mode, y, context=EMPTY, latents=None):
    """y (B, h, w, C) -> (y_hat, {name: likelihoods})."""
    y_hat, likelihoods = mode(self.name, y, Factorized(model.stage(self.module)()))
    return y_hat, {self.name: likelihoods}

  def streams(self):
    return (self.name,)

  def stream_tables(self, params):
    return {self.name: StreamTables(cdf.factorized_tables(params[self.module]))}

  def factorized_modules(self):
    return (self.module,)
