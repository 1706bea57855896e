"""Raster-autoregressive latent codec (Minnen et al. 2018): each position of y has a
Gaussian whose parameters come from the enclosing codec's context (a hyperprior's
output) and a masked context model over the positions before it in raster order.

Training and evaluation compute every position at once (the mask keeps each
position's context causal). Encode and decode go wave by wave
(`lic_jax.entropy.raster.waves`): one step per wave computes the context and the
Gaussian of all its positions from what is decoded so far and codes their symbols
in one coder call, about 3h + w steps for an h x w latent instead of h * w. The
encoder and the decoder run the same jitted functions with the same shapes, so the
decoder's parameters are the encoder's to the bit. Streams are lic_jax's own: the
order (wave by wave) is not compressai's raster order.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import raster
from lic_jax.latent.base import Gaussian, LatentCodec, Likelihoods, Positions, is_shape
from lic_jax.latent.tables import gaussian_stream_tables


@dataclasses.dataclass(frozen=True)
class RasterAutoregressive(LatentCodec):
  """The model methods:

  context(y_hat) -> features (B, h, w, F): the masked context model over the whole
    latent (`nn.layers.MaskedConv2d` of `kernel_size`); context(y_hat, rows, cols)
    -> (B, K, 1, F), its output at those positions only;
  params(*context, features) -> (scales, means), position by position (1x1 convs),
    so that it runs on the (B, K, 1, .) positions of a wave as on the whole latent.
  """
  context: str = "context_prediction"
  params: str = "gaussian_params"
  kernel_size: int = 5
  name: str = "y"
  decodes_forward = False  # Not a field: forward quantizes y without the means.

  def code(self, stages, mode, y, context=(), latents=None):
    if isinstance(mode, Likelihoods):
      return self._likelihoods(stages, mode, y, context)
    return self._wavefront(stages, mode, y, context), {self.name: None}

  def _likelihoods(self, stages, mode, y, context):
    # As compressai's forward: the context model and the synthesis see y quantized
    # without the means (round(y) in evaluation), the likelihoods are those of y
    # around the means, as the coder codes it. So forward's x_hat is not exactly
    # the decoded image for these models (that one is synthesis(symbols + means)).
    y_hat = mode.quantize(y)
    features = getattr(stages, self.context)(y_hat)
    scales, means = getattr(stages, self.params)(*context, features)
    _, likelihoods = mode(self.name, y, Gaussian(scales, means))
    return y_hat, {self.name: likelihoods}

  def _wavefront(self, stages, mode, y, context):
    b, h, w, c = y.shape
    rows, cols, counts = raster.waves(h, w, self.kernel_size)
    size = rows.shape[1]
    # The context's and (encoding) y's values of every wave, gathered once.
    context_waves = [np.asarray(_gather_waves(a, rows, cols)) for a in context]
    y_waves = None if is_shape(y) else np.asarray(_gather_waves(y, rows, cols))
    wave_shape = jax.ShapeDtypeStruct((b, size, 1, c), y.dtype)
    y_hat = jnp.zeros(y.shape, y.dtype)
    for t, count in enumerate(counts.tolist()):
      features = getattr(stages, self.context)(y_hat, rows[t], cols[t])
      scales, means = getattr(stages, self.params)(*(a[t] for a in context_waves), features)
      wave = wave_shape if y_waves is None else y_waves[t]
      wave_hat, _ = mode(self.name, wave, Gaussian(scales, means), _first(count, size))
      y_hat = _scatter(y_hat, rows[t], cols[t], wave_hat)
    return y_hat

  def tables(self, params):
    return {self.name: gaussian_stream_tables()}


@jax.jit
def _gather_waves(a, rows, cols):
  """(B, h, w, C) -> (T, B, K, 1, C): the values at each wave's positions."""
  return a[:, rows, cols].transpose(1, 0, 2, 3)[:, :, :, None]


@jax.jit
def _scatter(y_hat, rows, cols, wave_hat):
  """Writes a wave's (B, K, 1, C) values; the padding slots (row h) are dropped."""
  return y_hat.at[:, rows, cols].set(wave_hat[:, :, 0], mode="drop")


@functools.lru_cache(maxsize=1024)
def _first(count, size):
  """The Positions of a wave: the first `count` of its `size` slots (cached, so that
  the jitted coding functions see the same static argument every time; one evicted
  costs a compilation, not a wrong result)."""
  return Positions(f"first {count} of {size}", squeeze=lambda a: a[:, :count],
                   unsqueeze=lambda a: jnp.pad(a, ((0, 0), (0, size - count), (0, 0), (0, 0))))
