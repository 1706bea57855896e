"""lic_jax: learned image codecs in JAX/Flax (MLIC++, ELIC, CompressAI's zoo models).

    import lic_jax
    codec = lic_jax.load_model("converted_dir")   # written by convert.py or train.py
    codec = lic_jax.load_model("default")         # the bundled model (lic_jax/assets)
    out = codec.forward(x)                         # x: (B, H, W, 3) float32 in [0, 1]
    data = codec.compress(image)                   # image: (H, W, 3) uint8 -> bytes
    image = codec.decompress(data)
"""

import os

__version__ = "0.1.0"


def load_model(path, coder=None):
  """The `Codec` stored in a model directory (from convert.py or train.py); "default"
  is the small variable-rate model bundled in lic_jax/assets (`Codec.compress(image,
  quality=Q)`, Q from 1 to 10). coder: the entropy coder implementation to
  code with, one of `lic_jax.coder.available()` (default: the fastest installed)."""
  from lic_jax.codec import Codec
  return Codec.from_dir(path, coder)


def enable_compilation_cache(directory=None):
  """Keeps compiled programs on disk, so that later processes neither compile nor
  trace them again: JAX's persistent compilation cache, and lic_jax's own cache of
  the codec's programs, exported (`lic_jax.programs`).

  On by default wherever lic_jax codes (`load_model` calls this): compiling a
  full-size model's programs takes tens of seconds on a CPU, for every image size.
  Folder: `directory`, else $LIC_JAX_CACHE, else ~/.cache/lic_jax/xla; $LIC_JAX_CACHE=off
  turns both caches off. Each keeps its newest entries within $LIC_JAX_CACHE_MAX_MB
  megabytes (default 2048). Returns the folder, or None when off.
  """
  import jax
  from lic_jax import programs
  if directory:
    os.environ["LIC_JAX_CACHE"] = directory
  directory = programs.cache_dir()
  if directory is None:
    return None
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_compilation_cache_max_size", programs.max_bytes())
  return directory
