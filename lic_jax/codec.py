"""Codec: a model with its weights and CDF tables; forward, compress, decompress.

Determinism is what makes this work. The decoder rebuilds every entropy parameter
from what it has decoded, so the encoder computes them through the very same jitted
functions (`JittedModel`, one compiled function per stage, slice index and shape) and
`lic_jax.models.slices.run_slices` drives both. Evaluation-mode `forward` runs through
the same functions too, so a decoded image equals forward's x_hat, rounded.
"""
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import bitstream, checkpoint, image_io, models
from lic_jax.entropy import checkerboard, factorized, gaussian
from lic_jax.entropy.tables import Tables
from lic_jax.models import slices

# Latent strides: y is at 1/16 of the image, z at 1/64; images are padded to this.
PAD_MULTIPLE = 64

SQUEEZE = {"anchor": checkerboard.squeeze_anchor, "nonanchor": checkerboard.squeeze_nonanchor}
UNSQUEEZE = {"anchor": checkerboard.unsqueeze_anchor,
             "nonanchor": checkerboard.unsqueeze_nonanchor}


# XLA's older CPU runtime runs the large convolutions of the transforms about 1.3x
# faster than the default thunk runtime of JAX 0.5 (Eigen contractions emitted
# in-line), but the slice steps' small batched matmuls 15x slower; so only the
# transforms use it. Encoder and decoder still share every slice-step program.
TRANSFORM_OPTIONS = {"cpu": {"xla_cpu_use_thunk_runtime": False}}


class JittedModel:
  """The model's stage methods, each jitted with the parameters as an argument.

  Has the method surface `slices.forward` and `slices.run_slices` use, so the same
  loop runs eagerly over these compiled stages in forward, compress and decompress.
  """

  def __init__(self, model, params):
    self.config = model.config
    self._params = params
    self._eb_params = model.apply({"params": params}, method=type(model).entropy_bottleneck_params)

    def stage(name, static=(), options=None):
      method = getattr(type(model), name)
      fn = jax.jit(lambda p, *args: model.apply({"params": p}, *args, method=method),
                   static_argnums=tuple(s + 1 for s in static), compiler_options=options)
      return functools.partial(fn, params)

    transform_options = TRANSFORM_OPTIONS.get(jax.default_backend())
    self.analysis = stage("analysis", options=transform_options)
    self.hyper_analysis = stage("hyper_analysis", options=transform_options)
    self.hyper_synthesis = stage("hyper_synthesis", options=transform_options)
    self.synthesis = stage("synthesis", options=transform_options)
    self.anchor_params = stage("anchor_params", static=(0,))
    self.nonanchor_params = stage("nonanchor_params", static=(0,))
    self.finish_slice = stage("finish_slice", static=(0,))

  def entropy_bottleneck_params(self):
    return self._eb_params


@functools.partial(jax.jit, static_argnames="half")
def half_indexes(scales, scale_table, half):
  """Scale-table indexes of one checkerboard half: (1, h, w, C) -> (1, h, w/2, C)."""
  return gaussian.scale_indexes(SQUEEZE[half](scales), scale_table)


@functools.partial(jax.jit, static_argnames="half")
def half_symbols(y, means, half):
  """Integer symbols round(y - means) of one half: (1, h, w, C) -> (1, h, w/2, C)."""
  return gaussian.symbols(SQUEEZE[half](y), SQUEEZE[half](means))


@functools.partial(jax.jit, static_argnames="half")
def dequantize_half(symbols, means, half):
  """Symbols (1, h, w/2, C) back to values on the full grid, zero off the half."""
  return UNSQUEEZE[half](symbols.astype(means.dtype) + SQUEEZE[half](means))


def pad_image(image):
  """(H, W, 3) uint8 -> (1, H', W', 3) float32 in [0, 1], H' and W' multiples of 64.

  Edge replication keeps the padding cheap to code.
  """
  h, w = image.shape[:2]
  pad_h, pad_w = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
  padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
  return jnp.asarray(padded[None].astype(np.float32) / 255.0)


def to_uint8(x_hat, height, width):
  """(1, H', W', 3) float -> (height, width, 3) uint8, clipped and rounded."""
  x = np.asarray(x_hat[0, :height, :width])
  return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


class Codec:
  """A loaded model: `forward`, `compress` and `decompress`.

  lmbda and metric: the rate-distortion trade-off the weights were trained for
  (train.py records them; converted checkpoints do not), the default loss of
  `compress(..., refine_steps=K)`.
  """

  def __init__(self, arch, config, params, tables, model_hash, lmbda=None, metric="mse"):
    self.arch = arch
    self.lmbda, self.metric = lmbda, metric
    self.model = models.build(arch, config)
    self.config = self.model.config
    self.model_hash = model_hash
    self.params = jax.device_put(params)
    self.tables = tables
    self.y_tables = Tables(tables["y_quantized_cdf"], tables["y_cdf_length"], tables["y_offset"])
    self.z_tables = Tables(tables["z_quantized_cdf"], tables["z_cdf_length"], tables["z_offset"])
    self.scale_table = jnp.asarray(tables["y_scale_table"], jnp.float32)
    self.stages = JittedModel(self.model, self.params)
    self._train_forward = jax.jit(
        lambda p, x, rng: self.model.apply({"params": p}, x, rng))

  @classmethod
  def from_dir(cls, directory):
    meta, params, tables = checkpoint.load(directory)
    return cls(meta["arch"], meta["config"], params, tables, meta["model_hash"],
               lmbda=meta.get("lambda"), metric=meta.get("metric", "mse"))

  def forward(self, x, rng=None):
    """x (B, H, W, 3) float32 in [0, 1], H and W multiples of 64 -> dict with x_hat,
    y_likelihoods, z_likelihoods (and y_hat). Evaluation mode unless `rng` is given,
    then training mode (noise and straight-through rounding) in one jitted call."""
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[1] % PAD_MULTIPLE or x.shape[2] % PAD_MULTIPLE:
      raise ValueError(f"forward takes (B, H, W, 3) with H, W multiples of {PAD_MULTIPLE}, "
                       f"got {x.shape}; use compress() for other sizes")
    if rng is not None:
      return self._train_forward(self.params, x, rng)
    return slices.forward(self.stages, x)

  def forward_latents(self, y, z):
    """Evaluation-mode `forward` from latents y and z (as from `latents`): what the
    decoder reconstructs from their stream, with the rates."""
    return slices.forward_latents(self.stages, y, z)

  def compress(self, image, refine_steps=0, lmbda=None):
    """(H, W, 3) uint8 image (gray, RGBA, 16-bit and floats are converted with a
    warning) -> the bytes of a lic_jax stream.

    refine_steps > 0 first refines the latents for this image (`lic_jax.refine`):
    smaller files at better quality for that many gradient steps of encode time; any
    decoder reads the stream. Their loss uses `lmbda` (default: the model's own).
    """
    image, notes = image_io.to_rgb8(image)
    for note in notes:
      warnings.warn(f"compress: {note}", stacklevel=2)
    y, z = self.latents(image, refine_steps, lmbda)
    return self.compress_latents(y, z, *image.shape[:2])

  def latents(self, image, refine_steps=0, lmbda=None):
    """The latents `compress` codes for an (H, W, 3) uint8 image: y (1, h, w, M) and
    z (1, h/4, w/4, N) of the image padded to multiples of 64, from g_a and h_a and
    then refined if refine_steps > 0 (see `compress`)."""
    if not isinstance(refine_steps, int) or refine_steps < 0:
      raise ValueError(f"refine_steps must be an int >= 0, got {refine_steps!r}")
    lmbda = self.lmbda if lmbda is None else lmbda
    if refine_steps and lmbda is None:
      raise ValueError(
          "refining the latents needs the rate-distortion trade-off lambda, and this model "
          "does not record the one it was trained for (converted checkpoints do not): "
          "pass lmbda=... (CLI: --lambda), e.g. the lambda of the released weights")
    image, _ = image_io.to_rgb8(image)
    x = pad_image(image)
    y = self.stages.analysis(x)
    z = self.stages.hyper_analysis(y)
    if refine_steps:
      from lic_jax import refine
      height, width = image.shape[:2]
      y, z = refine.refine_latents(self.model, self.params, x, y, z, height=height,
                                   width=width, steps=refine_steps, lmbda=float(lmbda),
                                   metric=self.metric)
    return y, z

  def compress_latents(self, y, z, height, width):
    """Codes latents (as from `latents`) of a height x width image -> stream bytes."""
    from lic_jax.entropy import range_coder
    stages = self.stages
    z_symbols, z_hat = self._quantize_z(z)
    z_string = range_coder.encode(np.asarray(z_symbols), self._z_indexes(z.shape), self.z_tables)

    y_slices = slices.split_slices(y, self.config.slice_widths)
    encoder = range_coder.Encoder(self.y_tables)

    def quantize(i, half, scales, means):
      symbols = half_symbols(y_slices[i], means, half)
      encoder.encode(np.asarray(symbols), np.asarray(half_indexes(scales, self.scale_table, half)))
      return dequantize_half(symbols, means, half)

    slices.run_slices(stages, stages.hyper_synthesis(z_hat), len(y_slices), quantize)
    stream = bitstream.Stream(self.arch, bytes.fromhex(self.model_hash), height, width,
                              z_string, encoder.finish())
    return stream.to_bytes()

  def decompress(self, data, max_pixels=bitstream.MAX_PIXELS):
    """The bytes of a lic_jax stream -> (H, W, 3) uint8. Raises BitstreamError for
    malformed streams, streams written by another model, and images of more than
    `max_pixels` pixels (a guard against crafted headers; raise it to decode those)."""
    from lic_jax.entropy import range_coder
    stream = bitstream.Stream.from_bytes(data)
    if stream.height * stream.width > max_pixels:
      raise bitstream.BitstreamError(
          f"the stream declares a {stream.width}x{stream.height} image, more than "
          f"max_pixels={max_pixels} pixels; if it is genuine, decode it with a larger "
          "max_pixels (CLI: --max-pixels)")
    if stream.arch != self.arch or stream.model_hash != bytes.fromhex(self.model_hash):
      raise bitstream.BitstreamError(
          f"this stream was written by model {stream.arch} (hash {stream.model_hash.hex()}), "
          f"but the loaded model is {self.arch} (hash {self.model_hash}); decode it with "
          "the model that wrote it")
    padded_h = stream.height + (-stream.height % PAD_MULTIPLE)
    padded_w = stream.width + (-stream.width % PAD_MULTIPLE)
    z_shape = (1, padded_h // 64, padded_w // 64, self.config.N)
    z_symbols = range_coder.decode(stream.z_string, self._z_indexes(z_shape), self.z_tables)
    z_hat = self._dequantize_z(jnp.asarray(z_symbols.reshape(z_shape)))
    stages = self.stages
    decoder = range_coder.Decoder(stream.y_string, self.y_tables)

    def quantize(i, half, scales, means):
      symbols = decoder.decode(np.asarray(half_indexes(scales, self.scale_table, half)))
      return dequantize_half(jnp.asarray(symbols), means, half)

    y_hat = slices.run_slices(stages, stages.hyper_synthesis(z_hat),
                              len(self.config.slice_widths), quantize)
    decoder.finish()
    return to_uint8(stages.synthesis(y_hat), stream.height, stream.width)

  def _quantize_z(self, z):
    medians = factorized.medians(self.stages.entropy_bottleneck_params())
    symbols = jnp.round(z - medians).astype(jnp.int32)
    return symbols, self._dequantize_z(symbols)

  def _dequantize_z(self, symbols):
    medians = factorized.medians(self.stages.entropy_bottleneck_params())
    return symbols.astype(jnp.float32) + medians

  @staticmethod
  def _z_indexes(shape):
    """The CDF index of z is its channel."""
    return np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)
