"""Coding a latent codec's symbols: the Encode and Decode modes, and the decoding
checks that travel with each stream.

  Encode  codes the symbols with a coder            -> (y_hat, None)
  Decode  decodes them (the latent is only a shape) -> (y_hat, None)

Both are called by the latent codecs exactly as `lic_jax.latent.base.Likelihoods`
is, so training, evaluation, compress and decompress share one parameter
computation and one coding order. They call small jitted functions of fixed shapes,
so both sides run the same compiled programs and the encoder's y_hat is the
decoder's to the bit. Each keeps one coder string per stream name, in the order of
first use, and a `CodingCheck` per stream, which Decode verifies as it goes.
"""
import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.errors import BitstreamError, DecoderMismatchError
from lic_jax.latent.base import ALL


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
        raise BitstreamError(f"the stream has no string {name!r}, which the model codes "
                               f"(it has {', '.join(self.strings) or 'none'})")
      self.decoders[name] = self.coder.decoder(self.strings[name], table.cdf)
      if self.checks is not None:
        self.coding_checks[name] = CodingCheck(self.checks[name])
    shape = tuple(y.shape)
    indexes = np.asarray(_decode_indexes(dist, table.scale_table, positions, shape))
    check = self.coding_checks.get(name)
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
      raise BitstreamError(f"the stream has strings the model does not code: {unused}")
    for name, check in self.coding_checks.items():
      check.verify(name, final=True)
    for decoder in self.decoders.values():
      decoder.finish()
