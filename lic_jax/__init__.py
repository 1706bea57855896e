"""lic_jax: learned image codecs in JAX/Flax (MLIC++, ELIC, CompressAI's zoo models).

    import lic_jax
    codec = lic_jax.load_model("converted_dir")   # written by convert.py or train.py
    codec = lic_jax.load_model("default")         # the bundled model (lic_jax/assets)
    out = codec.forward(x)                         # x: (B, H, W, 3) float32 in [0, 1]
    data = codec.compress(image)                   # image: (H, W, 3) uint8 -> bytes
    image = codec.decompress(data)
"""

__version__ = "0.1.0"


def load_model(path, coder=None):
  """The `Codec` stored in a model directory (from convert.py or train.py); "default"
  is the small model bundled in lic_jax/assets (its higher-rate point, default-q2;
  "default-q1" is the lower-rate one). coder: the entropy coder implementation to
  code with, one of `lic_jax.coder.available()` (default: the fastest installed)."""
  from lic_jax.codec import Codec
  return Codec.from_dir(path, coder)


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
