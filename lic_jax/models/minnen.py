"""Minnen et al. 2018 ("Joint Autoregressive and Hierarchical Priors for Learned Image
Compression", NeurIPS 2018) as CompressAI's zoo has them, NHWC: `mbt2018-mean`
(MeanScaleHyperprior), the mean-and-scale hyperprior, and `mbt2018`
(JointAutoregressiveHierarchicalPriors), which adds a 5x5 masked context model; and
their variable-rate versions `mbt2018-mean-vbr` and `mbt2018-vbr` (Kamisli et al.
2024; `lic_jax.latent.variable_rate`).

The transforms are Ballé et al.'s (`lic_jax.nn.transforms`); h_a takes y itself (not
|y|, the means need the signs) with LeakyReLUs, and h_s ends in 2M channels: for
mbt2018-mean the scales and then the means of y's Gaussian; for mbt2018 features
that `entropy_parameters` (1x1 convs) joins with the context model's to give them.
mbt2018-vbr adds `scale_to_context(gain)` to the context model's output, and its
forward quantizes y wave by wave as its coder does: each position's context sees the
positions before it as they decode, with their reconstruction offsets.
"""
import flax.linen as nn
import jax.numpy as jnp

from lic_jax import latent
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.models import registry, zoo
from lic_jax.models.base import AutoregressiveHyperpriorModel, HyperpriorModel, VariableRateModel
from lic_jax.nn.layers import apply_layers
from lic_jax.nn import transforms


class MeanScaleHyperprior(HyperpriorModel):
  """mbt2018-mean: z = h_a(y), y ~ N(means, scales) with (scales, means) = h_s(z_hat)."""
  config: zoo.BalleConfig

  def setup(self):
    c = self.config
    self.g_a = transforms.analysis_layers(c.N, c.M)
    self.g_s = transforms.synthesis_layers(c.N)
    self.h_a = transforms.hyper_analysis_layers(c.N, transforms.leaky_relu)
    self.h_s = transforms.mean_scale_hyper_synthesis_layers(c.M)
    self.entropy_bottleneck = EntropyBottleneck(c.N)

  @property
  def latent_codec(self):
    return latent.Hyperprior(latent.GaussianConditional(params="gaussian_params"))

  def gaussian_params(self, hyper):
    """h_s's output (B, h, w, 2M) -> {"scales", "means"}, each (B, h, w, M):
    compressai's chunk(2)."""
    scales, means = jnp.split(hyper, 2, axis=-1)
    return {"scales": scales, "means": means}


class JointAutoregressiveHierarchicalPriors(AutoregressiveHyperpriorModel, MeanScaleHyperprior):
  """mbt2018: mbt2018-mean's transforms; y ~ N(means, scales) with (scales, means) =
  entropy_parameters(h_s(z_hat), context_prediction(y_hat)) (the entropy model of
  `AutoregressiveHyperpriorModel`, first in the bases)."""
  config: zoo.BalleConfig

  def setup(self):
    super().setup()
    self.context_prediction, self.entropy_parameters = transforms.context_layers(self.config.M)


class MeanScaleHyperpriorVariableRate(VariableRateModel, MeanScaleHyperprior):
  """mbt2018-mean-vbr: y coded at a gain (scales and means times it, reconstruction
  offsets), z at a step from it (`config.z_step`: the zoo's files)."""
  config: zoo.VariableRateConfig


class JointAutoregressiveHierarchicalPriorsVariableRate(VariableRateModel,
                                                        JointAutoregressiveHierarchicalPriors):
  """mbt2018-vbr: mbt2018 at a gain, its context shifted by a linear map of the gain;
  z as in mbt2018 (no step)."""
  config: zoo.VariableRateConfig

  @property
  def latent_codec(self):
    return latent.VariableRate(
        latent.Hyperprior(latent.RasterAutoregressive(forward_by_waves=True)))

  def setup(self):
    super().setup()
    self.scale_to_context = nn.Dense(2 * self.config.M)

  def gaussian_params(self, hyper, features, gain):
    """As mbt2018's, the context features shifted by scale_to_context(gain)."""
    shift = self.scale_to_context(gain[:, None])[:, None, None, :]
    params = apply_layers(self.entropy_parameters,
                          jnp.concatenate([hyper, features + shift], -1))
    scales, means = jnp.split(params, 2, axis=-1)
    return {"scales": scales, "means": means}


# ---- registration -------------------------------------------------------------------
_SIZES = {"full": {"N": 192, "M": 320}, "small": {"N": 64, "M": 96},
          "test-small": {"N": 32, "M": 48}}


def _is_mbt2018(sd):
  return (all(k in sd for k in zoo.TRANSFORM_KEYS) and "context_prediction.weight" in sd
          and "h_s.4.weight" in sd)

registry.register(registry.ModelSpec(
    name="mbt2018-mean", config=zoo.BalleConfig, module=MeanScaleHyperprior,
    presets={**_SIZES, **zoo.presets({(128, 192): range(1, 5), (192, 320): range(5, 9)})},
    converter=registry.Converter(
        # h_s's last conv gives 2M channels (bmshj2018-hyperprior's gives M).
        recognize=lambda sd: zoo.hyper_outputs(sd) == 2 and not zoo.is_variable_rate(sd),
        infer_config=zoo.infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "h_a.0.weight", "h_s.4.weight")),
    anchor="mbt2018-mean",
    description="Minnen et al. 2018, mean-scale hyperprior (CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="mbt2018-mean-vbr", config=zoo.VariableRateConfig, module=MeanScaleHyperpriorVariableRate,
    presets=_SIZES, converter=zoo.variable_rate_hyperprior_converter(outputs=2),
    anchor="mbt2018-mean-vbr",
    description="Minnen et al. 2018's mean-scale hyperprior, variable rate (Kamisli et al. "
    "2024; CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="mbt2018-vbr", config=zoo.VariableRateConfig,
    module=JointAutoregressiveHierarchicalPriorsVariableRate,
    presets={name: {**size, "z_step": False} for name, size in _SIZES.items()},
    converter=registry.Converter(
        recognize=lambda sd: _is_mbt2018(sd) and zoo.is_variable_rate(sd),
        infer_config=zoo.infer_variable_rate_config,
        signature=zoo.VARIABLE_RATE_KEYS + ("context_prediction.weight", "scale_to_context.weight"),
        constants=lambda key, config: zoo.mask_constant(key, config.M),
        prepare=zoo.mask_context_weight),
    anchor="mbt2018-vbr",
    description="Minnen et al. 2018, context model, variable rate (Kamisli et al. 2024; "
    "CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="mbt2018", config=zoo.BalleConfig, module=JointAutoregressiveHierarchicalPriors,
    presets={**_SIZES, **zoo.presets({(192, 192): range(1, 5), (192, 320): range(5, 9)})},
    converter=registry.Converter(
        recognize=lambda sd: _is_mbt2018(sd) and not zoo.is_variable_rate(sd),
        infer_config=zoo.infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "h_s.4.weight", "context_prediction.weight"),
        constants=lambda key, config: zoo.mask_constant(key, config.M),
        prepare=zoo.mask_context_weight),
    anchor="mbt2018",
    description="Minnen et al. 2018, context model and mean-scale hyperprior (CompressAI zoo)"))
