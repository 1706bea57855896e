"""The codec's stages: a model's methods, each jitted with the parameters as an
argument, compiled with the options that make encoder and decoder agree.

The decoder rebuilds every entropy parameter from what it has decoded, so the
encoder computes them through the very same compiled programs (one per method,
static arguments and shape).
"""
import dataclasses

import jax
import jaxlib.version

from lic_jax import programs

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
  """The model's methods, each a `lic_jax.programs.Program` with the parameters fixed.

  `stage(name)` is the model's method (or submodule) `name` as a compiled function;
  int and str arguments are static (one program per channel-group index). It has
  the model's `model_class`, `config` and `latent_codec`, so that the latent codecs
  (`lic_jax.latent.call`) and `models.base.forward_from_latents` run over it
  exactly as over the bound model itself.
  """

  def __init__(self, model, params):
    self.model_class = type(model)
    self.config = model.config
    self.latent_codec = model.latent_codec
    self._model, self._params, self._programs, self._shapes = model, params, {}, {}
    backend = jax.default_backend()
    self._options = STAGE_OPTIONS.get(backend, {})
    self._transform_options = {**self._options, **TRANSFORM_OPTIONS.get(backend, {})}
    config = (dataclasses.asdict(model.config) if dataclasses.is_dataclass(model.config)
              else model.config)
    self._identity = {"model": f"{self.model_class.__module__}.{self.model_class.__qualname__}",
                      "config": config}

  def stage(self, name):
    """The compiled `model.name(*args, **kwargs)`; the model must have `name` (a
    method, or a submodule set up under that name)."""
    # A submodule (e.g. the entropy bottleneck) is known by its parameters.
    if name.startswith("_") or not (callable(getattr(self.model_class, name, None))
                                    or name in self._params):
      raise AttributeError(f"{self.model_class.__name__} has no method {name!r}")
    program = self._programs.get(name)
    if program is None:
      model = self._model

      def stage(p, *a, **k):
        # Full float32 in every conv and matmul on every backend: NVIDIA GPUs default
        # to TF32 (10-bit mantissas), whose entropy parameters a CPU decoder would
        # not reproduce. CPUs compute float32 either way, so CPU results are unchanged.
        with jax.default_matmul_precision("highest"):
          return model.apply({"params": p}, *a, **k,
                             method=lambda m, *b, **c: getattr(m, name)(*b, **c))
      stage.__name__ = name  # what XLA's logs and profiles call the program
      options = self._transform_options if name in TRANSFORM_STAGES else self._options
      program = programs.Program(stage, name, self._params, self._identity, options,
                                 sources=(self.model_class.__module__,))
      self._programs[name] = program
    return program

  def output_shape(self, name, *shapes):
    """The output ShapeDtypeStruct(s) of method `name` for inputs of these shapes,
    cached: the decoder needs the latents' shapes, and tracing a full-size transform
    for them costs a tenth of a second or more every time."""
    key = (name, tuple((tuple(s.shape), s.dtype) for s in shapes))
    if key not in self._shapes:
      self._shapes[key] = self.stage(name).output_shape(*shapes)
    return self._shapes[key]
