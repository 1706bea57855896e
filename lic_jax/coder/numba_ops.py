"""tensorflow-compression's range coder ops, reimplemented with numpy and numba.

`RangeEncoder` and `RangeDecoder` do what TFC's ops create_range_encoder /
entropy_encode_index / entropy_encode_finalize and create_range_decoder /
entropy_decode_index / entropy_decode_finalize do for one stream and a 1-D lookup
of rows `[precision, 0, cdf_1, ..., 2^precision]`: the same bytes, the same decoded
values (also from corrupt strings), the same end check. Written from the algorithm,
to code symbols without TensorFlow; the per-symbol loops are compiled with numba
(cached on disk next to this file), so that hundreds of small calls per image cost
microseconds each.

Differences from the ops, none of which changes a valid stream: a call that raises
(an index or value out of range) codes nothing, where an op keeps the symbols before
the bad one; rows with a negative precision (TFC's overflow mode) are refused.

Over 250 lines: the encoder, the decoder and the lookup parsing share their state
layout and the 32-bit arithmetic, which must match TFC's bit for bit in one place.
"""
import numba
import numpy as np
from numba import types

# The coder's registers are unsigned 32-bit; here they live in int64 and are masked
# wherever the C++ wraps around, so that even a zero-probability bin (which TFC
# encodes without complaint) gives TFC's bytes. Products stay below 2^32 * 2^16.
_MASK32 = 0xFFFFFFFF
_MAX_PRECISION = 16

# Per lookup row: where its cdf_0 is in the flat lookup, its number of bins
# (cdf values - 1), its precision.
_ROW_START, _ROW_BINS, _ROW_PRECISION = 0, 1, 2

# Codes _index_rows returns for a malformed lookup.
_LOOKUP_ERRORS = {
    1: "lookup ends inside the row at position {}: a row is at least "
       "[precision, 0, 2^precision]",
    2: "the precision at position {} is not in [1, 16]",
    3: "the precision at position {} is negative (TFC's overflow mode), which is "
       "not supported",
    4: "the CDF of the row at position {} does not start with 0",
    5: "the CDF of the row at position {} decreases",
    6: "the CDF of the row at position {} never reaches 2^precision",
}

_int32_vector = types.Array(types.int32, 1, "C")
_int64_vector = types.Array(types.int64, 1, "C")
_uint8_vector = types.Array(types.uint8, 1, "C")
_rows_matrix = types.Array(types.int64, 2, "C")


@numba.njit(types.UniTuple(types.int64, 3)(_int32_vector, _rows_matrix), cache=True)
def _index_rows(lookup, rows):
  """Fills rows[:count] from the flat lookup, as TFC's kernels split it.

  A row ends at the first value equal to 2^precision; copies of that value right
  after it are padding and skipped. Returns (count, error code or 0, position of
  the bad row)."""
  end = len(lookup)
  count = 0
  p = 0
  while p < end:
    if end - p < 3:
      return count, 1, p
    precision = lookup[p]
    if -_MAX_PRECISION <= precision < 0:
      return count, 3, p
    if precision < 1 or precision > _MAX_PRECISION:
      return count, 2, p
    if lookup[p + 1] != 0:
      return count, 4, p
    last_value = 1 << precision
    q = p + 1
    while lookup[q] != last_value:
      q += 1
      if q == end:
        return count, 6, p
      if lookup[q] < lookup[q - 1]:
        return count, 5, p
    rows[count, _ROW_START] = p + 1
    rows[count, _ROW_BINS] = q - p - 1
    rows[count, _ROW_PRECISION] = precision
    count += 1
    p = q + 1
    while p < end and lookup[p] == last_value:
      p += 1
  return count, 0, 0


@numba.njit(types.int64(_int32_vector, _rows_matrix, _int32_vector, _int32_vector,
                        _int64_vector, _uint8_vector), cache=True)
def _encode(lookup, rows, indexes, values, state, out):
  """Codes values[j] with row indexes[j], appending bytes to out.

  state is (base, size - 1, delay, bytes in out), written back only when every
  symbol was in range; returns the position of the first one that is not, or -1.
  out must hold state[3] + (state[2] >> 16) + 2 + 4 * len(values) bytes (see
  RangeEncoder._reserve)."""
  base, size_minus1, delay, n_out = state[0], state[1], state[2], state[3]
  n_rows = rows.shape[0]
  for j in range(len(indexes)):
    index = indexes[j]
    if index < 0 or index >= n_rows:
      return j
    value = values[j]
    if value < 0 or value >= rows[index, _ROW_BINS]:
      return j
    cdf = rows[index, _ROW_START] + value
    precision = rows[index, _ROW_PRECISION]
    size = size_minus1 + 1
    a = ((size * lookup[cdf]) >> precision) & _MASK32
    b = (((size * lookup[cdf + 1]) >> precision) - 1) & _MASK32
    base = (base + a) & _MASK32
    size_minus1 = (b - a) & _MASK32
    carried = base < a

    # The interval straddles 2^32: the bytes below the carry stay undecided.
    if ((base + size_minus1) & _MASK32) < base:
      if size_minus1 >> 16 == 0:
        base = (base << 16) & _MASK32
        size_minus1 = (size_minus1 << 16) | 0xFFFF
        delay += 0x20000  # two more undecided bytes, 0x00 or 0xFF
      continue

    # Left the straddle: the carry decides the delayed 16 bits and the run after them.
    if delay != 0:
      if carried:
        run = 0
      else:
        delay -= 1
        run = 0xFF
      out[n_out] = (delay >> 8) & 0xFF
      out[n_out + 1] = delay & 0xFF
      n_out += 2
      for _ in range(delay >> 16):
        out[n_out] = run
        n_out += 1
      delay = 0

    # Keep size above 2^16: shift out the top 16 bits, or delay them if undecided.
    if size_minus1 >> 16 == 0:
      top = base >> 16
      base = (base << 16) & _MASK32
      size_minus1 = (size_minus1 << 16) | 0xFFFF
      if base + size_minus1 <= _MASK32:
        out[n_out] = (top >> 8) & 0xFF
        out[n_out + 1] = top & 0xFF
        n_out += 2
      else:
        delay = top + 1
  state[0], state[1], state[2], state[3] = base, size_minus1, delay, n_out
  return -1


@numba.njit(types.int64(_int32_vector, _rows_matrix, _int32_vector, _uint8_vector,
                        _int64_vector, _int32_vector), cache=True)
def _decode(lookup, rows, indexes, data, state, out):
  """Decodes out[j] with row indexes[j] from data; bytes past its end read as 0.

  state is (base, size - 1, value, bytes of data read), written back only when
  every index was in range; returns the position of the first one that is not,
  or -1."""
  base, size_minus1, value, n_read = state[0], state[1], state[2], state[3]
  n_rows, n_data = rows.shape[0], len(data)
  for j in range(len(indexes)):
    index = indexes[j]
    if index < 0 or index >= n_rows:
      return j
    start = rows[index, _ROW_START]
    precision = rows[index, _ROW_PRECISION]
    size = size_minus1 + 1
    target = (((value - base) & _MASK32) + 1) << precision
    # The first bin whose upper end clears the target. The last bin needs no test:
    # value - base < size always holds, so size * 2^precision clears it.
    lo, hi = 1, rows[index, _ROW_BINS]
    while lo < hi:
      mid = (lo + hi) >> 1
      if target <= size * lookup[start + mid]:
        hi = mid
      else:
        lo = mid + 1
    a = ((size * lookup[start + lo - 1]) >> precision) & _MASK32
    b = (((size * lookup[start + lo]) >> precision) - 1) & _MASK32
    base = (base + a) & _MASK32
    size_minus1 = (b - a) & _MASK32
    if size_minus1 >> 16 == 0:
      base = (base << 16) & _MASK32
      size_minus1 = (size_minus1 << 16) | 0xFFFF
      for _ in range(2):
        value = (value << 8) & _MASK32
        if n_read < n_data:
          value |= data[n_read]
          n_read += 1
    out[j] = lo - 1
  state[0], state[1], state[2], state[3] = base, size_minus1, value, n_read
  return -1


class RangeDecodeError(ValueError):
  """A decode call the TFC op would fail: an index outside the lookup's rows.

  (TFC's decoder has no check on the data: any bytes decode to some values, and
  only `RangeDecoder.finalize` can tell that they were not a valid stream.)"""


def _int32_array(x, name):
  """x as a C-contiguous, writable int32 array (the compiled signatures' type)."""
  array = np.asarray(x)
  if array.dtype == np.int32:
    if array.flags.c_contiguous and array.flags.writeable:
      return array
    return np.array(array, np.int32, order="C")
  if array.size == 0:
    return np.zeros(array.shape, np.int32)
  if array.dtype.kind not in "iu":
    raise TypeError(f"{name} must be integers, got dtype {array.dtype}")
  info = np.iinfo(np.int32)
  if array.min() < info.min or array.max() > info.max:
    raise ValueError(f"{name} must fit in int32, got [{array.min()}, {array.max()}]")
  return array.astype(np.int32, order="C")


class _Rows:
  """The rows of a flat int32 lookup, each [precision, 0, ..., 2^precision]."""

  def __init__(self, lookup):
    # A copy: the caller may change theirs.
    self.lookup = _int32_array(lookup, "lookup").copy()
    if self.lookup.ndim != 1:
      raise ValueError(f"lookup must be 1-D, got shape {self.lookup.shape}")
    rows = np.empty((len(self.lookup) // 3, 3), np.int64)  # a row is >= 3 values
    count, error, position = _index_rows(self.lookup, rows)
    if error:
      raise ValueError(_LOOKUP_ERRORS[error].format(position))
    self.rows = rows[:count]

  def index_error(self, indexes, j, error=ValueError):
    return error(f"index {indexes[j]} at position {j} is not in [0, {len(self.rows)})")


class RangeEncoder:
  """One stream being encoded; TFC's create_range_encoder([], lookup)."""

  def __init__(self, lookup):
    self._rows = _Rows(lookup)
    self._state = np.array([0, _MASK32, 0, 0], np.int64)  # base, size - 1, delay, bytes
    self._out = np.empty(1 << 12, np.uint8)

  def _reserve(self, n_symbols):
    """Grows the output buffer for a call of n_symbols.

    Each symbol adds at most 4 to (bytes written + undecided bytes), and at most 2
    bytes are undecided beyond the zero run counted in delay >> 16."""
    _, _, delay, n_out = self._state
    needed = int(n_out) + (int(delay) >> 16) + 2 + 4 * n_symbols
    if needed > len(self._out):
      grown = np.empty(max(needed, 2 * len(self._out)), np.uint8)
      grown[:n_out] = self._out[:n_out]
      self._out = grown

  def encode_index(self, indexes, values):
    """Codes values[j] as bin [cdf[v], cdf[v + 1]) of row indexes[j]; TFC's
    entropy_encode_index. Raises ValueError, coding nothing, where an index or a
    value is out of range."""
    indexes = _int32_array(indexes, "indexes").ravel()
    values = _int32_array(values, "values").ravel()
    if len(indexes) != len(values):
      raise ValueError(f"{len(indexes)} indexes but {len(values)} values")
    self._reserve(len(values))
    rows = self._rows
    j = _encode(rows.lookup, rows.rows, indexes, values, self._state, self._out)
    if j >= 0:
      if not 0 <= indexes[j] < len(rows.rows):
        raise rows.index_error(indexes, j)
      bins = rows.rows[indexes[j], _ROW_BINS]
      raise ValueError(f"value {values[j]} at position {j} is not in [0, {bins}) "
                       f"(row {indexes[j]})")

  def finalize(self):
    """The encoded string; TFC's entropy_encode_finalize.

    Like the op, it appends the closing bytes to the stream and returns all of it:
    call it once, after the last symbol."""
    base, size_minus1, delay, n_out = (int(v) for v in self._state)
    tail = []
    if delay:  # undecided: close at the carry, implicit zeros after it
      tail.append((delay >> 8) & 0xFF)
      if delay & 0xFF:
        tail.append(delay & 0xFF)
    elif base:  # a round number in [base, base + size), zeros implied after it
      upper = (base + size_minus1) & _MASK32
      mid = ((base - 1) >> 24) + 1
      if mid <= upper >> 24:
        tail.append(mid & 0xFF)
      else:
        mid = ((base - 1) >> 16) + 1
        tail.append((mid >> 8) & 0xFF)
        if mid & 0xFF:
          tail.append(mid & 0xFF)
    self._reserve(0)  # room for the 2 bytes at most of the tail
    self._out[n_out:n_out + len(tail)] = tail
    self._state[3] = n_out + len(tail)
    return self._out[:n_out + len(tail)].tobytes()


class RangeDecoder:
  """One stream being decoded; TFC's create_range_decoder(data, lookup)."""

  def __init__(self, data, lookup):
    self._rows = _Rows(lookup)
    self._data = np.frombuffer(data, np.uint8).copy()  # writable: the compiled type
    head = self._data[:4].tolist()
    value = int.from_bytes(bytes(head + [0] * (4 - len(head))), "big")
    # base, size - 1, value, bytes read
    self._state = np.array([0, _MASK32, value, len(head)], np.int64)

  def decode_index(self, indexes):
    """The values coded with rows `indexes` (int32, shaped like indexes); TFC's
    entropy_decode_index. Raises RangeDecodeError, decoding nothing, where an
    index is out of range."""
    indexes = _int32_array(indexes, "indexes")
    flat = indexes.ravel()
    values = np.empty(len(flat), np.int32)
    rows = self._rows
    j = _decode(rows.lookup, rows.rows, flat, self._data, self._state, values)
    if j >= 0:
      raise rows.index_error(flat, j, RangeDecodeError)
    return values.reshape(indexes.shape)

  def finalize(self):
    """Whether the string ended where the decoded symbols did; TFC's
    entropy_decode_finalize. No false alarms, but decoding fewer or more symbols
    than were coded may go unnoticed."""
    base, size_minus1, value, n_read = (int(v) for v in self._state)
    if n_read != len(self._data):
      return False
    upper = (base + size_minus1) & _MASK32
    if base == 0 or upper < base:  # the encoder closed at 0 or at the carry
      return value == 0
    shift = 24 if (base - 1) >> 24 < upper >> 24 else 16
    mid = ((base - 1) >> shift) + 1
    return ((mid << shift) & _MASK32) == value
