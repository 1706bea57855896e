"""Variable rate (Kamisli, Racapé and Choi, "Variable-Rate Learned Image Compression
with Multi-Objective Optimization and Quantization-Reconstruction Offsets", DCC 2024):
one model codes every rate, through a gain g that the caller chooses per image.

`VariableRate(inner)` codes `inner`'s latents at the gain in its context (`gain`,
shape (B,): given by the caller, e.g. `Codec.compress(image, quality=Q)` through the
model's `gain(quality)`, or per training sample). It changes no codec inside it: it
reparametrizes the distributions they hand the coding mode.

- y's Gaussian becomes a `GainedGaussian`: the residual (y - mean) * g is rounded to
  the symbol, so a larger gain is a finer quantizer (more bits); the scales times g
  pick the CDF table; and a symbol q != 0 decodes to mean + sign(q) (|q| - o) / g, the
  reconstruction offset o (from a model method of the scaled scale and the gain)
  moving it toward the mean, where a Laplacian-like latent has most of its mass.
- with `z_step` (a model method of the gain), z's factorized prior becomes a
  `SteppedFactorized`: z quantized with that step, its CDF tables computed for it when
  coding (`coding_tables`), deterministically from the step the decoder computes the
  same way (the decoding checks cover a mismatch).

Any model on a Gaussian conditional (ELIC, MLIC++, a user's own) becomes variable-rate
by wrapping its latent codec and giving it the methods named here (see
`lic_jax.models.base.VariableRateModel`). Model methods may ask for `gain` by name
(mbt2018-vbr's context model does).
"""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import cdf, factorized, gaussian
from lic_jax.latent.base import ALL, Factorized, Gaussian, LatentCodec
from lic_jax.latent.context import EMPTY, ModelDefinitionError, call
from lic_jax.latent.modes import CodingMode
from lic_jax.latent.tables import StreamTables


def _per_sample(gain):
  """(B,) or a scalar -> (B, 1, 1, 1): broadcastable to (B, h, w, C) latents."""
  return jnp.reshape(gain, (-1, 1, 1, 1))


@flax.struct.dataclass
class GainedGaussian:
  """N(means, scales) coded at gain g (B, 1, 1, 1), with reconstruction offsets (like
  the latent): see the module doc. Likelihoods are those of the symbols under
  N(means g, scales g) with unit bins, as CompressAI's forward gives them."""
  scales: jax.Array
  means: jax.Array
  gain: jax.Array
  offsets: jax.Array

  def center(self):
    return self.means

  def residual(self, y):
    return (y - self.means) * self.gain

  def dequantize(self, symbols):
    # (|q| - o) / g toward the mean; sign(0) = 0 keeps a zero symbol at the mean. The
    # reciprocal is one float32 rounding, as CompressAI's rescale.
    return jnp.sign(symbols) * (jnp.abs(symbols) - self.offsets) * (1 / self.gain) + self.means

  def symbol_likelihood(self, symbols):
    # Added to and taken from the scaled mean again, as CompressAI's GaussianConditional.
    means = self.means * self.gain
    return gaussian.likelihood(symbols + means, self.scales * self.gain, means)

  def indexes(self, scale_table, shape):
    del shape
    return gaussian.scale_indexes(self.scales * self.gain, scale_table)

  def coding_tables(self, stored):
    return stored


@flax.struct.dataclass
class SteppedFactorized:
  """The factorized prior of `lic_jax.entropy.factorized` with z quantized at `step`
  (B, 1, 1, 1): symbol round((z - median) / step), decoded symbol * step + median,
  likelihoods over bins `step` wide."""
  params: dict
  step: jax.Array

  def center(self):
    return factorized.medians(self.params)

  def residual(self, z):
    return (z - factorized.medians(self.params)) / self.step

  def dequantize(self, symbols):
    return symbols * self.step + factorized.medians(self.params)

  def symbol_likelihood(self, symbols):
    return factorized.likelihood(self.params, self.dequantize(symbols), self.step)

  def indexes(self, scale_table, shape):
    return Factorized(self.params).indexes(scale_table, shape)

  def coding_tables(self, stored):
    """The CDF tables at this step (one step: a coded stream is one image)."""
    del stored
    params = jax.tree_util.tree_map(np.asarray, self.params)
    step = np.asarray(self.step, np.float32).reshape(-1)
    if np.any(step != step[0]):
      raise ValueError("coding z at a step needs one step for the batch")
    return StreamTables(cdf.factorized_tables(params, step=step[0]))


class _AtRate(CodingMode):
  """A coding mode that hands `mode` the distributions at the codec's rate."""

  def __init__(self, mode, codec, model, gain, step):
    self.mode, self.codec, self.model = mode, codec, model
    self.gain, self.step = _per_sample(gain), None if step is None else _per_sample(step)
    self.codes_symbols, self.preview_scale = mode.codes_symbols, mode.preview_scale

  def predicts(self, name):
    return self.mode.predicts(name)

  def quantize(self, y):
    return self.mode.quantize(y)

  def __call__(self, name, y, dist, positions=ALL):
    if name == self.codec.stream and isinstance(dist, Gaussian):
      offsets = jnp.zeros_like(dist.scales)
      if self.codec.offsets:
        sigma = jnp.maximum(dist.scales * self.gain, gaussian.SCALE_BOUND)
        offsets = call(self.model, self.codec.offsets, sigma=sigma, gain=self.gain)
      dist = GainedGaussian(dist.scales, dist.means, self.gain, offsets)
    elif self.step is not None and isinstance(dist, Factorized):
      dist = SteppedFactorized(dist.params, self.step)
    return self.mode(name, y, dist, positions)


@dataclasses.dataclass(frozen=True)
class VariableRate(LatentCodec):
  """inner: the latent codec coded at the gain in the context; stream: its Gaussian
  stream that the gain scales; offsets: the model method (sigma, gain) ->
  reconstruction offsets like sigma (None: none); z_step: the model method that
  gives z's quantization step from the context (its `gain`), or None: z as it is."""
  inner: LatentCodec
  offsets: str | None = "reconstruction_offsets"
  z_step: str | None = None
  stream: str = "y"
  METHODS = ("offsets", "z_step")

  def code(self, model, mode, y, context=EMPTY, latents=None):
    if "gain" not in context:
      raise ModelDefinitionError(
          "a variable-rate model codes at the gain its caller chooses, and none was given: "
          "pass quality=... (Codec.compress, forward) or a `gain` in the context")
    step = call(model, self.z_step, context=context) if self.z_step else None
    return self.inner.code(model, _AtRate(mode, self, model, context["gain"], step), y, context,
                           latents)
