"""lic_jax: MLIC++ and ELIC learned image codecs in JAX/Flax.

    import lic_jax
    codec = lic_jax.load_model("converted_dir")   # written by convert.py or train.py
    out = codec.forward(x)                         # x: (B, H, W, 3) float32 in [0, 1]
    data = codec.compress(image)                   # image: (H, W, 3) uint8 -> bytes
    image = codec.decompress(data)
"""

__version__ = "0.1.0"


def load_model(path):
  """The `Codec` stored in a model directory (from convert.py or train.py)."""
  from lic_jax.codec import Codec
  return Codec.from_dir(path)
