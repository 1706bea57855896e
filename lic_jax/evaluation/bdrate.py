"""Bjontegaard delta rate (VCEG-M33), computed by the `bjontegaard` package.

BD-rate is the average bitrate difference, in percent, between a test curve and
an anchor curve at equal quality: log10(rate) is interpolated as a function of
quality on each curve, the two interpolants are integrated over the quality range
both curves cover, and the mean log-rate gap d gives (10**d - 1) * 100. Negative
means the test codec needs fewer bits than the anchor.

The interpolation is piecewise cubic Hermite (PCHIP, `method="pchip"`), as in the
JVET common test conditions' BD-rate sheet that VTM comparisons use; it cannot
overshoot between points the way VCEG-M33's global cubic can. Quality is PSNR in dB,
or MS-SSIM in dB (-10 log10(1 - MS-SSIM)) for the MS-SSIM BD-rate. This module
checks and sorts the curves and says why two cannot be compared; the package
(the `bdrate` extra) does the arithmetic.
"""
import warnings

import numpy as np

from lic_jax import extras


class BDRateError(ValueError):
  """The curves cannot be compared: too few points, or no common quality range."""


def _curve(rates, qualities, what):
  """(quality, rate) sorted by quality, checked."""
  rates = np.asarray(rates, np.float64).ravel()
  qualities = np.asarray(qualities, np.float64).ravel()
  if rates.shape != qualities.shape:
    raise BDRateError(f"{what}: {rates.size} rates but {qualities.size} quality values")
  if rates.size < 2:
    raise BDRateError(f"{what}: BD-rate needs at least 2 rate-distortion points, got "
                      f"{rates.size} (evaluate more models of the curve, e.g. several lambdas)")
  if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(qualities)) and np.all(rates > 0)):
    raise BDRateError(f"{what}: rates must be positive and quality values finite")
  order = np.argsort(qualities)
  qualities, rates = qualities[order], rates[order]
  if np.any(np.diff(qualities) <= 0):
    raise BDRateError(f"{what}: two points have the same quality; the curve is not a function "
                      "of quality")
  return qualities, rates


def bd_rate(anchor_rates, anchor_qualities, test_rates, test_qualities):
  """BD-rate of the test curve against the anchor curve, in percent (PCHIP).

  Raises BDRateError when a curve has fewer than 2 points or the quality ranges do
  not overlap, MissingExtraError without the `bjontegaard` package.
  """
  anchor_q, anchor_r = _curve(anchor_rates, anchor_qualities, "anchor")
  test_q, test_r = _curve(test_rates, test_qualities, "test")
  if min(anchor_q[-1], test_q[-1]) <= max(anchor_q[0], test_q[0]):
    raise BDRateError(
        f"the quality ranges do not overlap (anchor {anchor_q[0]:.2f}..{anchor_q[-1]:.2f} dB, "
        f"test {test_q[0]:.2f}..{test_q[-1]:.2f} dB): no common quality to compare rates at")
  extras.require("bdrate", "BD-rate")
  import bjontegaard
  with warnings.catch_warnings():  # the overlap is reported beside the figure instead
    warnings.simplefilter("ignore")
    return float(bjontegaard.bd_rate(anchor_r, anchor_q, test_r, test_q, method="pchip",
                                     require_matching_points=False, min_overlap=0))


def overlap(anchor_qualities, test_qualities):
  """Fraction of the joint quality span that both curves cover (0..1); BD-rate over a
  small overlap extrapolates nothing but says little."""
  a, t = np.asarray(anchor_qualities, float), np.asarray(test_qualities, float)
  span = max(a.max(), t.max()) - min(a.min(), t.min())
  common = min(a.max(), t.max()) - max(a.min(), t.min())
  return float(max(common, 0.0) / span) if span > 0 else 0.0
