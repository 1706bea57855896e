"""numba_ops, TFC's range coder without TensorFlow: the same bytes as TFC's ops, the
same values and end check from any string (valid, truncated, flipped, random), the
same input errors (the tests marked `tfc`, which need TensorFlow); and, without it,
exact round trips in bounded time.

Over 250 lines: each of TFC's ops' behaviours (carries, finalize endings, corrupt
strings, input errors) has its test against the op.
"""
import os
import time

import numpy as np
import pytest

from lic_jax.coder import numba_ops
from lic_jax.coder.numba_ops import RangeDecodeError, RangeDecoder, RangeEncoder

PAYLOAD_ROW = (1, [0, 1, 2])  # lic_jax's payload bit: precision 1, a fair coin
TWO_32 = 1 << 32


class TFCOps:
  """TFC's ops on one encoder stream, or on a batch of decoder streams at once."""

  def __init__(self, tf, ops):
    self.tf, self.ops = tf, ops

  def encode(self, lookup, calls):
    tf, ops = self.tf, self.ops
    handle = ops.create_range_encoder([], tf.constant(lookup, tf.int32))
    for indexes, values in calls:
      handle = ops.entropy_encode_index(handle, tf.constant(indexes, tf.int32),
                                        tf.constant(values, tf.int32))
    return bytes(ops.entropy_encode_finalize(handle).numpy())

  def decode(self, strings, lookup, index_calls):
    """([values (len(strings), len(indexes)) per call], finalize per string)."""
    tf, ops = self.tf, self.ops
    handle = ops.create_range_decoder(tf.constant(list(strings), tf.string),
                                      tf.constant(lookup, tf.int32))
    decoded = []
    for indexes in index_calls:
      batch = np.broadcast_to(np.asarray(indexes, np.int32), (len(strings), len(indexes)))
      handle, values = ops.entropy_decode_index(
          handle, tf.constant(batch), tf.constant([len(indexes)], tf.int32), tf.int32)
      decoded.append(values.numpy())
    return decoded, ops.entropy_decode_finalize(handle).numpy()


@pytest.fixture(scope="module")
def tfc():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import tensorflow as tf
  import tensorflow_compression_ops as ops
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # TF already initialized its devices elsewhere in the process
    pass
  return TFCOps(tf, ops)


def quantized_cdf(pmf, precision=16):
  """A CDF from 0 to 2^precision with every bin at least 1."""
  pmf = np.asarray(pmf, np.float64) / np.sum(pmf)
  spare = (1 << precision) - len(pmf)
  masses = 1 + np.floor(pmf * spare).astype(np.int64)
  masses[np.argmax(pmf)] += (1 << precision) - masses.sum()
  return np.concatenate([[0], np.cumsum(masses)])


def random_cdf(rng, bins):
  """Precision-16 CDFs from flat to extreme: Dirichlet with small alpha puts nearly
  all the mass on a few bins and 2^-16 on the rest."""
  kind = rng.integers(3)
  if kind == 0:
    cuts = rng.choice(np.arange(1, 1 << 16), bins - 1, replace=False)
    return np.concatenate([[0], np.sort(cuts), [1 << 16]])
  if kind == 1:
    return quantized_cdf(rng.dirichlet(np.full(bins, rng.choice([0.02, 0.3, 3.0]))))
  pmf = np.ones(bins)
  pmf[rng.integers(bins)] = 1e9  # one near-certain bin, every other one 2^-16
  return quantized_cdf(pmf)


def make_lookup(rows, padding=()):
  """The flat lookup of (precision, cdf) rows; padding[i] extra copies of row i's
  last value after it, which the ops skip."""
  parts = []
  for i, (precision, cdf) in enumerate(rows):
    extra = padding[i] if i < len(padding) else 0
    parts.append(np.concatenate([[precision], cdf, [cdf[-1]] * extra]))
  return np.concatenate(parts).astype(np.int32)


def random_rows(rng):
  """Several precision-16 rows of 1 to 300 bins, and the payload row."""
  n_rows = rng.integers(2, 7)
  rows = [(16, random_cdf(rng, bins)) for bins in rng.integers(1, 300, n_rows)]
  rows.insert(rng.integers(len(rows) + 1), PAYLOAD_ROW)
  return rows


def sample(rng, rows, n):
  """n (indexes, values): mostly drawn from each row's distribution, the rest
  uniform over its bins, which brings the rare bins in."""
  indexes = rng.integers(len(rows), size=n).astype(np.int32)
  values = np.empty(n, np.int32)
  for i, (precision, cdf) in enumerate(rows):
    of_row = np.flatnonzero(indexes == i)
    drawn = np.searchsorted(cdf[1:], rng.integers(1 << precision, size=len(of_row)),
                            side="right")
    uniform = rng.integers(len(cdf) - 1, size=len(of_row))
    values[of_row] = np.where(rng.random(len(of_row)) < 0.85, drawn, uniform)
  return indexes, values


def split(rng, indexes, values, parts):
  """(indexes, values) cut into parts calls, some of which may be empty."""
  cuts = np.sort(rng.integers(0, len(values) + 1, parts - 1))
  return list(zip(np.split(indexes, cuts), np.split(values, cuts)))


def encode(lookup, calls):
  encoder = RangeEncoder(lookup)
  for indexes, values in calls:
    encoder.encode_index(indexes, values)
  return encoder.finalize()


def decode(data, lookup, index_calls):
  """([values per call], finalize)."""
  decoder = RangeDecoder(data, lookup)
  return [decoder.decode_index(indexes) for indexes in index_calls], decoder.finalize()


def assert_same_as_tfc(tfc, lookup, calls):
  """Our bytes are TFC's, and both decoders read the values back from them."""
  data = encode(lookup, calls)
  assert data == tfc.encode(lookup, calls)
  index_calls = [i for i, _ in calls]
  decoded, ok = decode(data, lookup, index_calls)
  assert ok
  tfc_decoded, tfc_ok = tfc.decode([data], lookup, index_calls)
  assert tfc_ok.tolist() == [True]
  for (_, values), ours, theirs in zip(calls, decoded, tfc_decoded):
    np.testing.assert_array_equal(ours, values)
    np.testing.assert_array_equal(theirs[0], values)


# --- against TFC's ops ---


@pytest.mark.tfc
@pytest.mark.parametrize("seed", range(12))
def test_random_streams_match_tfc(tfc, seed):
  rng = np.random.default_rng(seed)
  rows = random_rows(rng)
  lookup = make_lookup(rows, padding=rng.integers(0, 3, len(rows)))
  indexes, values = sample(rng, rows, int(rng.integers(1, 3000)))
  assert_same_as_tfc(tfc, lookup, split(rng, indexes, values, int(rng.integers(1, 8))))


def _row_bounds(size, cdf):
  """Where each bin of cdf puts the interval, relative to base: (a, b) inclusive."""
  return [((size * lo) >> 16, ((size * hi) >> 16) - 1) for lo, hi in zip(cdf, cdf[1:])]


def steered_stream(rng, cdf, n_symbols):
  """Values steered by the encoder state so that the interval keeps straddling
  2^32 over several 16-bit shifts, then leaves it with and without a carry.

  Returns (values, counts of each path the encoder took)."""
  encoder = RangeEncoder(make_lookup([(16, cdf)]))
  counts = dict(straddle=0, longer_straddle=0, carry_run=0, no_carry_run=0)
  values, leave_by_carry = [], True
  for _ in range(n_symbols):
    base, size_minus1, delay, n_out = (int(v) for v in encoder._state)
    bounds = _row_bounds(size_minus1 + 1, cdf)
    edge = TWO_32 - base  # where 2^32 lies, relative to base
    if not delay:
      value = int(rng.integers(len(bounds)))
    elif delay >> 16 < 6:  # stay across the edge
      inside = [v for v, (a, b) in enumerate(bounds) if a < edge <= b]
      value = inside[0] if inside else int(rng.integers(len(bounds)))
    else:  # leave above the edge (a carry) or below it
      side = [v for v, (a, b) in enumerate(bounds)
              if (a >= edge if leave_by_carry else b < edge)]
      value = side[0] if side else int(rng.integers(len(bounds)))
    encoder.encode_index(np.zeros(1, np.int32), np.array([value], np.int32))
    values.append(value)
    new_delay, new_n_out = int(encoder._state[2]), int(encoder._state[3])
    if delay and new_n_out > n_out:  # the delayed bytes went out: carry or not?
      delayed = [(delay >> 8) & 0xFF, delay & 0xFF]
      carried = encoder._out[n_out:n_out + 2].tolist() == delayed
      if delay >> 16:
        counts["carry_run" if carried else "no_carry_run"] += 1
        leave_by_carry = not leave_by_carry
    elif new_delay and not delay:
      counts["straddle"] += 1
    elif delay and new_delay == delay + 0x20000:
      counts["longer_straddle"] += 1
  return np.array(values, np.int32), counts


@pytest.mark.tfc
@pytest.mark.parametrize("bins", [2, 3, 64])
def test_carry_paths_match_tfc(tfc, bins):
  """Long straddles (the zero/0xFF runs) are rare in random data: steer into them."""
  rng = np.random.default_rng(bins)
  cdf = quantized_cdf(rng.dirichlet(np.ones(bins)) + 0.01)
  values, counts = steered_stream(rng, cdf, 3000)
  assert min(counts.values()) >= 3, counts
  indexes = np.zeros(len(values), np.int32)
  assert_same_as_tfc(tfc, make_lookup([(16, cdf)]), split(rng, indexes, values, 5))


@pytest.mark.tfc
def test_skewed_runs_match_tfc(tfc):
  """Long runs of a near-certain symbol, and runs of 2^-16 symbols."""
  rng = np.random.default_rng(0)
  near_certain = quantized_cdf([1e9, 1, 1, 1])
  rows = [(16, near_certain), (16, quantized_cdf(np.ones(64))), PAYLOAD_ROW]
  lookup = make_lookup(rows)
  calls = []
  for _ in range(10):
    n = int(rng.integers(1, 2000))
    rare = rng.random() < 0.3
    values = (rng.integers(1, 4, n) if rare else np.zeros(n)).astype(np.int32)
    calls.append((np.zeros(n, np.int32), values))
    calls.append(sample(rng, rows, int(rng.integers(0, 50))))
  assert_same_as_tfc(tfc, lookup, calls)


def _finalize_branch(encoder):
  """Which way finalize will close the stream (from the encoder's state)."""
  base, size_minus1, delay, _ = (int(v) for v in encoder._state)
  if delay:
    return "straddle, 2 bytes" if delay & 0xFF else "straddle, 1 byte"
  if not base:
    return "base 0"
  upper = (base + size_minus1) & 0xFFFFFFFF
  return "24 bits" if ((base - 1) >> 24) + 1 <= upper >> 24 else "16 bits"


@pytest.mark.tfc
def test_every_way_to_finalize_matches_tfc(tfc):
  """The first stream prefix that ends each way, one symbol at a time."""
  rng = np.random.default_rng(1)
  rows = [(16, quantized_cdf([1e9, 1, 1])), (16, quantized_cdf(np.ones(64))), PAYLOAD_ROW]
  lookup = make_lookup(rows)
  indexes, values = sample(rng, rows, 40000)
  encoder, found = RangeEncoder(lookup), {}
  for n in range(len(values)):
    encoder.encode_index(indexes[n:n + 1], values[n:n + 1])
    found.setdefault(_finalize_branch(encoder), n + 1)
  assert len(found) == 5, found
  for n in found.values():
    assert_same_as_tfc(tfc, lookup, [(indexes[:n], values[:n])])


@pytest.mark.tfc
def test_edge_cases_match_tfc(tfc):
  lookup = make_lookup([(16, quantized_cdf([1, 2, 3])), (16, [0, 1 << 16]), PAYLOAD_ROW])
  empty = np.zeros(0, np.int32)
  one = np.ones(1, np.int32)
  no_bits = (np.ones(100, np.int32), np.zeros(100, np.int32))  # the 1-bin row
  for calls in ([], [(empty, empty)], [(empty, empty)] * 3, [(one * 0, one)],
                [(empty, empty), (one * 2, one), (empty, empty)], [no_bits]):
    assert_same_as_tfc(tfc, lookup, calls)
  assert encode(lookup, []) == b""
  # An empty lookup: nothing to code with, but valid.
  assert tfc.encode(np.zeros(0, np.int32), []) == encode([], []) == b""


@pytest.mark.tfc
def test_finalize_twice_and_coding_on_match_tfc(tfc):
  """finalize appends the closing bytes to the stream, as the op does."""
  tf, ops = tfc.tf, tfc.ops
  lookup = make_lookup([(16, quantized_cdf([1, 2, 3])), PAYLOAD_ROW])
  indexes, values = np.int32([0, 0, 1, 0]), np.int32([1, 2, 1, 0])
  handle = ops.create_range_encoder([], tf.constant(lookup))
  encoder = RangeEncoder(lookup)
  for _ in range(2):
    handle = ops.entropy_encode_index(handle, tf.constant(indexes), tf.constant(values))
    encoder.encode_index(indexes, values)
    for _ in range(2):
      assert encoder.finalize() == bytes(ops.entropy_encode_finalize(handle).numpy())


@pytest.mark.tfc
def test_zero_probability_bins_match_tfc(tfc):
  """TFC codes a zero-width bin without complaint (undecodable, but defined): so do we."""
  rng = np.random.default_rng(2)
  lookup = make_lookup([(16, [0, 0, 30000, 30000, 1 << 16, 1 << 16]), (3, [0, 8, 8])])
  for _ in range(30):
    indexes = rng.integers(0, 2, 40).astype(np.int32)
    values = np.where(indexes == 0, rng.integers(0, 4, 40), rng.integers(0, 1, 40))
    calls = [(indexes, values.astype(np.int32))]
    assert encode(lookup, calls) == tfc.encode(lookup, calls)


@pytest.mark.tfc
def test_corrupt_strings_decode_as_tfc(tfc):
  """Truncations, bit flips, trailing bytes, random bytes: the same values and the
  same finalize as TFC (whose decoder raises on no data: past the end it reads zeros)."""
  rng = np.random.default_rng(3)
  rows = random_rows(rng)
  lookup = make_lookup(rows)
  calls = split(rng, *sample(rng, rows, 400), 3)
  index_calls = [i for i, _ in calls]
  data = encode(lookup, calls)
  strings = [data[:n] for n in range(len(data) + 1)]
  flips = rng.choice(8 * len(data), min(400, 8 * len(data)), replace=False)
  for bit in flips:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    strings.append(bytes(flipped))
  strings += [data + bytes(rng.integers(0, 256, k, np.uint8)) for k in (1, 2, 5)]
  strings += [data + b"\x00" * k for k in (1, 8)]  # what the decoder would imply
  strings += [rng.bytes(int(k)) for k in rng.integers(0, 80, 200)]
  strings += [b"\x00" * 8, b"\xff" * 8, b"\x80"]
  tfc_decoded, tfc_ok = tfc.decode(strings, lookup, index_calls)
  start = time.perf_counter()
  for k, string in enumerate(strings):
    decoded, ok = decode(string, lookup, index_calls)
    for ours, theirs in zip(decoded, tfc_decoded):
      np.testing.assert_array_equal(ours, theirs[k])
    assert ok == tfc_ok[k], k
  assert time.perf_counter() - start < 5
  assert not tfc_ok.all() and tfc_ok.any()  # both outcomes were compared


@pytest.mark.tfc
def test_invalid_inputs_raise_where_tfc_does(tfc):
  tf = tfc.tf
  lookup = make_lookup([(16, quantized_cdf([1, 2, 3])), PAYLOAD_ROW])
  for indexes, values in (([0, 2], [0, 0]), ([0, -1], [0, 0]), ([0, 0], [0, 3]),
                          ([1, 1], [1, 2]), ([0, 1], [-1, 0])):
    with pytest.raises(tf.errors.InvalidArgumentError):
      tfc.encode(lookup, [(indexes, values)])
    with pytest.raises(ValueError):
      encode(lookup, [(indexes, values)])
  with pytest.raises(tf.errors.InvalidArgumentError):
    tfc.decode([b"abc"], lookup, [[0, 2]])
  with pytest.raises(RangeDecodeError, match="index 2 at position 1"):
    decode(b"abc", lookup, [[0, 2]])
  for bad in ([16, 0, 100], [17, 0, 1, 2], [0, 0, 1], [1, 1, 1, 2], [2, 0, 3, 2, 4],
              [2, 0, 1, 3], [1, 0, 1, 2, 1, 0], [1, 0, 1]):
    with pytest.raises(tf.errors.InvalidArgumentError):
      tfc.encode(bad, [])
    with pytest.raises(ValueError):
      RangeEncoder(bad)
    with pytest.raises(ValueError):
      RangeDecoder(b"", bad)


@pytest.mark.tfc
def test_lookup_layouts_parse_as_tfc(tfc):
  """Rows are found as TFC finds them: padding skipped, a row ends at 2^precision."""
  lookup = [2, 0, 1, 4, 4, 4, 1, 0, 2, 3, 0, 8, 8, 16, 0, 65535, 65536]
  # Rows: [2: 0 1 4], [1: 0 2], [3: 0 8], [16: 0 65535 65536].
  calls = [([0, 0, 1, 2, 3, 3, 3], [0, 1, 0, 0, 1, 0, 1])]
  assert_same_as_tfc(tfc, lookup, calls)
  with pytest.raises(ValueError):
    encode(lookup, [([4], [0])])


# --- without TensorFlow ---


@pytest.mark.parametrize("seed", range(8))
def test_round_trips(seed):
  rng = np.random.default_rng(100 + seed)
  rows = random_rows(rng)
  lookup = make_lookup(rows)
  indexes, values = sample(rng, rows, int(rng.integers(0, 20000)))
  calls = split(rng, indexes, values, int(rng.integers(1, 20)))
  index_calls = [i for i, _ in calls]
  data = encode(lookup, calls)
  decoded, ok = decode(data, lookup, index_calls)
  assert ok
  np.testing.assert_array_equal(np.concatenate(decoded), values)


def test_million_symbols_round_trip():
  rng = np.random.default_rng(7)
  rows = [(16, random_cdf(rng, 64)) for _ in range(8)] + [PAYLOAD_ROW]
  lookup = make_lookup(rows)
  indexes, values = sample(rng, rows, 1_000_000)
  cuts = [1, 1000, 500_000, 500_001]
  index_calls = np.split(indexes, cuts)
  data = encode(lookup, list(zip(index_calls, np.split(values, cuts))))
  decoded, ok = decode(data, lookup, index_calls)
  assert ok
  np.testing.assert_array_equal(np.concatenate(decoded), values)


def test_garbage_decodes_in_bounded_time():
  rng = np.random.default_rng(8)
  rows = [(16, random_cdf(rng, bins)) for bins in (1, 2, 300, 5000)] + [PAYLOAD_ROW]
  lookup = make_lookup(rows)
  indexes = rng.integers(0, len(rows), 200_000).astype(np.int32)
  for data in (b"", rng.bytes(10), rng.bytes(100_000), b"\xff" * 1000):
    decoder = RangeDecoder(data, lookup)
    start = time.perf_counter()
    values = decoder.decode_index(indexes)
    assert time.perf_counter() - start < 1
    bins = np.array([len(cdf) - 1 for _, cdf in rows])[indexes]
    assert values.dtype == np.int32 and np.all((0 <= values) & (values < bins))
    assert decoder.finalize() in (True, False)


def test_input_types_share_one_compiled_signature():
  """Lists, int64, read-only (e.g. from JAX) and strided inputs give the same bytes,
  through the one signature each compiled function has."""
  lookup = make_lookup([(16, quantized_cdf([5, 1, 1])), PAYLOAD_ROW])
  indexes = np.array([0, 1, 0, 0, 1, 0, 0, 0], np.int32)
  values = np.array([0, 1, 2, 0, 0, 1, 0, 0], np.int32)
  expected = encode(lookup, [(indexes, values)])
  readonly = values.copy()
  readonly.setflags(write=False)
  strided = np.repeat(values, 2)[::2]
  for v in (values.tolist(), values.astype(np.int64), values.astype(np.uint8), readonly,
            strided):
    assert encode(lookup.tolist(), [(indexes.astype(np.int16), v)]) == expected
  decoder = RangeDecoder(bytearray(expected), lookup.astype(np.int64))
  np.testing.assert_array_equal(decoder.decode_index(indexes.reshape(2, 4)),
                                values.reshape(2, 4))
  assert decoder.finalize()
  for function in (numba_ops._index_rows, numba_ops._encode, numba_ops._decode):
    assert len(function.signatures) == 1


def test_invalid_inputs_raise():
  lookup = make_lookup([(16, quantized_cdf([1, 2, 3])), PAYLOAD_ROW])
  encoder = RangeEncoder(lookup)
  encoder.encode_index([0, 1], [2, 1])
  for indexes, values, message in (([0, 2], [0, 0], "index 2 at position 1"),
                                   ([-1], [0], "index -1 at position 0"),
                                   ([1, 0, 1], [0, 0, 2], "value 2 at position 2"),
                                   ([0], [-1], "value -1 at position 0"),
                                   ([0], [2**40], "must fit in int32"),
                                   ([0, 0], [0], "2 indexes but 1 values")):
    with pytest.raises(ValueError, match=message):
      encoder.encode_index(indexes, values)
  with pytest.raises(TypeError):
    encoder.encode_index([0], [0.5])
  # A call that raised coded nothing.
  assert encoder.finalize() == encode(lookup, [([0, 1], [2, 1])])
  decoder = RangeDecoder(b"\x12\x34\x56", lookup)
  with pytest.raises(RangeDecodeError, match=r"index 5 at position 2 is not in \[0, 2\)"):
    decoder.decode_index([0, 1, 5])
  fresh = RangeDecoder(b"\x12\x34\x56", lookup)
  np.testing.assert_array_equal(decoder.decode_index([0, 1]), fresh.decode_index([0, 1]))
  for bad, message in (([16, 0, 100], "never reaches"), ([17, 0, 1, 2], "not in .1, 16"),
                       ([-16, 0, 1, 65536], "overflow mode"),
                       ([1, 1, 1, 2], "start with 0"), ([2, 0, 3, 2, 4], "decreases"),
                       ([1, 0], "ends inside"), (np.zeros((2, 3), np.int32), "1-D")):
    with pytest.raises(ValueError, match=message):
      RangeEncoder(bad)
