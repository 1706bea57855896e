"""Codec: a model with its weights and CDF tables; forward, compress, decompress.

Orchestration only: loading, padding and cropping, the container. What is coded and
in which order is the model's latent codec (`lic_jax.latent`); the symbols go
through a coder (`lic_jax.coder`).

Determinism is what makes this work. The decoder rebuilds every entropy parameter
from what it has decoded, so the encoder computes them through the very same jitted
functions (`Stages`: one compiled function per model method, static arguments and
shape) with the latent codec driving both. Evaluation-mode `forward` runs through
the same functions too, so a decoded image equals forward's x_hat, rounded.

Over 250 lines: compress and decompress of every model (a variable-rate model's rate,
a part of a stream, a preview) share one class and the state it holds (stages,
tables, layout).
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import bitstream, enable_compilation_cache, image_io, latent, model_dir
from lic_jax import coder as coder_lib
from lic_jax.latent import call
from lic_jax.latent import tables as latent_tables
from lic_jax.models import base as model_base
from lic_jax.models import registry
from lic_jax.nn import variable_rate
from lic_jax.stages import Stages


def pad_image(image, multiple=64):
  """(H, W, 3) uint8 -> (1, H', W', 3) float32 in [0, 1], H' and W' multiples of
  `multiple`. Edge replication keeps the padding cheap to code."""
  h, w = image.shape[:2]
  padded = np.pad(image, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="edge")
  return jnp.asarray(padded[None].astype(np.float32) / 255.0)


def to_uint8(x_hat, height, width):
  """(1, H', W', 3) float -> (height, width, 3) uint8, clipped and rounded."""
  x = np.asarray(x_hat[0, :height, :width])
  return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


class Codec:
  """A loaded model: `forward`, `compress` and `decompress`.

  lmbda and metric: the rate-distortion trade-off the weights were trained for
  (train.py records them; converted checkpoints do not), the default loss of
  `compress(..., refine_steps=K)`; a variable-rate model's lmbda is the list of its
  levels' lambdas. default_quality: a variable-rate model's quality when none is
  given (default: the middle of its range). coder: the name of the entropy coder
  implementation (`lic_jax.coder.available()`; default: the fastest installed).
  """

  def __init__(self, arch, config, params, table_arrays, model_hash, lmbda=None, metric="mse",
               module=None, coder=None, default_quality=None):
    enable_compilation_cache()
    self.arch = arch
    self.lmbda, self.metric = lmbda, metric
    self.model = registry.get(arch, module).build(config)
    self.qualities = ((1, self.model.config.levels)
                      if isinstance(self.model, model_base.VariableRateModel) else None)
    self.default_quality = default_quality or (self.qualities and sum(self.qualities) / 2)
    self.config = self.model.config
    self.pad_multiple = self.model.pad_multiple
    self.model_hash = model_hash
    self.params = jax.device_put(params)
    self.table_arrays = table_arrays
    self.stream_tables = latent_tables.from_arrays(table_arrays)
    self.layout = self.model.latent_codec.layout()
    self.coder = coder_lib.get(coder)
    self.stages = Stages(self.model, self.params)
    self._train_forward = jax.jit(
        lambda p, x, rng, quality: self.model.apply({"params": p}, x, rng, quality))

  @classmethod
  def from_dir(cls, directory, coder=None):
    meta, params, table_arrays = model_dir.load(directory)
    return cls(meta["arch"], meta["config"], params, table_arrays, meta["model_hash"],
               lmbda=meta.get("lambda"), metric=meta.get("metric", "mse"),
               module=meta.get("module"), coder=coder,
               default_quality=meta.get("default_quality"))

  def rate(self, quality=None):
    """(the latent codec's context at `quality`, the gain a stream records): for a
    variable-rate model its gain (quality None: `default_quality`), for a model of
    one rate nothing (a quality is then a ValueError)."""
    if self.qualities is None:
      if quality is not None:
        raise ValueError(f"{self.arch} codes one rate: it takes no quality (variable-rate "
                         "models do, e.g. bmshj2018-hyperprior-vbr or the default model)")
      return latent.EMPTY, None
    quality = self.default_quality if quality is None else quality
    low, high = self.qualities
    if not (isinstance(quality, (int, float, np.number)) and low <= quality <= high):
      raise ValueError(f"the quality of {self.arch} is a number from {low} to {high} "
                       f"(its {high} trained rates, and any between them), not {quality!r}")
    gain = call(self.stages, "gain", jnp.asarray([quality], jnp.float32))
    return latent.EMPTY.add(gain=gain), float(np.asarray(gain)[0])

  def lmbda_at(self, quality=None):
    """The lambda the weights were trained for at `quality` (a variable-rate model's,
    between its levels' lambdas like its gains), or None if it is not recorded."""
    if self.qualities is None or self.lmbda is None:
      return self.lmbda
    quality = self.default_quality if quality is None else quality
    return float(variable_rate.log_interpolate(jnp.asarray(self.lmbda, jnp.float32),
                                               jnp.asarray([quality], jnp.float32))[0])

  def forward(self, x, rng=None, quality=None):
    """x (B, H, W, 3) float32 in [0, 1], H and W multiples of `pad_multiple` -> dict
    with x_hat, y_hat and the likelihoods of each stream (y_likelihoods, and
    z_likelihoods with a hyperprior). Evaluation mode unless `rng` is given, then
    training mode (noise and straight-through rounding) in one jitted call.
    quality: a variable-rate model's (see `rate`)."""
    x = jnp.asarray(x, jnp.float32)
    m = self.pad_multiple
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[1] % m or x.shape[2] % m:
      raise ValueError(f"forward takes (B, H, W, 3) with H, W multiples of {m}, "
                       f"got {x.shape}; use compress() for other sizes")
    context, _ = self.rate(quality)
    if rng is not None:
      rate = None if self.qualities is None else jnp.asarray(
          [self.default_quality if quality is None else quality] * x.shape[0], jnp.float32)
      return self._train_forward(self.params, x, rng, rate)
    return model_base.forward_from_latents(self.stages, model_base.analyze(self.stages, x),
                                           context=context)

  def forward_latents(self, latents, quality=None):
    """Evaluation-mode `forward` from latents (as from `latents`): what the decoder
    reconstructs from their stream, with the rates."""
    return model_base.forward_from_latents(self.stages, latents, context=self.rate(quality)[0])

  def compress(self, image, quality=None, refine_steps=0, lmbda=None):
    """(H, W, 3) uint8 image (gray, RGBA, 16-bit and floats are converted with a
    warning) -> the bytes of a lic_jax stream.

    quality: a variable-rate model's rate (see `rate`; the stream records its gain).
    refine_steps > 0 first refines the latents for this image (`lic_jax.refine`):
    smaller files at better quality for that many gradient steps of encode time; any
    decoder reads the stream. Their loss uses `lmbda` (default: the model's own).
    """
    image, notes = image_io.to_rgb8(image)
    for note in notes:
      warnings.warn(f"compress: {note}", stacklevel=2)
    self.rate(quality)  # a quality out of range fails before the transforms run
    latents = self.latents(image, refine_steps, lmbda, quality)
    return self.compress_latents(latents, *image.shape[:2], quality)

  def latents(self, image, refine_steps=0, lmbda=None, quality=None):
    """The latents `compress` codes for an (H, W, 3) uint8 image, {"y": y, and side
    latents such as "z"}, of the image padded to multiples of `pad_multiple`: from
    the analysis transforms, then refined if refine_steps > 0 (see `compress`)."""
    if not isinstance(refine_steps, int) or refine_steps < 0:
      raise ValueError(f"refine_steps must be an int >= 0, got {refine_steps!r}")
    lmbda = self.lmbda_at(quality) if lmbda is None else lmbda
    if refine_steps and lmbda is None:
      raise ValueError(
          "refining the latents needs the rate-distortion trade-off lambda, and this model "
          "does not record the one it was trained for (converted checkpoints do not): "
          "pass lmbda=... (CLI: --lambda), e.g. the lambda of the released weights")
    image, _ = image_io.to_rgb8(image)
    x = pad_image(image, self.pad_multiple)
    latents = model_base.analyze(self.stages, x)
    if refine_steps:
      from lic_jax import refine
      height, width = image.shape[:2]
      quality = None if self.qualities is None else (
          self.default_quality if quality is None else quality)
      latents = refine.refine_latents(self.model, self.params, x, latents, height=height,
                                      width=width, steps=refine_steps, lmbda=float(lmbda),
                                      metric=self.metric, quality=quality)
    return latents

  def _encode(self, latents, context):
    """(the Encode mode holding the coded strings of `latents`, the y_hat it coded)."""
    mode = latent.Encode(self.coder, self.stream_tables, self.layout)
    y_hat, _ = self.model.latent_codec.code(self.stages, mode, latents["y"], context, latents)
    return mode, y_hat

  def compress_latents(self, latents, height, width, quality=None):
    """Codes latents (as from `latents`) of a height x width image -> stream bytes."""
    context, gain = self.rate(quality)
    mode, _ = self._encode(latents, context)
    stream = bitstream.Stream(self.arch, bytes.fromhex(self.model_hash), height, width,
                              mode.strings(), self.coder.format, mode.checks(), gain=gain)
    return stream.to_bytes()

  @property
  def decodes_forward(self):
    """Whether decompress gives forward's x_hat, rounded (else see `reconstruction`)."""
    return self.model.latent_codec.decodes_forward

  def reconstruction(self, latents, height, width, quality=None):
    """The (height, width, 3) uint8 image that decompressing the stream of `latents`
    gives, computed at the encoder: the synthesis of the y_hat it codes. For most
    models that is forward's x_hat, rounded; not for those whose latent codec has
    `decodes_forward` False (compressai's autoregressive ones)."""
    _, y_hat = self._encode(latents, self.rate(quality)[0])
    return to_uint8(call(self.stages, "synthesis", y_hat), height, width)

  def decompress(self, data, max_pixels=bitstream.MAX_PIXELS, groups=None, max_bytes=None,
                 complete=False, fill="means"):
    """The bytes of a lic_jax stream -> (H, W, 3) uint8. Raises BitstreamError for
    malformed streams, streams written by another model or coder, and images of more
    than `max_pixels` pixels (a guard against crafted headers; raise it to decode
    those).

    Models with channel groups (whose `StreamLayout` has units) decode a part of a
    stream: its first `groups` groups, the groups in its first `max_bytes` bytes, or
    those of a file cut short (with a warning that says how many; an error with
    `complete`). The channels not decoded are what the entropy model predicts there
    (fill "means"; "zeros" for comparison)."""
    y_hat, _, height, width = self._decode(data, max_pixels, groups, max_bytes, complete, fill)
    return to_uint8(call(self.stages, "synthesis", y_hat), height, width)

  def preview(self, data, groups=1, scale=4, max_pixels=bitstream.MAX_PIXELS):
    """A quick, coarse picture from the first bytes of a stream, on a grid `scale`
    times coarser: its first `groups` channel groups decoded and averaged over
    `scale` x `scale` blocks; the groups after them predicted on that grid, in one
    pass each (their anchor step's means at every position, from the block means of
    the hyperprior and of the groups before); the synthesis on it, scale^2 times
    fewer positions. -> uint8 (ceil(H / scale), ceil(W / scale), 3). scale 1 is
    `decompress(groups=...)`. A file cut short gives what it holds, without a
    warning."""
    if scale not in (1, 2, 4):
      raise ValueError(f"scale must be 1, 2 or 4, not {scale!r}")
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      y_hat, y_shape, height, width = self._decode(data, max_pixels, groups, None, False,
                                                   "means", preview_scale=scale)
    if y_hat.shape == y_shape.shape:  # every group was decoded, at full resolution
      y_hat = latent.average_blocks(y_hat, scale)
    return to_uint8(call(self.stages, "synthesis", y_hat), -(-height // scale),
                    -(-width // scale))

  def _decode(self, data, max_pixels, groups, max_bytes, complete, fill, preview_scale=1):
    """(the decoded latent y_hat, the shape of the whole latent, the image's height and
    width): see `decompress`; preview_scale > 1: see `latent.Preview`."""
    partial = groups is not None or max_bytes is not None
    if partial and self.layout.units is None:
      raise ValueError(f"{self.arch} has no channel groups, so it cannot decode a part of "
                       "a stream: decode it whole")
    stream = self._stream(data if max_bytes is None else data[:max_bytes], max_pixels,
                          prefix=self.layout.units is not None and not complete)
    m = self.pad_multiple
    x_shape = jax.ShapeDtypeStruct(
        (1, stream.height + (-stream.height % m), stream.width + (-stream.width % m), 3),
        jnp.float32)
    y_shape = self.stages.output_shape("analysis", x_shape)
    context = latent.EMPTY if stream.gain is None else latent.EMPTY.add(
        gain=jnp.asarray([stream.gain], jnp.float32))
    mode = self._decoding_mode(stream, groups, partial, fill, preview_scale)
    y_hat, _ = self.model.latent_codec.code(self.stages, mode, y_shape, context)
    mode.finish()
    return y_hat, y_shape, stream.height, stream.width

  def _stream(self, data, max_pixels, prefix):
    """The parsed stream, if this codec decodes it (BitstreamError otherwise)."""
    stream = bitstream.Stream.from_bytes(data, prefix=prefix)
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
    if stream.coder != self.coder.format:
      raise bitstream.BitstreamError(
          f"this stream was coded in the entropy-coder format {stream.coder!r}, which "
          f"this lic_jax does not read (it reads {', '.join(coder_lib.formats())})")
    if (stream.gain is None) != (self.qualities is None):
      raise bitstream.BitstreamError(
          "this stream was coded at a gain, but the model codes one rate" if self.qualities is None
          else "this stream records no gain, but the model is variable-rate; the stream is "
          "corrupt or was written by another lic_jax")
    return stream

  def _decoding_mode(self, stream, groups, partial, fill, preview_scale):
    """The coding mode that decodes what is asked of `stream`: all of it, a part
    (`groups`, or the strings a cut file holds), or a preview."""
    layout, names = self.layout, [*stream.strings, *stream.missing]
    if not layout.lays_out_units(names):  # one string per stream (formats 1-3, or no groups)
      if partial:
        raise bitstream.BitstreamError("this stream was written before streams were laid "
                                       "out for prefixes (format 3 or older): decode it whole")
      return latent.Decode(self.coder, self.stream_tables, latent.StreamLayout(),
                           stream.strings, stream.checks)
    plan = layout.plan(names, stream.strings, groups)
    strings = {name: stream.strings[name] for name in plan.strings}
    checks = stream.checks and {name: stream.checks[name] for name in strings}
    if stream.missing:
      warnings.warn(f"the stream is cut short: decoded {plan.groups} of {layout.groups} "
                    f"channel groups ({plan.decoded} of {plan.total} coded units)",
                    stacklevel=4)
    coding = (self.coder, self.stream_tables, layout, strings, checks, not stream.missing)
    if preview_scale > 1:
      return latent.Preview(*coding, preview_scale)
    return latent.PartialDecode(*coding, fill)
