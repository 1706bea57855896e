"""Raster-autoregressive latent codec (Minnen et al. 2018): each position of y has a
Gaussian whose parameters come from the enclosing codec's context (a hyperprior's
output) and a masked context model over the positions before it in raster order.

Training and evaluation compute every position at once (the mask keeps each
position's context causal), or, with `forward_by_waves`, wave by wave as coding does.
Encode and decode go wave by wave
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
from lic_jax.latent.base import Gaussian, LatentCodec, Positions, is_shape
from lic_jax.latent.context import EMPTY, Context, call
from lic_jax.latent.tables import gaussian_stream_tables


@dataclasses.dataclass(frozen=True)
class RasterAutoregressive(LatentCodec):
  """The model methods:

  context(y_hat) -> features (B, h, w, F): the masked context model over the whole
    latent (`nn.layers.MaskedConv2d` of `kernel_size`); context(y_hat, rows, cols)
    -> (B, K, 1, F), its output at those positions only;
  params -> {"scales", "means"} from `features` and the context values it asks for
    (e.g. `hyper`), position by position (1x1 convs), so that it runs on the
    (B, K, 1, .) positions of a wave as on the whole latent.
  """
  context: str = "context_model"
  params: str = "gaussian_params"
  kernel_size: int = 5
  name: str = "y"
  forward_by_waves: bool = False
  METHODS = ("context", "params")

  @property
  def decodes_forward(self):
    """By default, as compressai's forward, the likelihood path quantizes y without
    the means for the context; with `forward_by_waves` it runs wave by wave as the
    coder does (mbt2018-vbr), and so decodes what it gives."""
    return self.forward_by_waves

  def code(self, model, mode, y, context=EMPTY, latents=None):
    if not mode.codes_symbols and not self.forward_by_waves:
      return self._likelihoods(model, mode, y, context)
    return self._wavefront(model, mode, y, context)

  def streams(self):
    return (self.name,)

  def _likelihoods(self, model, mode, y, context):
    # As compressai's forward: the context model and the synthesis see y quantized
    # without the means (round(y) in evaluation), the likelihoods are those of y
    # around the means, as the coder codes it. So forward's x_hat is not exactly
    # the decoded image for these models (that one is synthesis(symbols + means)).
    y_hat = mode.quantize(y)
    features = call(model, self.context, y_hat)
    dist = Gaussian.of(call(model, self.params, context=context, features=features))
    _, likelihoods = mode(self.name, y, dist)
    return y_hat, {self.name: likelihoods}

  def _wavefront(self, model, mode, y, context):
    b, h, w, c = y.shape
    rows, cols, counts = raster.waves(h, w, self.kernel_size)
    size = rows.shape[1]
    # The context's and (encoding) y's values of every wave, gathered once (only
    # latent-shaped values vary by position); on the host when coding, where each
    # wave is a call of its own.
    host = np.asarray if mode.codes_symbols else (lambda a: a)
    is_latent = lambda a: getattr(a, "ndim", 0) == 4 and tuple(a.shape[1:3]) == (h, w)
    gathered = {name: host(_gather_waves(value, rows, cols))
                for name, value in context.items() if is_latent(value)}
    y_waves = None if is_shape(y) else host(_gather_waves(y, rows, cols))
    wave_shape = jax.ShapeDtypeStruct((b, size, 1, c), y.dtype)
    y_hat = jnp.zeros(y.shape, y.dtype)
    likelihoods = None if mode.codes_symbols else jnp.zeros(y.shape, y.dtype)
    for t, count in enumerate(counts.tolist()):
      features = call(model, self.context, y_hat, rows[t], cols[t])
      wave_context = Context({name: gathered[name][t] if name in gathered else value
                              for name, value in context.items()})
      dist = Gaussian.of(call(model, self.params, context=wave_context, features=features))
      wave = wave_shape if y_waves is None else y_waves[t]
      wave_hat, wave_likelihoods = mode(self.name, wave, dist, _first(count, size))
      y_hat = _scatter(y_hat, rows[t], cols[t], wave_hat)
      if likelihoods is not None:
        likelihoods = _scatter(likelihoods, rows[t], cols[t], _first(count, size).mask(
            wave_likelihoods))
    return y_hat, {self.name: likelihoods}

  def stream_tables(self, params):
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
  unsqueeze = lambda a: jnp.pad(a, ((0, 0), (0, size - count), (0, 0), (0, 0)))
  return Positions(f"first {count} of {size}", mask=lambda a: unsqueeze(a[:, :count]),
                   squeeze=lambda a: a[:, :count], unsqueeze=unsqueeze)
