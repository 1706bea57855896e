"""Hyperprior (Ballé et al. 2018): z = h_a(y) is coded first with its own codec
(a factorized prior), then y with `hyper` = h_s(z_hat) in its context.
"""
import dataclasses

from lic_jax.latent.base import LatentCodec, is_shape, output_shape
from lic_jax.latent.context import EMPTY, call
from lic_jax.latent.factorized import FactorizedPrior


@dataclasses.dataclass(frozen=True)
class Hyperprior(LatentCodec):
  """y: the codec of y, given the context with `hyper` added; z: the codec of z;
  h_a, h_s: the model methods y -> z and z_hat -> hyper."""
  y: LatentCodec
  z: LatentCodec = FactorizedPrior()
  h_a: str = "hyper_analysis"
  h_s: str = "hyper_synthesis"
  METHODS = ("h_a", "h_s")

  def children(self):
    return (self.z, self.y)  # z is coded first

  def side_latents(self, model, y):
    return {**self.y.side_latents(model, y), self.z.streams()[0]: call(model, self.h_a, y)}

  def code(self, model, mode, y, context=EMPTY, latents=None):
    z_name = self.z.streams()[0]
    if latents and z_name in latents:
      z = latents[z_name]
    elif is_shape(y):
      z = output_shape(model, self.h_a, y)
    else:
      z = call(model, self.h_a, y)
    z_hat, z_likelihoods = self.z.code(model, mode, z, context)
    hyper = call(model, self.h_s, z_hat)
    y_hat, y_likelihoods = self.y.code(model, mode, y, context.add(hyper=hyper), latents)
    return y_hat, {**z_likelihoods, **y_likelihoods}
