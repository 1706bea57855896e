"""Quantized CDF tables for the range coder, as CompressAI builds them.

A table row i describes one discrete distribution over `cdf_length[i] - 1` bins:
bin v holds the symbol `v + offset[i]`, and the last bin is the escape bin for
every symbol outside that range. `quantized_cdf[i, :cdf_length[i]]` is the cumulative
frequency, from 0 to 2**precision, strictly increasing (no bin is unencodable).

The rows must match the tables stored in the PyTorch checkpoints bit for bit,
since the decoder has to use exactly the encoder's tables. So every step follows
CompressAI 1.2 (`EntropyBottleneck.update`, `GaussianConditional.update` and its
C++ `pmf_to_quantized_cdf`): float32 arithmetic in torch's order where torch used
float32 (with exp, tanh, erfc rounded once from float64, which is what torch's CPU
kernels return up to the odd ulp), integer arithmetic where the C++ code used
integers. Pure numpy. A checkpoint's stored tables still come first: they record
the float32 kernels of the machine that built them, and an ulp can move a count
that sits on a rounding boundary.
"""
import dataclasses
import heapq
import math
import statistics

import numpy as np

PRECISION = 16


@dataclasses.dataclass(frozen=True)
class CDFTables:
  """CDF tables for n distributions (all int32 numpy arrays).

  quantized_cdf: (n, width), row i valid up to cdf_length[i], zero-padded after.
  cdf_length: (n,), number of CDF entries, i.e. bins + 1 (the escape bin included).
  offset: (n,), the symbol coded by bin 0.
  """
  quantized_cdf: np.ndarray
  cdf_length: np.ndarray
  offset: np.ndarray


def pmf_to_quantized_cdf(pmf, precision=PRECISION):
  """Integer CDF (len(pmf) + 1,) int32 from a pmf whose last entry is the tail mass.

  Each probability becomes round(p * 2**precision) (float32, half away from zero);
  the counts are rescaled by their total with integer division; the CDF is their
  running sum with the last entry forced to 2**precision. Bins that got a zero
  count then each take one unit from the bin with the smallest count above one
  (the lowest such bin on ties), so every symbol stays encodable.
  """
  pmf = np.asarray(pmf, np.float32)
  if pmf.ndim != 1 or pmf.size == 0:
    raise ValueError(f"pmf must be a non-empty vector, got shape {pmf.shape}")
  if not np.all(np.isfinite(pmf)) or np.any(pmf < 0):
    raise ValueError("pmf has a negative or non-finite entry")
  top = 1 << precision
  # p * 2**precision is exact in float32 (a power-of-two scaling), so rounding it
  # in float64 gives the float32 result of the C++ code.
  counts = np.floor(pmf.astype(np.float64) * top + 0.5).astype(np.int64)
  total = int(counts.sum())
  if total == 0:
    raise ValueError("pmf has no mass left after quantization")
  counts = (top * counts) // total
  cdf = np.concatenate([[0], np.cumsum(counts)])
  cdf[-1] = top
  freq = np.diff(cdf)
  _steal_for_empty_bins(freq)
  return np.concatenate([[0], np.cumsum(freq)]).astype(np.int32)


def _steal_for_empty_bins(freq):
  """Gives each zero-frequency bin one unit, in place, as CompressAI's C++ does.

  CompressAI scans the whole CDF for each empty bin; moving one unit between two
  bins changes only those two frequencies, so a heap of (frequency, bin) over the
  bins with frequency > 1 finds the same donor in O(log n).
  """
  donors = [(int(f), j) for j, f in enumerate(freq) if f > 1]
  heapq.heapify(donors)
  for i in np.flatnonzero(freq == 0):
    if not donors:
      raise ValueError("no bin has enough frequency to give to an empty bin")
    f, j = heapq.heappop(donors)
    freq[j] = f - 1
    freq[i] = 1
    if f - 1 > 1:
      heapq.heappush(donors, (f - 1, j))


def _stack(pmfs, tails, lengths):
  """Tables from per-row pmfs (n, L) float32, tails (n,) and pmf lengths (n,)."""
  lengths = np.asarray(lengths, np.int64)
  cdf = np.zeros((len(lengths), int(lengths.max()) + 2), np.int32)
  for i, n in enumerate(lengths):
    row = pmf_to_quantized_cdf(np.append(pmfs[i, :n], tails[i]))
    cdf[i, :len(row)] = row
  return cdf, (lengths + 2).astype(np.int32)


def gaussian_tables(scale_table, tail_mass=1e-9):
  """Tables of zero-mean Gaussians, one row per scale: (n,) scales -> n rows.

  Row i spans +-ceil(scale_i * z) with z the 1 - tail_mass/2 normal quantile. An ulp
  of a scale can move a table edge, so the scale table must be torch's to the bit:
  a checkpoint's stored one, or `gaussian.default_scale_table()`, which is.
  """
  scales = np.asarray(scale_table, np.float32)
  multiplier = np.float32(-statistics.NormalDist().inv_cdf(tail_mass / 2))
  centers = np.ceil(scales * multiplier).astype(np.int64)
  lengths = 2 * centers + 1
  samples = np.abs(np.arange(lengths.max())[None, :] - centers[:, None]).astype(np.float32)
  upper = _standardized_cumulative((np.float32(0.5) - samples) / scales[:, None])
  lower = _standardized_cumulative((np.float32(-0.5) - samples) / scales[:, None])
  pmf = upper - lower
  tails = np.float32(2) * lower[:, 0]
  cdf, cdf_length = _stack(pmf, tails, lengths)
  return CDFTables(cdf, cdf_length, (-centers).astype(np.int32))


def _standardized_cumulative(x):
  """Phi(x) = erfc(-x / sqrt 2) / 2 for float32 x, with torch's float32 steps."""
  erfc = np.frompyfunc(math.erfc, 1, 1)
  return np.float32(0.5) * _rounded(lambda v: erfc(v).astype(np.float64),
                                    np.float32(-(2 ** -0.5)) * x)


def factorized_tables(params, step=None):
  """Tables of the factorized prior, one row per channel -> Tables of C rows.

  params: the entropy-bottleneck dict (`matrix_k` (C, f_out, f_in), `bias_k`,
  `factor_k`, `quantiles` (C, 1, 3)). Row c spans the integers from the lower to
  the upper quantile around the median; z is coded as round(z - median) - offset.
  The tail mass is not a parameter: it is implied by the learned quantiles, and the
  tail bin holds the density left outside the sampled range.

  step: z quantized at this step instead (variable-rate models,
  `lic_jax.latent.variable_rate`): the rows span the multiples of the step between
  the quantiles, over bins a step wide, with CompressAI 1.2.8's float32 steps
  (`EntropyBottleneckVbr.update_variable`, which takes the plain difference of
  sigmoids).
  """
  quantiles = np.asarray(params["quantiles"], np.float32)[:, 0, :]
  medians = quantiles[:, 1]
  if step is not None:
    return _stepped_factorized_tables(params, quantiles, np.float32(step))
  minima = np.maximum(np.ceil(medians - quantiles[:, 0]).astype(np.int64), 0)
  maxima = np.maximum(np.ceil(quantiles[:, 2] - medians).astype(np.int64), 0)
  lengths = minima + maxima + 1
  start = medians - minima.astype(np.float32)
  samples = (np.arange(lengths.max(), dtype=np.float32)[None, :] + start[:, None])[:, None, :]
  lower = _logits_cumulative(params, samples - np.float32(0.5))[:, 0, :]
  upper = _logits_cumulative(params, samples + np.float32(0.5))[:, 0, :]
  # Difference of sigmoids on the side of the median where they are small.
  sign = -np.sign(lower + upper)
  pmf = np.abs(_sigmoid(sign * upper) - _sigmoid(sign * lower))
  # As CompressAI: the upper tail is measured at the end of the widest row.
  tails = _sigmoid(lower[:, 0]) + _sigmoid(-upper[:, -1])
  cdf, cdf_length = _stack(pmf, tails, lengths)
  return CDFTables(cdf, cdf_length, (-minima).astype(np.int32))


def _stepped_factorized_tables(params, quantiles, step):
  medians = quantiles[:, 1]
  minima = np.maximum(np.ceil((medians - quantiles[:, 0]) / step).astype(np.int64), 0)
  maxima = np.maximum(np.ceil((quantiles[:, 2] - medians) / step).astype(np.int64), 0)
  lengths = minima + maxima + 1
  start = medians - minima.astype(np.float32) * step
  samples = np.arange(lengths.max()).astype(np.float32) * step
  samples = (samples[None, :] + start[:, None])[:, None, :]
  half = np.float32(0.5) * step
  lower = _logits_cumulative(params, samples - half)[:, 0, :]
  upper = _logits_cumulative(params, samples + half)[:, 0, :]
  pmf = _sigmoid(upper) - _sigmoid(lower)
  tails = _sigmoid(lower[:, 0]) + _sigmoid(-upper[:, -1])
  cdf, cdf_length = _stack(pmf, tails, lengths)
  return CDFTables(cdf, cdf_length, (-minima).astype(np.int32))


def _logits_cumulative(params, x):
  """float32 twin of `lic_jax.entropy.factorized.logits_cumulative`, in torch's order.

  Matrix products are summed term by term (what torch's bmm does for these tiny
  matrices), so the logits come out bit-identical to CompressAI's on CPU.
  """
  logits = x
  k = 0
  while f"matrix_{k}" in params:
    matrix = _softplus(np.asarray(params[f"matrix_{k}"], np.float32))
    acc = matrix[:, :, :1] * logits[:, :1, :]
    for j in range(1, matrix.shape[2]):
      acc = acc + matrix[:, :, j:j + 1] * logits[:, j:j + 1, :]
    logits = acc + np.asarray(params[f"bias_{k}"], np.float32)
    if f"factor_{k}" in params:
      factor = _rounded(np.tanh, np.asarray(params[f"factor_{k}"], np.float32))
      logits = logits + factor * _rounded(np.tanh, logits)
    k += 1
  return logits


def _rounded(fn, x):
  """fn(x) for float32 x, evaluated in float64 and rounded once to float32.

  torch's float32 kernels are within about an ulp of this correctly rounded value,
  numpy's float32 ones further off; on the fixtures this reproduces torch exactly
  where numpy's float32 exp/tanh moved two table rows.
  """
  return fn(np.asarray(x, np.float64)).astype(np.float32)


def _softplus(x):
  """log(1 + e^x) in float32, linear above 20 like torch."""
  return np.where(x > 20, x, _rounded(lambda v: np.log1p(np.exp(v)), np.minimum(x, 20)))


def _sigmoid(x):
  """1 / (1 + e^-x) with float32 steps, torch's formula. e^-x overflows to inf for
  very negative x, which gives the right limit, 0."""
  with np.errstate(over="ignore"):
    return np.float32(1) / (np.float32(1) + _rounded(np.exp, -x))
