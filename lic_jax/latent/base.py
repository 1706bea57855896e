"""What the latent codecs share: positions, distributions, the likelihood mode and
the `LatentCodec` base class.

A latent codec computes the entropy parameters of a latent once (through the
model's own methods) and hands the latent, its distribution and the positions
coded by this call to a *mode*:

  Likelihoods  rounding (evaluation) or noise (training) -> (y_hat, likelihoods)
  Encode       codes the symbols with a coder            -> (y_hat, None)
  Decode       decodes them (the latent is only a shape) -> (y_hat, None)

Training, evaluation, compress and decompress therefore share one parameter
computation and one coding order, and the encoder's y_hat is the decoder's to the
bit. Encode and Decode call small jitted functions of fixed shapes, so both sides
run the same compiled programs.

Each stream has a name ("z", "y"): `Likelihoods` reports `<name>_likelihoods`;
Encode and Decode (`lic_jax.latent.coding`) keep one coder string per name.
"""
import dataclasses
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import checkerboard, factorized, gaussian
from lic_jax.ops import ste_round


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


# Distributions: the parameters of one latent's entropy model, as pytrees.
@flax.struct.dataclass
class Gaussian:
  """N(means, scales) per element, integrated over unit bins (means may be zeros)."""
  scales: jax.Array
  means: jax.Array

  def center(self):
    return self.means

  def likelihood(self, values):
    return gaussian.likelihood(values, self.scales, self.means)

  def indexes(self, scale_table, shape):
    del shape
    return gaussian.scale_indexes(self.scales, scale_table)


@flax.struct.dataclass
class Factorized:
  """The factorized prior of `lic_jax.entropy.factorized` (CDF row = channel)."""
  params: dict

  def center(self):
    return factorized.medians(self.params)

  def likelihood(self, values):
    return factorized.likelihood(self.params, values)

  def indexes(self, scale_table, shape):
    del scale_table
    return jnp.broadcast_to(jnp.arange(shape[-1], dtype=jnp.int32), shape)


class Likelihoods:
  """The likelihood path. Evaluation (rng None): y_hat = round(y - center) + center.
  Training: likelihoods of y + uniform noise, and y_hat by straight-through
  rounding (quant "ste") or the same noisy y (quant "noise", compressai's mode)."""

  def __init__(self, rng=None, quant="ste"):
    if quant not in ("ste", "noise"):
      raise ValueError(f"quant must be 'ste' or 'noise', not {quant!r}")
    self.rng, self.quant = rng, quant

  def quantize(self, y):
    """y quantized without a distribution's centre (what compressai's autoregressive
    models feed their context model): round(y) in evaluation; in training the noisy
    y (quant "noise") or round(y) with a straight-through gradient."""
    if self.rng is None:
      return jnp.round(y)
    if self.quant == "noise":
      self.rng, key = jax.random.split(self.rng)
      return y + jax.random.uniform(key, y.shape, y.dtype, -0.5, 0.5)
    return ste_round(y)

  def __call__(self, name, y, dist, positions=ALL):
    """(y_hat on `positions`, zero elsewhere; likelihoods of every position under
    `dist`, of which the caller keeps those of `positions`)."""
    center = jnp.broadcast_to(dist.center(), y.shape)
    if self.rng is None:
      y_tilde = jnp.round(y - center) + center
    else:
      self.rng, key = jax.random.split(self.rng)
      y_tilde = y + jax.random.uniform(key, y.shape, y.dtype, -0.5, 0.5)
    if self.rng is not None and self.quant == "noise":
      y_hat = positions.mask(y_tilde)
    else:
      center = positions.mask(center)
      y_hat = positions.mask(ste_round(positions.mask(y) - center) + center)
    return y_hat, dist.likelihood(y_tilde)


def split_channels(y, widths):
  """(B, h, w, sum(widths)) -> list of (B, h, w, width); ShapeDtypeStructs likewise."""
  if isinstance(y, jax.ShapeDtypeStruct):
    return [jax.ShapeDtypeStruct(y.shape[:-1] + (w,), y.dtype) for w in widths]
  bounds = np.cumsum(widths)[:-1].tolist()
  return jnp.split(y, bounds, axis=-1)


def average_blocks(tree, scale):
  """Each (B, h, w, C) array (or ShapeDtypeStruct) in `tree` -> (B, h / scale,
  w / scale, C): the mean of each scale x scale block (h and w divisible by it)."""
  def average(y):
    b, h, w, c = y.shape
    if h % scale or w % scale:
      raise ValueError(f"a {w}x{h} latent grid does not divide into {scale}x{scale} blocks: "
                       f"choose a scale that divides both (this model pads images to fewer "
                       "multiples)")
    if isinstance(y, jax.ShapeDtypeStruct):
      return jax.ShapeDtypeStruct((b, h // scale, w // scale, c), y.dtype)
    return y.reshape(b, h // scale, scale, w // scale, scale, c).mean(axis=(2, 4))
  return jax.tree_util.tree_map(average, tree)


def predicted(mode, name):
  """Whether `mode` (any callable coding mode) is a preview's Decode whose next unit of
  stream `name` is predicted rather than decoded (see `lic_jax.latent.Decode`)."""
  predicts = getattr(mode, "predicts", None)
  return predicts is not None and predicts(name)


def is_shape(y):
  """True when `y` is a shape only (decoding)."""
  return isinstance(y, jax.ShapeDtypeStruct)


def output_shape(stages, name, *shapes):
  """The output shape of the model method `name` for inputs of these shapes (the
  codec's stages cache it)."""
  cached = getattr(stages, "output_shape", None)
  return cached(name, *shapes) if cached else jax.eval_shape(getattr(stages, name), *shapes)


class LatentCodec:
  """A composable latent codec (frozen dataclass subclasses; hashable, no arrays).

  code(stages, mode, y, context=(), latents=None) -> (y_hat, {name: likelihoods})
    stages: the model (a bound Flax module, or `lic_jax.codec`'s jitted stages)
    whose methods the codec calls by name; context: what the enclosing codec passes
    on (hyper parameters, earlier channel groups); latents: side latents given by
    the caller instead of computed (the encoder's refinement passes its own z).
  """

  # Whether evaluation-mode likelihoods return the y_hat that decoding reconstructs
  # (not so for compressai's autoregressive models: see RasterAutoregressive).
  decodes_forward = True

  def code(self, stages, mode, y, context=(), latents=None):
    raise NotImplementedError

  def side_latents(self, stages, y):
    """Latents the encoder derives from y and codes too (a hyperprior's z)."""
    del stages, y
    return {}

  def tables(self, params):
    """{stream name: StreamTables} computed from the weights (compressai's update())."""
    raise NotImplementedError

  def prefix_units(self):
    """(the stream whose calls are prefix units, the number of channel groups they
    make up) where this codec's coding order lets a prefix of a stream decode (see
    `lic_jax.latent.coding`), else None."""
    return None

  def factorized_modules(self):
    """The model attributes (`EntropyBottleneck`s) of every factorized prior in this
    codec's tree: training gives their quantiles to the aux optimizer."""
    found = ()
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if isinstance(value, LatentCodec):
        found += value.factorized_modules()
    return found
