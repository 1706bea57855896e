"""What the latent codecs share: positions, distributions and the `LatentCodec` base.

A latent codec computes the entropy parameters of a latent once, through the
model's own methods (called by name: `lic_jax.latent.context`), and hands the
latent, its distribution and the positions coded by that call to a coding mode
(`lic_jax.latent.modes`): the likelihoods of training and evaluation, or the coder's
encode and decode. So training, evaluation, compress and decompress share one
parameter computation and one coding order (docs/design.md).
"""
import dataclasses
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import checkerboard, factorized, gaussian
from lic_jax.latent.context import EMPTY
from lic_jax.latent.layout import StreamLayout


def _identity(x):
  return x


@dataclasses.dataclass(frozen=True)
class Positions:
  """The positions of a (B, h, w, C) latent that one call codes.

  mask: zeroes the other positions; squeeze: keeps only these positions, in coding
  order; unsqueeze: back to the full grid, zero elsewhere.
  """
  name: str
  mask: Callable = _identity
  squeeze: Callable = _identity
  unsqueeze: Callable = _identity


ALL = Positions("all")
ANCHOR = Positions("anchor", checkerboard.anchor, checkerboard.squeeze_anchor,
                   checkerboard.unsqueeze_anchor)
NONANCHOR = Positions("nonanchor", checkerboard.nonanchor, checkerboard.squeeze_nonanchor,
                      checkerboard.unsqueeze_nonanchor)


# Distributions: the parameters of one latent's entropy model, as pytrees. Each says
# how its latent is quantized, so that every coding mode treats them alike:
#   center()               the value the latent is predicted to be
#   residual(y)            what is rounded to the symbol
#   dequantize(symbols)    the decoded latent (symbols as floats, like y)
#   symbol_likelihood(u)   the likelihood of a symbol (or of a noisy residual)
#   indexes(table, shape)  the CDF row of each symbol
#   coding_tables(stored)  the stream tables it is coded with (the stored ones, or
#                          computed for it: `lic_jax.latent.variable_rate`)
# The arithmetic of the plain ones is CompressAI's: round(y - c) + c, with the
# likelihood taken at that value.
@flax.struct.dataclass
class Gaussian:
  """N(means, scales) per element, integrated over unit bins (means may be zeros)."""
  scales: jax.Array
  means: jax.Array

  @classmethod
  def of(cls, params):
    """From a model method's named outputs: `scales`, and `means` (zero if absent or
    None: a zero-mean model such as Ballé et al. 2018's)."""
    scales, means = params["scales"], params.get("means")
    return cls(scales, jnp.zeros_like(scales) if means is None else means)

  def center(self):
    return self.means

  def residual(self, y):
    return y - self.means

  def dequantize(self, symbols):
    return symbols + self.means

  def symbol_likelihood(self, symbols):
    return gaussian.likelihood(self.dequantize(symbols), self.scales, self.means)

  def indexes(self, scale_table, shape):
    del shape
    return gaussian.scale_indexes(self.scales, scale_table)

  def coding_tables(self, stored):
    return stored


@flax.struct.dataclass
class Factorized:
  """The factorized prior of `lic_jax.entropy.factorized` (CDF row = channel)."""
  params: dict

  def center(self):
    return factorized.medians(self.params)

  def residual(self, y):
    return y - self.center()

  def dequantize(self, symbols):
    return symbols + self.center()

  def symbol_likelihood(self, symbols):
    return factorized.likelihood(self.params, self.dequantize(symbols))

  def indexes(self, scale_table, shape):
    del scale_table
    return jnp.broadcast_to(jnp.arange(shape[-1], dtype=jnp.int32), shape)

  def coding_tables(self, stored):
    return stored


def split_channels(y, widths):
  """(B, h, w, sum(widths)) -> list of (B, h, w, width); ShapeDtypeStructs likewise."""
  if isinstance(y, jax.ShapeDtypeStruct):
    return [jax.ShapeDtypeStruct(y.shape[:-1] + (w,), y.dtype) for w in widths]
  bounds = np.cumsum(widths)[:-1].tolist()
  return jnp.split(y, bounds, axis=-1)


def average_blocks(value, scale):
  """A (B, h, w, C) array (or ShapeDtypeStruct) -> (B, h / scale, w / scale, C): the
  mean of each scale x scale block (h and w divisible by it); anything else (an int,
  a scalar) as it is."""
  if getattr(value, "ndim", len(getattr(value, "shape", ()))) != 4:
    return value
  b, h, w, c = value.shape
  if h % scale or w % scale:
    raise ValueError(f"a {w}x{h} latent grid does not divide into {scale}x{scale} blocks: "
                     "choose a scale that divides both (this model pads images to fewer "
                     "multiples)")
  if isinstance(value, jax.ShapeDtypeStruct):
    return jax.ShapeDtypeStruct((b, h // scale, w // scale, c), value.dtype)
  return value.reshape(b, h // scale, scale, w // scale, scale, c).mean(axis=(2, 4))


def is_shape(y):
  """True when `y` is a shape only (decoding)."""
  return isinstance(y, jax.ShapeDtypeStruct)


def output_shape(model, method, *shapes):
  """The output shape of `model.method` for inputs of these shapes (the codec's
  stages cache it)."""
  cached = getattr(model, "output_shape", None)
  if cached:
    return cached(method, *shapes)
  return jax.eval_shape(model.stage(method), *shapes)


class LatentCodec:
  """A composable latent codec (frozen dataclass subclasses; hashable, no arrays).

  code(model, mode, y, context, latents=None) -> (y_hat, {stream: likelihoods})
    model: the bound Flax model or the codec's jitted stages, whose methods the codec
    calls through `call`; mode: a `lic_jax.latent.modes.CodingMode`; context: the
    named values the enclosing codecs provide; latents: side latents given by the
    caller instead of computed (the encoder's refinement passes its own z).

  METHODS: the fields that name model methods (checked when the model is built).
  """
  METHODS = ()

  def code(self, model, mode, y, context=EMPTY, latents=None):
    raise NotImplementedError

  @property
  def decodes_forward(self):
    """Whether evaluation-mode likelihoods return the y_hat that decoding reconstructs
    (not so for compressai's autoregressive models: see RasterAutoregressive)."""
    return all(child.decodes_forward for child in self.children())

  def side_latents(self, model, y):
    """Latents the encoder derives from y and codes too (a hyperprior's z)."""
    return {k: v for child in self.children() for k, v in child.side_latents(model, y).items()}

  def children(self):
    """The latent codecs inside this one."""
    return tuple(getattr(self, f.name) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), LatentCodec))

  def methods(self):
    """(codec class, model method) for every model method this codec tree calls."""
    own = [(type(self).__name__, getattr(self, f)) for f in self.METHODS if getattr(self, f)]
    return own + [m for child in self.children() for m in child.methods()]

  def streams(self):
    """The names of the streams this codec tree codes, in coding order."""
    return tuple(s for child in self.children() for s in child.streams())

  def stream_tables(self, params):
    """{stream: StreamTables} computed from the weights (compressai's update())."""
    return {k: v for child in self.children() for k, v in child.stream_tables(params).items()}

  def layout(self):
    """The `StreamLayout` of this codec's streams: which strings a prefix of a
    stream decodes (only channel groups lay units out)."""
    inner = [child.layout() for child in self.children()]
    units = [layout for layout in inner if layout.units]
    return units[0] if units else StreamLayout()

  def factorized_modules(self):
    """The model attributes (`EntropyBottleneck`s) of every factorized prior in this
    codec's tree: training gives their quantiles to the aux optimizer."""
    return tuple(m for child in self.children() for m in child.factorized_modules())
