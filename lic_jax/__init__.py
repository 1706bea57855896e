"""lic_jax: learned image codecs in JAX/Flax (MLIC++, ELIC, CompressAI's zoo models).

    import lic_jax
    codec = lic_jax.load_model("converted_dir")   # written by convert.py or train.py
    codec = lic_jax.load_model("default")         # the bundled model (lic_jax/assets)
    out = codec.forward(x)                         # x: (B, H, W, 3) float32 in [0, 1]
    data = codec.compress(image)                   # image: (H, W, 3) uint8 -> bytes
    image = codec.decompress(data)
"""

__version__ = "0.1.0"


# A decoder must recompute the encoder's entropy parameters to the bit. On a GPU,
# XLA's autotuner picks convolution algorithms by timing them, so two processes (an
# encoder and a decoder) may pick different ones with different rounding, and some
# reductions and scatters are nondeterministic. These flags fix both; CPUs ignore them.
GPU_DETERMINISM_FLAGS = "--xla_gpu_deterministic_ops=true --xla_gpu_autotune_level=0"


def reproducible_gpu():
  """Sets XLA_FLAGS to GPU_DETERMINISM_FLAGS unless the user has set XLA_FLAGS (their
  choice stands). XLA reads it when JAX starts its backends, so `load_model` and the
  command lines call this first; later it warns if a GPU runs without them."""
  import os
  if "XLA_FLAGS" in os.environ:
    return
  from jax._src import xla_bridge
  if not xla_bridge.backends_are_initialized():
    os.environ["XLA_FLAGS"] = GPU_DETERMINISM_FLAGS
    return
  import jax
  if jax.default_backend() == "gpu":
    import warnings
    warnings.warn("JAX started its GPU backend before lic_jax could ask for deterministic "
                  f"XLA flags; streams may not decode in another process. Set "
                  f"XLA_FLAGS='{GPU_DETERMINISM_FLAGS}' or call lic_jax.reproducible_gpu() "
                  "before any JAX computation.", stacklevel=3)


def load_model(path):
  """The `Codec` stored in a model directory (from convert.py or train.py); "default"
  is the small model bundled in lic_jax/assets (its higher-rate point, default-q2;
  "default-q1" is the lower-rate one)."""
  reproducible_gpu()
  from lic_jax.codec import Codec
  return Codec.from_dir(path)


def enable_compilation_cache(directory=None):
  """Keeps compiled XLA programs on disk, so later processes skip compilation.

  The CLIs call this: compiling a full-size model's stages takes tens of seconds on
  a CPU, every run. Default folder: $LIC_JAX_CACHE or ~/.cache/lic_jax/xla.
  """
  import os
  import jax
  directory = directory or os.environ.get(
      "LIC_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lic_jax", "xla"))
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
