"""Minnen et al. 2018 ("Joint Autoregressive and Hierarchical Priors for Learned Image
Compression", NeurIPS 2018) as CompressAI's zoo has it, NHWC: `mbt2018-mean`
(MeanScaleHyperprior), the mean-and-scale hyperprior without the context model.

The transforms are Ballé et al.'s (`lic_jax.models.balle`); h_a takes y itself (not
|y|, the means need the signs) with LeakyReLUs, and h_s ends in 2M channels, the
scales and then the means of y's Gaussian.
"""
import functools

import jax
import jax.numpy as jnp

from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.models import balle, registry
from lic_jax.nn.layers import Conv2d, ConvTranspose2d

# torch.nn.LeakyReLU's default slope.
leaky_relu = functools.partial(jax.nn.leaky_relu, negative_slope=0.01)


class MeanScaleHyperprior(balle.ScaleHyperprior):
  """mbt2018-mean: z = h_a(y), y ~ N(means, scales) with (scales, means) = h_s(z_hat)."""
  config: balle.BalleConfig

  def setup(self):
    c = self.config
    N, M = c.N, c.M
    self.g_a = balle.analysis_layers(N, M)
    self.g_s = balle.synthesis_layers(N)
    self.h_a = balle.hyper_analysis_layers(N, leaky_relu)
    self.h_s = [ConvTranspose2d(M, 5, 2), leaky_relu, ConvTranspose2d(M * 3 // 2, 5, 2),
                leaky_relu, Conv2d(2 * M, 3, 1)]
    self.entropy_bottleneck = EntropyBottleneck(N)

  def hyper_analysis(self, y):
    """y (B, h, w, M) -> z (B, h/4, w/4, N)."""
    return balle.apply_layers(self.h_a, y)

  def hyper_synthesis(self, z_hat):
    """z_hat (B, h/4, w/4, N) -> (B, h, w, 2M), scales then means."""
    return balle.apply_layers(self.h_s, z_hat)

  def gaussian_params(self, hyper):
    """(B, h, w, 2M) -> (scales, means), each (B, h, w, M): compressai's chunk(2)."""
    scales, means = jnp.split(hyper, 2, axis=-1)
    return scales, means


# ---- registration -------------------------------------------------------------------
registry.register(registry.ModelSpec(
    name="mbt2018-mean", config=balle.BalleConfig, module=MeanScaleHyperprior,
    presets={"full": {"N": 192, "M": 320}, "small": {"N": 64, "M": 96},
             "test-small": {"N": 32, "M": 48},
             **balle.zoo_presets({(128, 192): range(1, 5), (192, 320): range(5, 9)})},
    converter=registry.Converter(
        # h_s's last conv gives 2M channels (bmshj2018-hyperprior's gives M).
        recognize=lambda sd: balle.hyper_outputs(sd) == 2, infer_config=balle.infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "h_a.0.weight", "h_s.4.weight")),
    anchor="mbt2018-mean",
    description="Minnen et al. 2018, mean-scale hyperprior (CompressAI zoo)"))
