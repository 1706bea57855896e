"""Distortion metrics: PSNR (of an MSE) and MS-SSIM (in JAX: differentiable, batched NHWC).

MS-SSIM (Wang, Simoncelli & Bovik 2003) follows `pytorch_msssim.ms_ssim`, the
implementation CompressAI's eval_model and the MLIC++ / ELIC papers report with:
an 11-tap Gaussian window (sigma 1.5) applied separably with 'valid' borders,
K = (0.01, 0.03), five scales weighted (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
2x2 average pooling between scales with one leading zero row / column on odd
sizes (torch's `avg_pool2d(padding=size % 2)`, zeros counted), ReLU on the
contrast terms and the last SSIM, then the weighted product, averaged over the
colour channels. tests/test_metrics.py checks it against pytorch_msssim on
stored vectors.

Standard MS-SSIM needs a shorter side above 160 pixels (10 * 2^4: the window
still fits after four halvings); pytorch_msssim refuses smaller images. Here they
are accepted, with pytorch_msssim's own small-input rule: along a dimension shorter
than the window the Gaussian smoothing is skipped. Such values are defined and
differentiable but not comparable with published numbers; `is_standard_size` says
which case an image is in.

As a training loss use `1 - ms_ssim(x, x_hat)`: every op is differentiable, and
the weighted power is written so that a scale clipped to zero by the ReLU gives a
zero gradient, not NaN.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

# pytorch_msssim's defaults (from Wang et al. 2003).
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE = 11
WIN_SIGMA = 1.5
K = (0.01, 0.03)
MIN_STANDARD_SIDE = (WIN_SIZE - 1) * 2 ** (len(WEIGHTS) - 1) + 1  # 161


def psnr(mse, data_range=1.0):
  """PSNR in dB of a mean squared error: 10 log10(data_range^2 / mse), elementwise;
  inf where mse is 0.

  The one PSNR of lic_jax. A jax array (also under jit, e.g. a training batch's MSE)
  gives a jax array; anything else (Python or numpy numbers) is computed in float64,
  a float for a scalar. With `mse_uint8`'s exact MSE it gives the 8-bit PSNR papers
  report: `psnr(mse_uint8(a, b), 255)`.
  """
  if isinstance(mse, jax.Array):
    return 10.0 * jnp.log10(data_range ** 2 / mse)
  mse = np.asarray(mse, np.float64)
  with np.errstate(divide="ignore"):  # mse == 0: inf, as a lossless image has
    value = 10.0 * np.log10(np.float64(data_range) ** 2 / mse)
  return float(value) if value.ndim == 0 else value


def mse_uint8(a, b):
  """Mean squared error of two 8-bit images of any equal shape, exactly: the integer
  sum of squared differences over the number of values, rounded once to float64."""
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"MSE of images of different shapes {a.shape} and {b.shape}")
  diff = a.astype(np.int64) - b.astype(np.int64)
  return int(np.sum(diff * diff)) / diff.size


def ms_ssim_db(value):
  """MS-SSIM on the decibel scale papers plot: -10 log10(1 - MS-SSIM); inf at 1."""
  value = float(value)
  return float("inf") if value >= 1.0 else float(-10.0 * np.log10(1.0 - value))


def is_standard_size(height, width):
  """Whether MS-SSIM of an image this size has its standard (pytorch_msssim) meaning."""
  return min(height, width) >= MIN_STANDARD_SIDE


def gaussian_window(size=WIN_SIZE, sigma=WIN_SIGMA):
  """The normalized 1-D Gaussian window, computed in float32 as pytorch_msssim does."""
  coords = np.arange(size, dtype=np.float32) - np.float32(size // 2)
  g = np.exp(-(coords ** 2) / np.float32(2 * sigma ** 2)).astype(np.float32)
  return g / g.sum(dtype=np.float32)


def _blur(x, window):
  """Separable 'valid' Gaussian filter of (B, H, W, C), skipping any spatial axis
  shorter than the window (pytorch_msssim's rule).

  Written as a weighted sum of shifted slices rather than a depthwise conv: XLA
  fuses it into one elementwise pass (about 13x faster than a grouped conv on
  CPU), and on GPUs it stays in full float32 where a conv may drop to TF32.
  """
  size = window.shape[0]
  for axis in (1, 2):
    n = x.shape[axis] - size + 1
    if n <= 0:
      continue
    x = sum(window[k] * jax.lax.slice_in_dim(x, k, k + n, axis=axis) for k in range(size))
  return x


def _ssim_terms(x, y, window, data_range, k):
  """Per-image, per-channel mean SSIM and mean contrast-structure term: (B, C) each."""
  c1 = (k[0] * data_range) ** 2
  c2 = (k[1] * data_range) ** 2
  # The five local means in one blur (stacked on channels: one fused pass).
  mu_x, mu_y, e_xx, e_yy, e_xy = jnp.split(
      _blur(jnp.concatenate([x, y, x * x, y * y, x * y], axis=-1), window), 5, axis=-1)
  mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
  # E[x^2] - E[x]^2, as the reference computes it (not the centred form), so the
  # float32 rounding matches.
  sigma_xx, sigma_yy, sigma_xy = e_xx - mu_xx, e_yy - mu_yy, e_xy - mu_xy
  cs_map = (2 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
  ssim_map = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map
  return jnp.mean(ssim_map, axis=(1, 2)), jnp.mean(cs_map, axis=(1, 2))


def _avg_pool2(x):
  """2x2 average pooling, stride 2; an odd axis gets one leading zero row/column
  that counts in the average (torch avg_pool2d(padding=size % 2), the default
  count_include_pad). (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), C)."""
  b, h, w, c = x.shape
  x = jnp.pad(x, ((0, 0), (h % 2, 0), (w % 2, 0), (0, 0)))
  h, w = x.shape[1], x.shape[2]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).sum(axis=(2, 4)) * 0.25


def _power(base, exponent):
  """base ** exponent for base >= 0 with finite gradients at base == 0."""
  positive = base > 0
  safe = jnp.where(positive, base, 1.0)
  return jnp.where(positive, safe ** exponent, 0.0)


@functools.partial(jax.jit, static_argnames=("weights", "win_size", "win_sigma", "k"))
def ms_ssim(x, y, data_range=1.0, *, weights=WEIGHTS, win_size=WIN_SIZE, win_sigma=WIN_SIGMA,
            k=K):
  """Multi-scale SSIM per image: x, y (B, H, W, C) float in [0, data_range] -> (B,).

  Equals pytorch_msssim.ms_ssim(X, Y, data_range, size_average=False) on the
  NCHW transposes (to float32 rounding). Differentiable in x and y; the mean
  over a batch is `ms_ssim(...).mean()`.
  """
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  if x.shape != y.shape or x.ndim != 4:
    raise ValueError(f"ms_ssim takes two (B, H, W, C) arrays of one shape, got {x.shape} "
                     f"and {y.shape}")
  if win_size % 2 != 1:
    raise ValueError(f"the window size must be odd, got {win_size}")
  window = jnp.asarray(gaussian_window(win_size, win_sigma))
  data_range = jnp.asarray(data_range, jnp.float32)
  factors = []
  for level in range(len(weights)):
    ssim, cs = _ssim_terms(x, y, window, data_range, k)
    if level < len(weights) - 1:
      factors.append(jax.nn.relu(cs))
      x, y = _avg_pool2(x), _avg_pool2(y)
  factors.append(jax.nn.relu(ssim))
  stacked = jnp.stack(factors)  # (levels, B, C)
  exponents = jnp.asarray(weights, jnp.float32)[:, None, None]
  return jnp.mean(jnp.prod(_power(stacked, exponents), axis=0), axis=-1)
