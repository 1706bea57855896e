"""What the latent codecs share: positions, distributions and the three modes.

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

Each stream has a name ("z", "y"): the mode keeps one coder string per name, in
the order of first use, and `Likelihoods` reports `<name>_likelihoods`. Encode also
keeps a `CodingCheck` per stream, which Decode verifies as it goes.
"""
import dataclasses
import functools
import zlib
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import checkerboard, factorized, gaussian, tables
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


@dataclasses.dataclass(frozen=True)
class StreamTables:
  """The CDF tables of one stream, and for Gaussian streams the scale table."""
  cdf: tables.Tables
  scale_table: np.ndarray | None = None


@functools.partial(jax.jit, static_argnames="positions")
def _encode_parts(y, dist, scale_table, positions):
  """(symbols, CDF indexes) of `positions` in coding order, and the decoder's y_hat."""
  center = positions.squeeze(jnp.broadcast_to(dist.center(), y.shape))
  # Half to even, like torch.round in compressai.
  symbols = jnp.round(positions.squeeze(y) - center).astype(jnp.int32)
  indexes = positions.squeeze(dist.indexes(scale_table, y.shape))
  return symbols, indexes, positions.unsqueeze(symbols.astype(center.dtype) + center)


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _decode_indexes(dist, scale_table, positions, shape):
  return positions.squeeze(dist.indexes(scale_table, shape))


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _dequantize(symbols, dist, positions, shape):
  center = positions.squeeze(jnp.broadcast_to(dist.center(), shape))
  return positions.unsqueeze(symbols.astype(center.dtype) + center)


class CodingCheck:
  """What one stream coded, as check bytes: a running CRC32 of every call's CDF
  indexes and then its symbols (int32, little-endian, in coding order), its low
  byte after each call that completes another INTERVAL symbols, and the whole CRC
  (4 bytes) at the end. A 768x512 MLIC++ image carries about 40 bytes of it.

  The decoder recomputes it from its own indexes and decoded symbols: if its
  entropy parameters differ from the encoder's, a differing index (or the garbage
  the range decoder then returns) changes the CRC, and the first byte after it
  tells, with probability 255/256, and every later one again.
  """
  INTERVAL = 16384

  def __init__(self, expected=None):
    self.crc, self.symbols, self.pending, self.marks = 0, 0, 0, bytearray()
    self.expected = expected

  def update(self, indexes, symbols):
    """Adds one call's indexes and symbols; returns the check byte that is due after
    it, or None."""
    for array in (indexes, symbols):
      self.crc = zlib.crc32(np.ascontiguousarray(array, "<i4").tobytes(), self.crc)
    self.symbols += symbols.size
    self.pending += symbols.size
    if self.pending < self.INTERVAL:
      return None
    self.pending = 0
    self.marks.append(self.crc & 0xFF)
    return self.marks[-1]

  def digest(self):
    return bytes(self.marks) + self.crc.to_bytes(4, "big")

  def verify(self, name, final=False):
    """Raises DecoderMismatchError unless what is decoded so far (or, final, all of
    it) checks against the encoder's bytes."""
    done = self.digest() if final else bytes(self.marks)
    expected = self.expected if final else self.expected[:len(self.marks)]
    if done != expected:
      raise mismatch_error(name, f"after {self.symbols} symbols, "
                           + ("at the end of the stream" if final else
                              f"at check {len(self.marks)} of {len(self.expected) - 4}"))


def mismatch_error(name, where):
  from lic_jax.bitstream import DecoderMismatchError
  return DecoderMismatchError(
      f"this decoder's entropy parameters differ from the encoder's (stream {name!r}, "
      f"{where}). The file itself is intact (its checksum is valid); this machine "
      "computes the model's scales or means differently from the one that encoded it, "
      "which usually means another device (GPU vs CPU), JAX/XLA version or CPU, or "
      "weights that differ though the model hash matches. Decode it with the same "
      "lic_jax, JAX and model files on the kind of machine that encoded it, or encode "
      "the image again here. Nothing was written.")


class Encode:
  """Codes every call's symbols into one string per stream name, and its check."""

  def __init__(self, coder, stream_tables):
    self.coder, self.tables = coder, stream_tables
    self.encoders, self.coding_checks = {}, {}

  def __call__(self, name, y, dist, positions=ALL):
    table = self.tables[name]
    symbols, indexes, y_hat = _encode_parts(y, dist, table.scale_table, positions)
    if name not in self.encoders:
      self.encoders[name] = self.coder.encoder(table.cdf)
      self.coding_checks[name] = CodingCheck()
    symbols, indexes = np.asarray(symbols), np.asarray(indexes)
    self.encoders[name].encode(symbols, indexes)
    self.coding_checks[name].update(indexes, symbols)
    return y_hat, None

  def strings(self):
    """{stream name: coded string}, in the order the streams were first used."""
    return {name: encoder.finish() for name, encoder in self.encoders.items()}

  def checks(self):
    """{stream name: its CodingCheck bytes}, in the same order."""
    return {name: check.digest() for name, check in self.coding_checks.items()}


class Decode:
  """Decodes what `Encode` coded, given its strings by stream name (and their
  checks, verified as decoding goes; None for streams of format 1 or 2); the
  latents it is handed are shapes (ShapeDtypeStructs)."""

  def __init__(self, coder, stream_tables, strings, checks=None):
    self.coder, self.tables = coder, stream_tables
    self.strings, self.checks = dict(strings), checks
    self.decoders, self.coding_checks = {}, {}

  def __call__(self, name, y, dist, positions=ALL):
    table = self.tables[name]
    if name not in self.decoders:
      if name not in self.strings:
        raise _bitstream_error(f"the stream has no string {name!r}, which the model codes "
                               f"(it has {', '.join(self.strings) or 'none'})")
      self.decoders[name] = self.coder.decoder(self.strings[name], table.cdf)
      if self.checks is not None:
        self.coding_checks[name] = CodingCheck(self.checks[name])
    shape = tuple(y.shape)
    indexes = np.asarray(_decode_indexes(dist, table.scale_table, positions, shape))
    check = self.coding_checks.get(name)
    from lic_jax.bitstream import BitstreamError
    try:
      symbols = self.decoders[name].decode(indexes)
    except BitstreamError as e:
      if check is None:
        raise
      # The file passed its checksum, so a range decoder that fails here was most
      # likely handed other CDF indexes than the encoder used.
      raise mismatch_error(name, f"the range decoder failed after {check.symbols} "
                           f"symbols: {e}") from e
    if check is not None and check.update(indexes, symbols) is not None:
      check.verify(name)
    return _dequantize(jnp.asarray(symbols), dist, positions, shape), None

  def finish(self):
    """Checks that every string was used, decoded as it was coded and ended where
    its symbols did."""
    unused = [name for name in self.strings if name not in self.decoders]
    if unused:
      raise _bitstream_error(f"the stream has strings the model does not code: {unused}")
    for name, check in self.coding_checks.items():
      check.verify(name, final=True)
    for decoder in self.decoders.values():
      decoder.finish()


def _bitstream_error(message):
  from lic_jax.bitstream import BitstreamError
  return BitstreamError(message)


def split_channels(y, widths):
  """(B, h, w, sum(widths)) -> list of (B, h, w, width); ShapeDtypeStructs likewise."""
  if isinstance(y, jax.ShapeDtypeStruct):
    return [jax.ShapeDtypeStruct(y.shape[:-1] + (w,), y.dtype) for w in widths]
  bounds = np.cumsum(widths)[:-1].tolist()
  return jnp.split(y, bounds, axis=-1)


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


def gaussian_stream_tables():
  """The tables of a Gaussian stream: compressai's 64-scale table."""
  scale_table = gaussian.default_scale_table()
  return StreamTables(tables.gaussian_tables(scale_table), scale_table)


def to_arrays(stream_tables):
  """{name: StreamTables} -> the flat arrays a model directory stores
  (`<name>_quantized_cdf`, `<name>_cdf_length`, `<name>_offset`, `<name>_scale_table`)."""
  arrays = {}
  for name, table in stream_tables.items():
    arrays.update({f"{name}_quantized_cdf": table.cdf.quantized_cdf,
                   f"{name}_cdf_length": table.cdf.cdf_length, f"{name}_offset": table.cdf.offset})
    if table.scale_table is not None:
      arrays[f"{name}_scale_table"] = table.scale_table
  return arrays


def from_arrays(arrays, names):
  """Inverse of `to_arrays` for the streams `names`."""
  out = {}
  for name in names:
    try:
      cdf = tables.Tables(*(np.asarray(arrays[f"{name}_{k}"])
                            for k in ("quantized_cdf", "cdf_length", "offset")))
    except KeyError as e:
      raise ValueError(f"the model has no CDF tables for stream {name!r}: {e} missing") from None
    scale_table = arrays.get(f"{name}_scale_table")
    out[name] = StreamTables(cdf, None if scale_table is None else np.asarray(scale_table))
  return out
