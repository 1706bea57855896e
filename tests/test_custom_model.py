"""A model of one's own: defined and registered in this file alone, it codes
and round-trips through the command line with no edit anywhere else in lic_jax.

The model is a tiny mean-scale hyperprior (Minnen et al. 2018's entropy model over
plain strided convs), written as a user would, from lic_jax's blocks.
"""
import dataclasses
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import bitstream
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.latent import GaussianConditional, Hyperprior
from lic_jax.models import registry
from lic_jax.models.base import HyperpriorModel


NAME = "test-tiny-mean-scale"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


@dataclasses.dataclass(frozen=True)
class TinyConfig:
  N: int = 4
  M: int = 8


class TinyMeanScale(HyperpriorModel):
  """x (B, H, W, 3) -> y (B, H/16, W/16, M) -> z (B, H/64, W/64, N)."""
  config: TinyConfig

  @property
  def latent_codec(self):
    return Hyperprior(GaussianConditional("gaussian_params"))

  def setup(self):
    c = self.config
    self.g_a = nn.Sequential([nn.Conv(c.M, (4, 4), (4, 4)), nn.relu, nn.Conv(c.M, (4, 4), (4, 4))])
    self.g_s = nn.Sequential([nn.ConvTranspose(c.M, (4, 4), (4, 4)), nn.relu,
                              nn.ConvTranspose(3, (4, 4), (4, 4))])
    self.h_a = nn.Conv(c.N, (4, 4), (4, 4))
    self.h_s = nn.ConvTranspose(2 * c.M, (4, 4), (4, 4))
    self.entropy_bottleneck = EntropyBottleneck(c.N)

  def gaussian_params(self, hyper):
    """(scales, means), each (B, h, w, M)."""
    scales, means = jnp.split(hyper, 2, axis=-1)
    return jnp.exp(scales), means


registry.register(registry.ModelSpec(
    name=NAME, config=TinyConfig, module=TinyMeanScale,
    presets={"full": {"N": 4, "M": 8}, "small": {"N": 4, "M": 8}, "test-small": {"N": 4, "M": 8}},
    description="a test model defined outside lic_jax"))


def _image(height, width):
  rng = np.random.default_rng(5)
  rows, cols = np.mgrid[0:height, 0:width]
  image = np.stack([rows * 3, cols * 2, (rows + cols) * 1.5], -1) + rng.normal(0, 8, (height, width, 3))
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def test_a_model_defined_here_codes_through_the_cli(tmp_path):
  from lic_jax import image_io, model_dir
  from lic_jax.codec import Codec, pad_image, to_uint8
  from lic_jax.latent.tables import model_tables

  spec = registry.get(NAME)
  assert NAME in registry.names()
  model = spec.build(spec.make_config("test-small"))
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
  tables = model_tables(model, params)
  directory = tmp_path / "model"
  meta = model_dir.save(directory, NAME, spec.make_config("test-small"), params, tables)
  assert meta["module"] == __name__

  height, width = 50, 70
  image_path, stream_path, decoded_path = (tmp_path / n for n in ("in.png", "x.lic", "out.png"))
  image = _image(height, width)
  image_io.write_png(str(image_path), image)
  # A fresh process knows the model only from the directory's record of its module.
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, REPO]))
  for args in (["compress", "--model", str(directory), str(image_path), str(stream_path)],
               ["decompress", "--model", str(directory), str(stream_path), str(decoded_path)]):
    result = subprocess.run([sys.executable, "-m", "lic_jax", *args], capture_output=True,
                            text=True, env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
  decoded, _ = image_io.read_image(str(decoded_path))

  codec = Codec.from_dir(str(directory))
  out = codec.forward(pad_image(image))
  assert set(out) == {"x_hat", "y_hat", "y_likelihoods", "z_likelihoods"}
  assert decoded.shape == (height, width, 3)
  assert np.array_equal(decoded, to_uint8(out["x_hat"], height, width))
  with open(stream_path, "rb") as f:
    assert codec.decompress(f.read()).tobytes() == decoded.tobytes()
  # The coded size is what the likelihoods say, plus the container (header, decoding
  # checks, CRC) and the range coder's last bytes (about 2 per string).
  with open(stream_path, "rb") as f:
    container_bytes = bitstream.info(f.read())["header_bytes"] + 4
  bits = -sum(float(np.log2(np.asarray(out[k], np.float64)).sum())
              for k in ("y_likelihoods", "z_likelihoods"))
  assert 8 * os.path.getsize(stream_path) <= 1.01 * bits + 8 * (container_bytes + 2 * 2)
