"""Bjontegaard delta rate (VCEG-M33) with piecewise cubic Hermite interpolation.

BD-rate is the average bitrate difference, in percent, between a test curve and
an anchor curve at equal quality: log10(rate) is interpolated as a function of
PSNR on each curve, the two interpolants are integrated over the PSNR range both
curves cover, and the mean log-rate gap d gives (10**d - 1) * 100. Negative
means the test codec needs fewer bits than the anchor.

PCHIP (monotone piecewise cubic) replaces the original cubic polynomial fit, as
in the JVET/AOM common test conditions and the `bjontegaard` package's
`bd_rate(..., method="pchip")`, which this reproduces exactly (checked in
tests/test_eval.py); it cannot overshoot between points the way a global cubic
can. Plain scipy, so no extra dependency.
"""
import numpy as np
from scipy.interpolate import PchipInterpolator


class BDRateError(ValueError):
  """The curves cannot be compared: too few points, or no common quality range."""


def _curve(rates, psnrs, what):
  """(psnr, log10 rate) sorted by PSNR, checked."""
  rates = np.asarray(rates, np.float64).ravel()
  psnrs = np.asarray(psnrs, np.float64).ravel()
  if rates.shape != psnrs.shape:
    raise BDRateError(f"{what}: {rates.size} rates but {psnrs.size} PSNR values")
  if rates.size < 2:
    raise BDRateError(f"{what}: BD-rate needs at least 2 rate-distortion points, got "
                      f"{rates.size} (evaluate more models of the curve, e.g. several lambdas)")
  if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(psnrs)) and np.all(rates > 0)):
    raise BDRateError(f"{what}: rates must be positive and PSNR values finite")
  order = np.argsort(psnrs)
  psnrs, log_rates = psnrs[order], np.log10(rates[order])
  if np.any(np.diff(psnrs) <= 0):
    raise BDRateError(f"{what}: two points have the same PSNR; the curve is not a function "
                      "of quality")
  return psnrs, log_rates


def bd_rate(anchor_rates, anchor_psnrs, test_rates, test_psnrs):
  """BD-rate of the test curve against the anchor curve, in percent (PCHIP).

  Raises BDRateError when a curve has fewer than 2 points or the PSNR ranges
  do not overlap.
  """
  anchor_q, anchor_r = _curve(anchor_rates, anchor_psnrs, "anchor")
  test_q, test_r = _curve(test_rates, test_psnrs, "test")
  low, high = max(anchor_q[0], test_q[0]), min(anchor_q[-1], test_q[-1])
  if high <= low:
    raise BDRateError(
        f"the PSNR ranges do not overlap (anchor {anchor_q[0]:.2f}..{anchor_q[-1]:.2f} dB, "
        f"test {test_q[0]:.2f}..{test_q[-1]:.2f} dB): no common quality to compare rates at")
  anchor_area = PchipInterpolator(anchor_q, anchor_r).integrate(low, high)
  test_area = PchipInterpolator(test_q, test_r).integrate(low, high)
  mean_log_gap = (test_area - anchor_area) / (high - low)
  return float((10.0 ** mean_log_gap - 1.0) * 100.0)


def overlap(anchor_psnrs, test_psnrs):
  """Fraction of the joint PSNR span that both curves cover (0..1); BD-rate over a
  small overlap extrapolates nothing but says little."""
  a, t = np.asarray(anchor_psnrs, float), np.asarray(test_psnrs, float)
  span = max(a.max(), t.max()) - min(a.min(), t.min())
  common = min(a.max(), t.max()) - max(a.min(), t.min())
  return float(max(common, 0.0) / span) if span > 0 else 0.0
