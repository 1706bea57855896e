"""The base classes of every model: analysis and synthesis transforms and a latent codec.

A model subclasses `CompressionModel` (a Flax module with a frozen `config`), defines
its submodules in `setup`, and provides

  analysis(x)      (B, H, W, 3) -> y; by default g_a applied to x
  synthesis(y_hat) -> x_hat (B, H, W, 3), not clipped; by default g_s applied to y_hat
  latent_codec     a `lic_jax.latent` codec tree (a property: it may read the config)
  and the methods its latent codec names (hyper_analysis, gaussian_params, ...), each
  asking for the context values it needs by parameter name (`lic_jax.latent.call`).

The forward pass, the likelihoods and (through `lic_jax.codec`) compress and
decompress then all follow from the latent codec. Building a model checks that it
defines every method its latent codec names (`lic_jax.latent.check_methods`).
"""
import functools

import flax.linen as nn
import jax.numpy as jnp

from lic_jax.latent import (EMPTY, Hyperprior, Likelihoods, RasterAutoregressive, VariableRate,
                            call, check_methods)
from lic_jax.nn import variable_rate
from lic_jax.nn.layers import apply_layers


def forward_from_latents(model, latents, rng=None, context=EMPTY):
  """latents {"y": y, side latents (e.g. "z")} -> dict of x_hat, y_hat and
  `<name>_likelihoods` for every stream. Evaluation mode without `rng`; with it,
  training mode (noise for the likelihoods, rounding per the config's `quant`).

  model: the bound model, or the codec's jitted stages (same methods); context:
  what the caller gives the latent codec (a variable-rate model's `gain`)."""
  mode = Likelihoods(rng, getattr(model.config, "quant", "ste"))
  y_hat, likelihoods = model.latent_codec.code(model, mode, latents["y"], context, latents)
  out = {f"{name}_likelihoods": value for name, value in likelihoods.items()}
  return {"x_hat": call(model, "synthesis", y_hat), **out, "y_hat": y_hat}


def analyze(model, x):
  """x -> {"y": analysis(x), plus the side latents the latent codec derives}."""
  y = call(model, "analysis", x)
  return {"y": y, **model.latent_codec.side_latents(model, y)}


@functools.lru_cache(maxsize=None)
def _check(model_class, latent_codec):
  check_methods(model_class, latent_codec)


class CompressionModel(nn.Module):
  """A learned image codec; NHWC. See the module doc for what a subclass defines."""
  # Images are padded to a multiple of this (the total stride of the transforms).
  pad_multiple = 64

  def __post_init__(self):
    # Flax clones a module for every init and apply: the check runs once per class
    # and latent codec.
    _check(type(self), self.latent_codec)
    super().__post_init__()

  @property
  def model_class(self):
    return type(self)

  def stage(self, name):
    """The method or submodule `name` (what `lic_jax.latent.call` calls)."""
    return getattr(self, name)

  def __call__(self, x, rng=None, quality=None):
    """x (B, H, W, 3) in [0, 1], H and W multiples of `pad_multiple` -> dict of
    x_hat, y_hat and the likelihoods of each stream (y, and z with a hyperprior).
    quality (B,): the rate of each image, for a variable-rate model."""
    return forward_from_latents(self, analyze(self, x), rng, self.rate_context(quality))

  def forward_latents(self, latents, rng=None, quality=None):
    """The forward pass from given latents (the encoder's refinement passes its own)."""
    return forward_from_latents(self, latents, rng, self.rate_context(quality))

  def rate_context(self, quality):
    """The latent codec's context for images at `quality`: none for a model of one
    rate (`VariableRateModel` gives the gain)."""
    if quality is not None:
      raise ValueError(f"{type(self).__name__} codes one rate: it takes no quality")
    return EMPTY

  def latents(self, x):
    """x -> the latents the encoder codes, see `analyze`."""
    return analyze(self, x)

  def analysis(self, x):
    """(B, H, W, 3) -> y (B, H/16, W/16, M)."""
    return apply_layers(self.g_a, x)

  def synthesis(self, y_hat):
    """y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3), not clipped."""
    return apply_layers(self.g_s, y_hat)


class HyperpriorModel(CompressionModel):
  """A model whose submodules (or layer lists) g_a, g_s, h_a, h_s (compressai's
  names) are the analysis, synthesis and hyper transforms."""

  def hyper_analysis(self, y):
    """y (B, h, w, M) -> z (B, h/4, w/4, N)."""
    return apply_layers(self.h_a, y)

  def hyper_synthesis(self, z_hat):
    """z_hat (B, h/4, w/4, N) -> the hyper parameters (B, h, w, ...)."""
    return apply_layers(self.h_s, z_hat)


class AutoregressiveHyperpriorModel(HyperpriorModel):
  """Minnen et al. 2018's entropy model (mbt2018, and cheng2020 in CompressAI):
  y's Gaussian from h_s's output and a masked context model over the decoded y.
  A subclass sets up `context_prediction` (`nn.layers.MaskedConv2d`) and
  `entropy_parameters` (1x1 convs, any spatial shape)."""

  @property
  def latent_codec(self):
    return Hyperprior(RasterAutoregressive())

  def context_model(self, y_hat, rows=None, cols=None):
    """The masked context over y_hat (B, h, w, M) -> (B, h, w, 2M), or at the given
    positions only -> (B, K, 1, 2M) (wavefront coding)."""
    return self.context_prediction(y_hat, rows, cols)

  def gaussian_params(self, hyper, features):
    """h_s's output (B, h, w, 2M) and the context's (B, h, w, 2M) -> {"scales",
    "means"}, each (B, h, w, M); any spatial shape (1x1 convs)."""
    params = apply_layers(self.entropy_parameters, jnp.concatenate([hyper, features], -1))
    scales, means = jnp.split(params, 2, axis=-1)
    return {"scales": scales, "means": means}


class VariableRateModel(CompressionModel):
  """A model that codes every rate (`lic_jax.latent.VariableRate`, Kamisli et al.
  2024): `levels` learned gains, one per training lambda, a quality in [1, levels]
  between them (`lic_jax.nn.variable_rate.log_interpolate`), the reconstruction-offset
  network and, with `config.z_step`, z's step network, under CompressAI's names
  (`Gain`, `QuantABCD`, `gayn2zqstep`) so that its zoo files convert.

  Put it before a fixed-rate model in the bases, with a config that has `levels` and
  `z_step`: `class MyModelVR(VariableRateModel, MyModel)`. It wraps that model's
  latent codec and adds these parameters to its setup.
  """

  @property
  def latent_codec(self):
    return VariableRate(super().latent_codec, z_step="z_step" if self.config.z_step else None)

  def setup(self):
    super().setup()
    self.Gain = self.param("Gain", lambda _, shape: jnp.asarray(
        variable_rate.initial_gains(shape[0])), (self.config.levels,))
    self.QuantABCD = variable_rate.offset_layers()
    if self.config.z_step:
      self.gayn2zqstep = variable_rate.z_step_layers()

  def rate_context(self, quality):
    """quality None is the highest, `levels` (what `init` runs at)."""
    return EMPTY.add(gain=self.gain(self.config.levels if quality is None else quality))

  def gain(self, quality):
    """quality (B,) in [1, levels] -> the gain of each image (B,)."""
    quality = jnp.reshape(jnp.asarray(quality, jnp.float32), (-1,))
    return variable_rate.log_interpolate(jnp.abs(self.Gain), quality)

  def reconstruction_offsets(self, sigma, gain):
    """The offset of a decoded symbol toward the mean (QuantABCD), per element of
    sigma (the scales times the gain, lower-bounded), given the gain (B, 1, 1, 1)."""
    features = jnp.stack([sigma, jnp.broadcast_to(gain, sigma.shape)], axis=-1)
    return apply_layers(self.QuantABCD, features)[..., 0]

  def z_step(self, gain):
    """z's quantization step at each gain (B,): a network of 1 / gain, at least
    Z_STEP_MIN."""
    step = apply_layers(self.gayn2zqstep, (1 / gain)[:, None])[:, 0]
    return jnp.maximum(step, variable_rate.Z_STEP_MIN)
