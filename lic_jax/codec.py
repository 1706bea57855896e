"""Codec: a model with its weights and CDF tables; forward, compress, decompress.

Orchestration only: loading, padding and cropping, the container. What is coded and
in which order is the model's latent codec (`lic_jax.latent`); the symbols go
through a coder (`lic_jax.coder`).

Determinism is what makes this work. The decoder rebuilds every entropy parameter
from what it has decoded, so the encoder computes them through the very same jitted
functions (`Stages`: one compiled function per model method, static arguments and
shape) with the latent codec driving both. Evaluation-mode `forward` runs through
the same functions too, so a decoded image equals forward's x_hat, rounded.
"""
import warnings

import jax
import jax.numpy as jnp
import jaxlib.version
import numpy as np

from lic_jax import bitstream, image_io, latent, model_dir
from lic_jax import coder as coder_lib
from lic_jax.latent import tables as latent_tables
from lic_jax.models import base as model_base
from lic_jax.models import registry

# XLA's older CPU runtime runs the large convolutions of the transforms about 1.3x
# faster than the default thunk runtime of JAX 0.5 (Eigen contractions emitted
# in-line), but the entropy parameters' small batched matmuls 15x slower; so only the
# transforms use it. Encoder and decoder still share every other program.
# jaxlib 0.7.0 removed that runtime (0.7.0 and 0.7.1 still parse the option and then
# fail every compile with "CpuExecutable has no thunks"; from 0.7.2 it is "No such
# compile option"), so it is asked for only from a jaxlib that still has it. Other
# backends never had it. Which programs the codec compiles does not change.
_CLASSIC_CPU_RUNTIME = jaxlib.version.__version_info__ < (0, 7, 0)
TRANSFORM_OPTIONS = {"cpu": {"xla_cpu_use_thunk_runtime": False}} if _CLASSIC_CPU_RUNTIME else {}
TRANSFORM_STAGES = ("analysis", "synthesis", "hyper_analysis", "hyper_synthesis")
# A decoder must recompute the encoder's entropy parameters to the bit. On a GPU,
# XLA's autotuner picks convolution algorithms by timing them, so an encoder and a
# decoder process may pick different ones that round differently, and some reductions
# and scatters are nondeterministic. These options fix both, for the codec's own
# programs only: nothing else in the process changes. CPUs have neither.
STAGE_OPTIONS = {"gpu": {"xla_gpu_deterministic_ops": True, "xla_gpu_autotune_level": 0}}


class Stages:
  """The model's methods, each jitted with the parameters as an argument.

  `stages.name(*args)` calls the model's method (or submodule) `name`; int and str
  arguments are static (one program per slice index). It has the model's `config`
  and `latent_codec`, so the latent codecs and `models.base.forward_from_latents`
  run over it exactly as over the model itself.
  """

  def __init__(self, model, params):
    self.config = model.config
    self.latent_codec = model.latent_codec
    self._model, self._params, self._jitted, self._shapes = model, params, {}, {}
    backend = jax.default_backend()
    self._options = STAGE_OPTIONS.get(backend, {})
    self._transform_options = {**self._options, **TRANSFORM_OPTIONS.get(backend, {})}

  def __getattr__(self, name):
    if name.startswith("_"):
      raise AttributeError(name)
    return lambda *args: self._call(name, args)

  def output_shape(self, name, *shapes):
    """The output ShapeDtypeStruct(s) of method `name` for inputs of these shapes,
    cached: the decoder needs the latents' shapes, and tracing a full-size transform
    for them costs a tenth of a second or more every time."""
    key = (name, tuple((tuple(s.shape), s.dtype) for s in shapes))
    if key not in self._shapes:
      self._shapes[key] = jax.eval_shape(getattr(self, name), *shapes)
    return self._shapes[key]

  def _call(self, name, args):
    static = tuple(i + 1 for i, a in enumerate(args) if isinstance(a, (int, str)))
    fn = self._jitted.get((name, static))
    if fn is None:
      model = self._model

      def stage(p, *a):
        # Full float32 in every conv and matmul on every backend: NVIDIA GPUs default
        # to TF32 (10-bit mantissas), whose entropy parameters a CPU decoder would
        # not reproduce. CPUs compute float32 either way, so CPU results are unchanged.
        with jax.default_matmul_precision("highest"):
          return model.apply({"params": p}, *a, method=lambda m, *b: getattr(m, name)(*b))
      options = self._transform_options if name in TRANSFORM_STAGES else self._options
      fn = jax.jit(stage, static_argnums=static, compiler_options=options or None)
      self._jitted[(name, static)] = fn
    return fn(self._params, *args)


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
  `compress(..., refine_steps=K)`. coder: the name of the entropy coder
  implementation (`lic_jax.coder.available()`; default: the fastest installed).
  """

  def __init__(self, arch, config, params, tables, model_hash, lmbda=None, metric="mse",
               module=None, coder=None):
    self.arch = arch
    self.lmbda, self.metric = lmbda, metric
    self.model = registry.get(arch, module).build(config)
    self.config = self.model.config
    self.pad_multiple = self.model.pad_multiple
    self.model_hash = model_hash
    self.params = jax.device_put(params)
    self.tables = tables
    self.stream_tables = latent_tables.from_arrays(tables)
    self.coder = coder_lib.get(coder)
    self.stages = Stages(self.model, self.params)
    self._train_forward = jax.jit(
        lambda p, x, rng: self.model.apply({"params": p}, x, rng))

  @classmethod
  def from_dir(cls, directory, coder=None):
    meta, params, tables = model_dir.load(directory)
    return cls(meta["arch"], meta["config"], params, tables, meta["model_hash"],
               lmbda=meta.get("lambda"), metric=meta.get("metric", "mse"),
               module=meta.get("module"), coder=coder)

  def forward(self, x, rng=None):
    """x (B, H, W, 3) float32 in [0, 1], H and W multiples of `pad_multiple` -> dict
    with x_hat, y_hat and the likelihoods of each stream (y_likelihoods, and
    z_likelihoods with a hyperprior). Evaluation mode unless `rng` is given, then
    training mode (noise and straight-through rounding) in one jitted call."""
    x = jnp.asarray(x, jnp.float32)
    m = self.pad_multiple
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[1] % m or x.shape[2] % m:
      raise ValueError(f"forward takes (B, H, W, 3) with H, W multiples of {m}, "
                       f"got {x.shape}; use compress() for other sizes")
    if rng is not None:
      return self._train_forward(self.params, x, rng)
    return model_base.forward_from_latents(self.stages, model_base.analyze(self.stages, x))

  def forward_latents(self, latents):
    """Evaluation-mode `forward` from latents (as from `latents`): what the decoder
    reconstructs from their stream, with the rates."""
    return model_base.forward_from_latents(self.stages, latents)

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
    latents = self.latents(image, refine_steps, lmbda)
    return self.compress_latents(latents, *image.shape[:2])

  def latents(self, image, refine_steps=0, lmbda=None):
    """The latents `compress` codes for an (H, W, 3) uint8 image, {"y": y, and side
    latents such as "z"}, of the image padded to multiples of `pad_multiple`: from
    the analysis transforms, then refined if refine_steps > 0 (see `compress`)."""
    if not isinstance(refine_steps, int) or refine_steps < 0:
      raise ValueError(f"refine_steps must be an int >= 0, got {refine_steps!r}")
    lmbda = self.lmbda if lmbda is None else lmbda
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
      latents = refine.refine_latents(self.model, self.params, x, latents, height=height,
                                      width=width, steps=refine_steps, lmbda=float(lmbda),
                                      metric=self.metric)
    return latents

  def _encode(self, latents):
    """(the Encode mode holding the coded strings of `latents`, the y_hat it coded)."""
    mode = latent.Encode(self.coder, self.stream_tables)
    y_hat, _ = self.model.latent_codec.code(self.stages, mode, latents["y"], latents=latents)
    return mode, y_hat

  def compress_latents(self, latents, height, width):
    """Codes latents (as from `latents`) of a height x width image -> stream bytes."""
    mode, _ = self._encode(latents)
    stream = bitstream.Stream(self.arch, bytes.fromhex(self.model_hash), height, width,
                              mode.strings(), self.coder.format, mode.checks())
    return stream.to_bytes()

  @property
  def decodes_forward(self):
    """Whether decompress gives forward's x_hat, rounded (else see `reconstruction`)."""
    return self.model.latent_codec.decodes_forward

  def reconstruction(self, latents, height, width):
    """The (height, width, 3) uint8 image that decompressing the stream of `latents`
    gives, computed at the encoder: the synthesis of the y_hat it codes. For most
    models that is forward's x_hat, rounded; not for those whose latent codec has
    `decodes_forward` False (compressai's autoregressive ones)."""
    _, y_hat = self._encode(latents)
    return to_uint8(self.stages.synthesis(y_hat), height, width)

  def decompress(self, data, max_pixels=bitstream.MAX_PIXELS):
    """The bytes of a lic_jax stream -> (H, W, 3) uint8. Raises BitstreamError for
    malformed streams, streams written by another model or coder, and images of more
    than `max_pixels` pixels (a guard against crafted headers; raise it to decode
    those)."""
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
    if stream.coder != self.coder.format:
      raise bitstream.BitstreamError(
          f"this stream was coded in the entropy-coder format {stream.coder!r}, which "
          f"this lic_jax does not read (it reads {', '.join(coder_lib.formats())})")
    m = self.pad_multiple
    x_shape = jax.ShapeDtypeStruct(
        (1, stream.height + (-stream.height % m), stream.width + (-stream.width % m), 3),
        jnp.float32)
    y_shape = self.stages.output_shape("analysis", x_shape)
    mode = latent.Decode(self.coder, self.stream_tables, stream.strings, stream.checks)
    y_hat, _ = self.model.latent_codec.code(self.stages, mode, y_shape)
    mode.finish()
    return to_uint8(self.stages.synthesis(y_hat), stream.height, stream.width)
