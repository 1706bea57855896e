"""Hyperprior (Ballé et al. 2018): z = h_a(y) is coded first with its own codec
(a factorized prior), then y with the parameters h_s(z_hat) as context.
"""
import dataclasses

from lic_jax.latent.base import LatentCodec, is_shape, output_shape
from lic_jax.latent.factorized import FactorizedPrior


@dataclasses.dataclass(frozen=True)
class Hyperprior(LatentCodec):
  """y: the codec of y, given context (*context, hyper); z: the codec of z;
  h_a, h_s: the model methods y -> z and z_hat -> hyper."""
  y: LatentCodec
  z: LatentCodec = FactorizedPrior()
  h_a: str = "hyper_analysis"
  h_s: str = "hyper_synthesis"

  @property
  def decodes_forward(self):
    return self.y.decodes_forward and self.z.decodes_forward

  def side_latents(self, stages, y):
    return {self.z.name: getattr(stages, self.h_a)(y)}

  def code(self, stages, mode, y, context=(), latents=None):
    if latents and self.z.name in latents:
      z = latents[self.z.name]
    elif is_shape(y):
      z = output_shape(stages, self.h_a, y)
    else:
      z = getattr(stages, self.h_a)(y)
    z_hat, z_likelihoods = self.z.code(stages, mode, z)
    hyper = getattr(stages, self.h_s)(z_hat)
    y_hat, y_likelihoods = self.y.code(stages, mode, y, (*context, hyper))
    return y_hat, {**z_likelihoods, **y_likelihoods}

  def tables(self, params):
    return {**self.z.tables(params), **self.y.tables(params)}

  def prefix_units(self):
    return self.y.prefix_units()  # z, coded first, is one string
