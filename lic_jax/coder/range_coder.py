"""The range coder format: tensorflow-compression's range coder, with lic_jax's
escape layout, over either implementation of its ops.

Two implementations write and read the same bytes: `numba_ops` (compiled with numba,
no TensorFlow; the default) and `tfc_ops` (tensorflow-compression's own op). This
module holds all that they share: the lookup built from a model's CDF tables, the
escape payloads, the checks of indexes and symbols; an implementation only codes
(row, bin) pairs, as the op does.

A symbol s coded with table row i becomes the bin v = s - offset[i]. Bins
0 .. cdf_length[i] - 3 are regular; the last bin is the escape bin, taken by every
symbol outside that range. An escaped symbol's value follows as a payload: the bit
length n of g (g >= 1, g = -v for v < 0, else v minus the escape bin plus one)
from a fixed 32-entry table, then the n bits of g below its leading one, then the
sign. The payloads of one `encode` call follow its symbols in the same stream, so
a decoder fed the same index arrays reads them back in step. This layout is part
of the file format (`lic_jax.bitstream.FORMAT_VERSION`).

Why not tfc's own overflow mode (negative precision in the lookup)? Its decoder
reads the Elias-gamma prefix of an escaped value with an unbounded loop, and a
truncated or corrupted stream that lands on the escape bin with only the implicit
trailing zeros left spins there forever (b"\\x80" with lookup [-16, 0, 32768, 65536]
never returns). Here every decode call does a bounded amount of work, whatever
the bytes.
"""
import importlib

import numpy as np

from lic_jax.entropy.cdf import PRECISION, pmf_to_quantized_cdf
from lic_jax.errors import BitstreamError, CoderUnavailableError

# The name a stream records for this format (the `coder` field of the container).
FORMAT = "tfc"

# Escape payload tables, part of the stream format. Length of g: 0..31 bits with
# probability ~2^-(n+1), which costs about what an Elias-gamma prefix does.
_LENGTH_CDF = pmf_to_quantized_cdf(np.float32(2.0) ** -np.arange(1, 33, dtype=np.float32))
_BIT_CDF = np.array([0, 1, 2], np.int32)  # a fair bit, precision 1
_MAX_LENGTH = len(_LENGTH_CDF) - 2  # 31: g < 2^32 covers every int32 symbol


class _Lookup:
  """The lookup shared by encoder and decoder: the model's rows, then the payload rows."""

  def __init__(self, tables):
    cdf = np.asarray(tables.quantized_cdf, np.int64)
    lengths = np.asarray(tables.cdf_length, np.int64)
    self.offset = np.asarray(tables.offset, np.int64)
    if cdf.ndim != 2 or lengths.shape != (len(cdf),) or self.offset.shape != lengths.shape:
      raise ValueError("tables must hold quantized_cdf (n, w), cdf_length (n,), offset (n,)")
    rows = [cdf[i, :n] for i, n in enumerate(lengths)]
    for i, row in enumerate(rows):
      if (len(row) < 3 or row[0] != 0 or row[-1] != 1 << PRECISION
          or np.any(np.diff(row) <= 0)):
        raise ValueError(f"CDF table row {i} is not a strictly increasing CDF from 0 "
                         f"to 2^{PRECISION} with at least two bins")
    self.escape = lengths - 2  # the escape bin of each row
    self.length_index, self.bit_index = len(rows), len(rows) + 1
    parts = [np.concatenate([[PRECISION], row]) for row in rows]
    parts += [np.concatenate([[PRECISION], _LENGTH_CDF]), np.concatenate([[1], _BIT_CDF])]
    self.flat = np.concatenate(parts).astype(np.int32)

  def check_indexes(self, indexes):
    """int32 C-contiguous copy of `indexes`, after a range check."""
    indexes = np.ascontiguousarray(indexes, np.int32)
    if indexes.size and (indexes.min() < 0 or indexes.max() >= self.length_index):
      raise ValueError(f"CDF indexes must lie in [0, {self.length_index}), got "
                       f"[{indexes.min()}, {indexes.max()}]")
    return indexes


def _payload_layout(lengths):
  """For escapes with g of bit lengths n (k,): owner escape and bit shift of each of
  the sum(n + 1) payload bits, MSB first; shift -1 marks the sign bit."""
  counts = lengths + 1
  owner = np.repeat(np.arange(len(lengths)), counts)
  position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
  return owner, lengths[owner] - 1 - position


class Encoder:
  """Codes symbols into one string over several `encode` calls, with a `_Lookup` of
  the tables; `ops`: the implementation's module."""

  def __init__(self, lookup, ops):
    self._lookup = lookup
    self._coder = ops.RangeEncoder(self._lookup.flat)

  def _put(self, indexes, values):
    self._coder.encode_index(np.ascontiguousarray(indexes, np.int32),
                             np.ascontiguousarray(values, np.int32))

  def encode(self, symbols, indexes):
    """Appends int symbols (any shape), symbol j coded with table row indexes[j]."""
    lookup = self._lookup
    indexes = lookup.check_indexes(indexes).ravel()
    symbols = np.asarray(symbols)
    if symbols.size != indexes.size:
      raise ValueError(f"{symbols.size} symbols but {indexes.size} indexes")
    if symbols.size and (symbols.min() < np.iinfo(np.int32).min
                         or symbols.max() > np.iinfo(np.int32).max):
      raise ValueError("symbols must fit in int32")
    values = symbols.astype(np.int64).ravel() - lookup.offset[indexes]
    escape = lookup.escape[indexes]
    escaped = (values < 0) | (values >= escape)
    # The escape payloads, worked out before anything is written.
    outside, escape_of = values[escaped], escape[escaped]
    negative = outside < 0
    g = np.where(negative, -outside, outside - escape_of + 1)
    lengths = np.frexp(g.astype(np.float64))[1].astype(np.int64) - 1  # exact: g < 2^53
    if len(g) and lengths.max() > _MAX_LENGTH:
      raise ValueError("a symbol lies 2^32 or more outside its table's range")
    owner, shift = _payload_layout(lengths)
    bits = np.where(shift >= 0, (g[owner] >> np.maximum(shift, 0)) & 1, negative[owner])

    self._put(indexes, np.where(escaped, escape, values))
    if len(g):
      self._put(np.full(len(g), lookup.length_index), lengths)
      self._put(np.full(len(bits), lookup.bit_index), bits)

  def finish(self):
    """The coded string (bytes). The encoder is spent afterwards."""
    return self._coder.finalize()


class Decoder:
  """Reads symbols back from one string over several `decode` calls.

  Each call must get the index arrays the encoder got, in the same order. Any byte
  string is accepted: a corrupt one gives wrong symbols or a `BitstreamError`, here
  or in `finish`, and never hangs or crashes.
  """

  def __init__(self, data, lookup, ops):
    self._lookup = lookup
    self._error = ops.RangeDecodeError
    self._coder = ops.RangeDecoder(bytes(data), self._lookup.flat)

  def _get(self, indexes):
    try:
      values = self._coder.decode_index(np.ascontiguousarray(indexes, np.int32))
    except self._error as e:
      raise BitstreamError(f"range decoder failed: {e}") from e
    return np.asarray(values).astype(np.int64)

  def decode(self, indexes):
    """int32 symbols with the shape of `indexes`, symbol j from table row indexes[j]."""
    lookup = self._lookup
    indexes = lookup.check_indexes(indexes)
    flat = indexes.ravel()
    values = self._get(flat)
    escape = lookup.escape[flat]
    escaped = np.flatnonzero(values == escape)
    if len(escaped):
      lengths = self._get(np.full(len(escaped), lookup.length_index))
      owner, shift = _payload_layout(lengths)
      bits = self._get(np.full(len(owner), lookup.bit_index))
      g = np.left_shift(1, lengths)
      magnitude = shift >= 0
      np.add.at(g, owner[magnitude], bits[magnitude] << shift[magnitude])
      negative = bits[~magnitude].astype(bool)
      values[escaped] = np.where(negative, -g, escape[escaped] - 1 + g)
    symbols = values + lookup.offset[flat]
    if symbols.size and (symbols.min() < np.iinfo(np.int32).min
                         or symbols.max() > np.iinfo(np.int32).max):
      raise BitstreamError("corrupt stream: a decoded symbol does not fit in int32")
    return symbols.astype(np.int32).reshape(indexes.shape)

  def finish(self):
    """Raises BitstreamError unless the stream ended where the last symbol did.

    tfc's check has no false alarms and catches most flipped bytes and trailing
    bytes, but not truncation (zeros are implied past the end, and decode
    "consistently"): the container's CRC catches that.
    """
    if not self._coder.finalize():
      raise BitstreamError("corrupt or truncated stream: the range decoder did not end "
                           "where the coded symbols did")


class RangeCoder:
  """A `lic_jax.coder.Coder`: this format, written and read by the implementation
  `name`, whose ops are the module lic_jax.coder.<module> (imported when the first
  encoder or decoder is made)."""
  format = FORMAT

  # Lookups of the tables coded with last: a model codes many strings (one per
  # channel group) with the same few tables.
  LOOKUPS_KEPT = 4

  def __init__(self, name, module, requirement):
    self.name, self._module, self._requirement = name, module, requirement
    self._lookups = {}  # id(tables) -> (tables, its _Lookup), newest last

  def _lookup(self, tables):
    key = id(tables)
    if key not in self._lookups:  # the tables are kept with it, so the id stays theirs
      self._lookups[key] = (tables, _Lookup(tables))
      while len(self._lookups) > self.LOOKUPS_KEPT:
        del self._lookups[next(iter(self._lookups))]
    return self._lookups[key][1]

  def ops(self):
    """The implementation's module; CoderUnavailableError if it does not import."""
    try:
      return importlib.import_module(f"lic_jax.coder.{self._module}")
    except ImportError as e:
      raise CoderUnavailableError(
          f"the {self.name!r} coder needs {self._requirement}, which does not import "
          f"({e}): install it (pip install {self._requirement}); lic_jax's core install "
          "brings it") from e

  def encoder(self, tables):
    return Encoder(self._lookup(tables), self.ops())

  def decoder(self, data, tables):
    return Decoder(data, self._lookup(tables), self.ops())


def encode(symbols, indexes, tables, coder=None):
  """Symbols (any shape, int) coded with rows `indexes` (same size) -> bytes, by the
  implementation `coder` (a `RangeCoder`; default: the fastest installed)."""
  encoder = _default(coder).encoder(tables)
  encoder.encode(symbols, indexes)
  return encoder.finish()


def decode(data, indexes, tables, coder=None):
  """Inverse of `encode`: int32 symbols shaped like `indexes`; checks the stream end."""
  decoder = _default(coder).decoder(data, tables)
  symbols = decoder.decode(indexes)
  decoder.finish()
  return symbols


def _default(coder):
  from lic_jax.coder import get
  return get() if coder is None else coder
