"""Ballé et al. 2018 ("Variational image compression with a scale hyperprior",
ICLR 2018) as CompressAI's zoo has them, NHWC: `bmshj2018-factorized`
(FactorizedPrior), `bmshj2018-factorized-relu` (the same with ReLU for GDN),
`bmshj2018-hyperprior` (ScaleHyperprior) and its variable-rate version
`bmshj2018-hyperprior-vbr` (Kamisli et al. 2024; `lic_jax.latent.variable_rate`).

They share the transforms (`lic_jax.nn.transforms`): g_a is four 5x5/s2 convs with
GDN between them (x16 down), g_s its mirror with 5x5/s2 transposed convs and inverse
GDN. The factorized model codes y itself with a learned per-channel density (no side
information); the hyperprior model codes z = h_a(|y|) with that density and then y
with a zero-mean Gaussian whose scales are h_s(z_hat).
"""
import jax.numpy as jnp

from lic_jax import latent
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.models import registry, zoo
from lic_jax.models.base import CompressionModel, HyperpriorModel, VariableRateModel
from lic_jax.nn import transforms
from lic_jax.nn.layers import apply_layers


class FactorizedPrior(CompressionModel):
  """bmshj2018-factorized: y = g_a(x) coded with the entropy bottleneck (stream "y")."""
  config: zoo.BalleConfig
  # Only g_a's x16 stride: there is no hyper transform.
  pad_multiple = 16

  @property
  def latent_codec(self):
    return latent.FactorizedPrior(module="entropy_bottleneck", name="y")

  def setup(self):
    c = self.config
    self.g_a = transforms.analysis_layers(c.N, c.M)
    self.g_s = transforms.synthesis_layers(c.N)
    self.entropy_bottleneck = EntropyBottleneck(c.M)


class FactorizedPriorReLU(FactorizedPrior):
  """bmshj2018-factorized-relu: ReLU where bmshj2018-factorized has GDN (CompressAI
  1.2.6's FactorizedPriorReLU; its zoo entry loads the GDN model's weights, so only
  weights of one's own exist)."""

  def setup(self):
    c = self.config
    self.g_a = transforms.analysis_layers(c.N, c.M, gdn=False)
    self.g_s = transforms.synthesis_layers(c.N, gdn=False)
    self.entropy_bottleneck = EntropyBottleneck(c.M)


class ScaleHyperprior(HyperpriorModel):
  """bmshj2018-hyperprior: z = h_a(|y|), y ~ N(0, h_s(z_hat)) per element."""
  config: zoo.BalleConfig

  @property
  def latent_codec(self):
    return latent.Hyperprior(latent.GaussianConditional(params="gaussian_params"))

  def setup(self):
    c = self.config
    self.g_a = transforms.analysis_layers(c.N, c.M)
    self.g_s = transforms.synthesis_layers(c.N)
    self.h_a = transforms.hyper_analysis_layers(c.N, transforms.relu)
    self.h_s = transforms.scale_hyper_synthesis_layers(c.N, c.M)
    self.entropy_bottleneck = EntropyBottleneck(c.N)

  def hyper_analysis(self, y):
    """y (B, h, w, M) -> z (B, h/4, w/4, N), from |y|: the scales do not depend on
    the signs."""
    return apply_layers(self.h_a, jnp.abs(y))

  def gaussian_params(self, hyper):
    """h_s's output (B, h, w, M) -> y's Gaussian: these scales, zero mean."""
    return {"scales": hyper}


class ScaleHyperpriorVariableRate(VariableRateModel, ScaleHyperprior):
  """bmshj2018-hyperprior-vbr: y coded at a gain (scales times it, reconstruction
  offsets), z at a step from it (`config.z_step`: the zoo's files)."""
  config: zoo.VariableRateConfig


# ---- registration -------------------------------------------------------------------
_BMSHJ2018_ZOO = zoo.presets({(128, 192): range(1, 6), (192, 320): range(6, 9)})
_SIZES = {"full": {"N": 192, "M": 320}, "small": {"N": 64, "M": 96},
          "test-small": {"N": 32, "M": 48}}

registry.register(registry.ModelSpec(
    name="bmshj2018-factorized", config=zoo.BalleConfig, module=FactorizedPrior,
    presets={**_SIZES, **_BMSHJ2018_ZOO},
    converter=registry.Converter(
        recognize=lambda sd: (all(k in sd for k in zoo.TRANSFORM_KEYS)
                              and "entropy_bottleneck.quantiles" in sd
                              and not zoo.has_prefix(sd, zoo.HYPER_PREFIXES
                                                     + zoo.CONTEXT_PREFIXES)),
        infer_config=zoo.infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "entropy_bottleneck.quantiles"),
        table_arrays=zoo.FACTORIZED_TABLE_ARRAYS),
    anchor="bmshj2018-factorized",
    description="Ballé et al. 2018, factorized prior (CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="bmshj2018-factorized-relu", config=zoo.BalleConfig, module=FactorizedPriorReLU,
    presets={**_SIZES, **_BMSHJ2018_ZOO},
    converter=registry.Converter(
        recognize=lambda sd: ("g_a.0.weight" in sd and "g_a.6.weight" in sd
                              and "g_a.1.gamma" not in sd and "entropy_bottleneck.quantiles" in sd
                              and not zoo.has_prefix(sd, zoo.HYPER_PREFIXES
                                                     + zoo.CONTEXT_PREFIXES)),
        infer_config=zoo.infer_config,
        signature=("g_a.0.weight", "g_a.6.weight", "entropy_bottleneck.quantiles"),
        table_arrays=zoo.FACTORIZED_TABLE_ARRAYS),
    description="Ballé et al. 2018, factorized prior with ReLU (CompressAI 1.2.6+)"))

registry.register(registry.ModelSpec(
    name="bmshj2018-hyperprior", config=zoo.BalleConfig, module=ScaleHyperprior,
    presets={**_SIZES, **_BMSHJ2018_ZOO},
    converter=registry.Converter(
        recognize=lambda sd: zoo.hyper_outputs(sd) == 1 and not zoo.is_variable_rate(sd),
        infer_config=zoo.infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "h_a.0.weight", "h_s.4.weight")),
    anchor="bmshj2018-hyperprior",
    description="Ballé et al. 2018, scale hyperprior (CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="bmshj2018-hyperprior-vbr", config=zoo.VariableRateConfig,
    module=ScaleHyperpriorVariableRate,
    presets=_SIZES, converter=zoo.variable_rate_hyperprior_converter(outputs=1),
    anchor="bmshj2018-hyperprior-vbr",
    description="Ballé et al. 2018's scale hyperprior, variable rate (Kamisli et al. 2024; "
    "CompressAI zoo)"))
