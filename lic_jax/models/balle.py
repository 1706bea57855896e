"""Ballé et al. 2018 ("Variational image compression with a scale hyperprior",
ICLR 2018) as CompressAI's zoo has them, NHWC: `bmshj2018-factorized`
(FactorizedPrior) and `bmshj2018-hyperprior` (ScaleHyperprior).

Both share the transforms: g_a is four 5x5/s2 convs with GDN between them (x16
down), g_s its mirror with 5x5/s2 transposed convs and inverse GDN. The factorized
model codes y itself with a learned per-channel density (no side information); the
hyperprior model codes z = h_a(|y|) with that density and then y with a zero-mean
Gaussian whose scales are h_s(z_hat).

The transforms are lists assigned in `setup`, with the activations in place, so that
item k is `<transform>.k` of the PyTorch nn.Sequential and Flax names its params
`<transform>_k` (`g_a.1.gamma` -> `g_a_1/gamma`), the rule of `lic_jax.conversion`.
`lic_jax.models.minnen` builds on the same pieces.
"""
import dataclasses

import jax
import jax.numpy as jnp

from lic_jax import latent
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.models import registry
from lic_jax.models.base import CompressionModel, HyperpriorModel
from lic_jax.nn.layers import GDN, Conv2d, ConvTranspose2d

relu = jax.nn.relu


@dataclasses.dataclass(frozen=True)
class BalleConfig:
  """N: channels of the transforms (and of z); M: channels of y."""
  N: int = 192
  M: int = 320


def analysis_layers(N, M):
  """g_a: x (B, H, W, 3) -> y (B, H/16, W/16, M); 5x5/s2 convs, GDN between."""
  return [Conv2d(N, 5, 2), GDN(), Conv2d(N, 5, 2), GDN(), Conv2d(N, 5, 2), GDN(),
          Conv2d(M, 5, 2)]


def synthesis_layers(N):
  """g_s: y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3); 5x5/s2 transposed convs
  (padding 2, output padding 1: exactly x2 each), inverse GDN between."""
  return [ConvTranspose2d(N, 5, 2), GDN(inverse=True), ConvTranspose2d(N, 5, 2),
          GDN(inverse=True), ConvTranspose2d(N, 5, 2), GDN(inverse=True),
          ConvTranspose2d(3, 5, 2)]


def hyper_analysis_layers(N, activation):
  """h_a: (B, h, w, M) -> z (B, h/4, w/4, N); a 3x3/s1 conv, then two 5x5/s2."""
  return [Conv2d(N, 3, 1), activation, Conv2d(N, 5, 2), activation, Conv2d(N, 5, 2)]


def apply_layers(layers, x):
  """Applies `layers` (modules, activations, and nested lists: a PyTorch Sequential
  inside the Sequential, such as cheng2020's subpel convs) in order."""
  for layer in layers:
    x = apply_layers(layer, x) if isinstance(layer, (list, tuple)) else layer(x)
  return x


class FactorizedPrior(CompressionModel):
  """bmshj2018-factorized: y = g_a(x) coded with the entropy bottleneck (stream "y")."""
  config: BalleConfig
  # Only g_a's x16 stride: there is no hyper transform.
  pad_multiple = 16

  @property
  def latent_codec(self):
    return latent.FactorizedPrior(module="entropy_bottleneck", name="y")

  def setup(self):
    c = self.config
    self.g_a = analysis_layers(c.N, c.M)
    self.g_s = synthesis_layers(c.N)
    self.entropy_bottleneck = EntropyBottleneck(c.M)

  def analysis(self, x):
    """(B, H, W, 3) -> y (B, H/16, W/16, M)."""
    return apply_layers(self.g_a, x)

  def synthesis(self, y_hat):
    """y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3), not clipped."""
    return apply_layers(self.g_s, y_hat)


class ScaleHyperprior(HyperpriorModel):
  """bmshj2018-hyperprior: z = h_a(|y|), y ~ N(0, h_s(z_hat)) per element."""
  config: BalleConfig

  @property
  def latent_codec(self):
    return latent.Hyperprior(latent.GaussianConditional(params="gaussian_params"))

  def setup(self):
    c = self.config
    N, M = c.N, c.M
    self.g_a = analysis_layers(N, M)
    self.g_s = synthesis_layers(N)
    self.h_a = hyper_analysis_layers(N, relu)
    # The final ReLU keeps the scales non-negative.
    self.h_s = [ConvTranspose2d(N, 5, 2), relu, ConvTranspose2d(N, 5, 2), relu,
                Conv2d(M, 3, 1), relu]
    self.entropy_bottleneck = EntropyBottleneck(N)

  def analysis(self, x):
    """(B, H, W, 3) -> y (B, H/16, W/16, M)."""
    return apply_layers(self.g_a, x)

  def synthesis(self, y_hat):
    """y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3), not clipped."""
    return apply_layers(self.g_s, y_hat)

  def hyper_analysis(self, y):
    """y (B, h, w, M) -> z (B, h/4, w/4, N), from |y|: the scales do not depend on
    the signs."""
    return apply_layers(self.h_a, jnp.abs(y))

  def hyper_synthesis(self, z_hat):
    """z_hat (B, h/4, w/4, N) -> (B, h, w, M), the scales of y."""
    return apply_layers(self.h_s, z_hat)

  def gaussian_params(self, hyper):
    """h_s's output -> (scales, means): zero mean (None)."""
    return hyper, None


# ---- registration -------------------------------------------------------------------
# The key structure of the shared transforms: convs at 0, 2, 4, 6 and GDNs between
# (cheng2020's g_a also has a `g_a.6.weight`, but residual blocks elsewhere).
TRANSFORM_KEYS = tuple(f"{t}.{k}.{name}" for t in ("g_a", "g_s")
                       for k, name in enumerate(("weight", "gamma") * 3 + ("weight",)))
# Key prefixes of the models with a hyperprior and of the autoregressive ones
# (mbt2018, cheng2020), which the models here must not match.
HYPER_PREFIXES = ("h_a.", "h_s.", "gaussian_conditional.")
CONTEXT_PREFIXES = ("context_prediction.", "entropy_parameters.")

FACTORIZED_TABLES = {
    "entropy_bottleneck._quantized_cdf": "y_quantized_cdf",
    "entropy_bottleneck._cdf_length": "y_cdf_length",
    "entropy_bottleneck._offset": "y_offset",
}


def has_prefix(sd, prefixes):
  return any(k.startswith(prefixes) for k in sd)


def hyper_outputs(sd):
  """Output channels of h_s's last conv, as multiples of M (1: scales; 2: scales and
  means); None if the keys are not the shared transforms' with a hyperprior."""
  keys = TRANSFORM_KEYS + ("h_a.0.weight", "h_s.4.weight")
  if not all(k in sd for k in keys) or has_prefix(sd, CONTEXT_PREFIXES):
    return None
  outputs, M = sd["h_s.4.weight"].shape[0], sd["g_a.6.weight"].shape[0]
  return outputs // M if outputs % M == 0 else None


def infer_config(sd):
  """N from g_a's first conv, M from its last (PyTorch OIHW: out channels first)."""
  return BalleConfig(N=int(sd["g_a.0.weight"].shape[0]), M=int(sd["g_a.6.weight"].shape[0]))


def zoo_presets(qualities_by_size):
  """{"q<k>": {"N": n, "M": m}} from {(N, M): qualities} (compressai/zoo/image.py)."""
  return {f"q{q}": {"N": N, "M": M} for (N, M), qs in qualities_by_size.items() for q in qs}


_BMSHJ2018_ZOO = zoo_presets({(128, 192): range(1, 6), (192, 320): range(6, 9)})
_SIZES = {"full": {"N": 192, "M": 320}, "small": {"N": 64, "M": 96},
          "test-small": {"N": 32, "M": 48}}

registry.register(registry.ModelSpec(
    name="bmshj2018-factorized", config=BalleConfig, module=FactorizedPrior,
    presets={**_SIZES, **_BMSHJ2018_ZOO},
    converter=registry.Converter(
        recognize=lambda sd: (all(k in sd for k in TRANSFORM_KEYS)
                              and "entropy_bottleneck.quantiles" in sd
                              and not has_prefix(sd, HYPER_PREFIXES + CONTEXT_PREFIXES)),
        infer_config=infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "entropy_bottleneck.quantiles"),
        tables=FACTORIZED_TABLES),
    anchor="bmshj2018-factorized",
    description="Ballé et al. 2018, factorized prior (CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="bmshj2018-hyperprior", config=BalleConfig, module=ScaleHyperprior,
    presets={**_SIZES, **_BMSHJ2018_ZOO},
    converter=registry.Converter(
        recognize=lambda sd: hyper_outputs(sd) == 1, infer_config=infer_config,
        signature=("g_a.0.weight", "g_a.1.gamma", "h_a.0.weight", "h_s.4.weight")),
    anchor="bmshj2018-hyperprior",
    description="Ballé et al. 2018, scale hyperprior (CompressAI zoo)"))
