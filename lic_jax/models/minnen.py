"""Minnen et al. 2018 ("Joint Autoregressive and Hierarchical Priors for Learned Image
Compression", NeurIPS 2018) as CompressAI's zoo has them, NHWC: `mbt2018-mean`
(MeanScaleHyperprior), the mean-and-scale hyperprior, and `mbt2018`
(JointAutoregressiveHierarchicalPriors), which adds a 5x5 masked context model.

The transforms are Ballé et al.'s (`lic_jax.models.balle`); h_a takes y itself (not
|y|, the means need the signs) with LeakyReLUs, and h_s ends in 2M channels: for
mbt2018-mean the scales and then the means of y's Gaussian; for mbt2018 features
that `entropy_parameters` (1x1 convs) joins with the context model's to give them.
`lic_jax.models.cheng2020` builds on the same pieces.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import latent
from lic_jax.entropy import raster
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.models import balle, registry
from lic_jax.nn.layers import Conv2d, ConvTranspose2d, MaskedConv2d

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


class ContextModel:
  """The context model and entropy parameters of mbt2018 and cheng2020 (a mixin of
  their Flax modules, which set `context_prediction` and `entropy_parameters` up):
  y's Gaussian from h_s's output and a 5x5 masked conv over the decoded y."""

  @property
  def latent_codec(self):
    return latent.Hyperprior(latent.RasterAutoregressive())

  def gaussian_params(self, hyper, features):
    """h_s's output (B, h, w, 2M) and the context's (B, h, w, 2M) -> (scales,
    means), each (B, h, w, M); any spatial shape (1x1 convs)."""
    return jnp.split(balle.apply_layers(self.entropy_parameters,
                                        jnp.concatenate([hyper, features], -1)), 2, axis=-1)


def context_layers(M):
  """context_prediction and entropy_parameters (compressai's widths) for y of M
  channels."""
  entropy_parameters = [Conv2d(M * 10 // 3, 1), leaky_relu, Conv2d(M * 8 // 3, 1), leaky_relu,
                        Conv2d(M * 6 // 3, 1)]
  return MaskedConv2d(2 * M, 5), entropy_parameters


class JointAutoregressiveHierarchicalPriors(ContextModel, MeanScaleHyperprior):
  """mbt2018: mbt2018-mean's transforms; y ~ N(means, scales) with (scales, means) =
  entropy_parameters(h_s(z_hat), context_prediction(y_hat))."""
  config: balle.BalleConfig

  def setup(self):
    super().setup()
    self.context_prediction, self.entropy_parameters = context_layers(self.config.M)


# ---- registration -------------------------------------------------------------------
def mask_constant(key, M):
  """The mask compressai stores beside the context model's weight (OIHW, type A),
  for `key` "context_prediction.mask" (else None): checked, not converted."""
  if key != "context_prediction.mask":
    return None
  return np.broadcast_to(raster.mask(5), (2 * M, M, 5, 5))


def mask_context_weight(sd):
  """The converter's `prepare`: the context weight masked, as compressai masks it on
  every forward (its 1.2.0b3 decompress used the stored weight as it was)."""
  weight = sd["context_prediction.weight"]
  return {**sd, "context_prediction.weight": weight * raster.mask(weight.shape[-1])}


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

registry.register(registry.ModelSpec(
    name="mbt2018", config=balle.BalleConfig, module=JointAutoregressiveHierarchicalPriors,
    presets={"full": {"N": 192, "M": 320}, "small": {"N": 64, "M": 96},
             "test-small": {"N": 32, "M": 48},
             **balle.zoo_presets({(192, 192): range(1, 5), (192, 320): range(5, 9)})},
    converter=registry.Converter(
        recognize=lambda sd: (all(k in sd for k in balle.TRANSFORM_KEYS)
                              and "context_prediction.weight" in sd and "h_s.4.weight" in sd),
        infer_config=balle.infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "h_s.4.weight", "context_prediction.weight"),
        constants=lambda key, config: mask_constant(key, config.M),
        prepare=mask_context_weight),
    anchor="mbt2018",
    description="Minnen et al. 2018, context model and mean-scale hyperprior (CompressAI zoo)"))
