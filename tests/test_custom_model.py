"""A model of one's own: defined and registered in this file alone, it codes and
round-trips through the command line with no edit anywhere else in lic_jax.

The model is a tiny ELIC, written as a user would from lic_jax's latent codecs: y in
two channel groups, each coded in two checkerboard halves, given a hyperprior. Its
methods ask for the named values the codecs provide (`hyper`, `group`, `previous`,
`anchor_hat`) and return theirs by name.
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
from lic_jax.latent import ChannelGroups, Checkerboard, Hyperprior
from lic_jax.models import registry
from lic_jax.models.base import HyperpriorModel

NAME = "test-tiny-channel-groups"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


@dataclasses.dataclass(frozen=True)
class TinyConfig:
  N: int = 4
  M: int = 8
  groups: tuple = (4, 4)


def gaussian(params):
  """A conv's 2C channels -> the Gaussian of C channels, by name."""
  scales, means = jnp.split(params, 2, axis=-1)
  return {"scales": jnp.exp(scales), "means": means}


class TinyChannelGroups(HyperpriorModel):
  """x (B, H, W, 3) -> y (B, H/16, W/16, M) -> z (B, H/64, W/64, N)."""
  config: TinyConfig

  @property
  def latent_codec(self):
    return Hyperprior(ChannelGroups(self.config.groups, Checkerboard()))

  def setup(self):
    c = self.config
    self.g_a = [nn.Conv(c.M, (4, 4), (4, 4)), nn.relu, nn.Conv(c.M, (4, 4), (4, 4))]
    self.g_s = [nn.ConvTranspose(c.M, (4, 4), (4, 4)), nn.relu,
                nn.ConvTranspose(3, (4, 4), (4, 4))]
    self.h_a = nn.Conv(c.N, (4, 4), (4, 4))
    self.h_s = nn.ConvTranspose(2 * c.M, (4, 4), (4, 4))
    self.entropy_bottleneck = EntropyBottleneck(c.N)
    self.anchor_nets = [nn.Conv(2 * width, (1, 1)) for width in c.groups]
    self.nonanchor_nets = [nn.Conv(2 * width, (3, 3)) for width in c.groups]

  def anchor_params(self, group, hyper, previous):
    """A group's anchors: from the hyperprior and the groups decoded before it."""
    return gaussian(self.anchor_nets[group](jnp.concatenate([hyper, previous], -1)))

  def nonanchor_params(self, group, hyper, anchor_hat):
    """Its non-anchors: from the hyperprior and the group's decoded anchors."""
    return gaussian(self.nonanchor_nets[group](jnp.concatenate([hyper, anchor_hat], -1)))


registry.register(registry.ModelSpec(
    name=NAME, config=TinyConfig, module=TinyChannelGroups,
    presets={"full": {}, "small": {}, "test-small": {}},
    description="a test model defined outside lic_jax"))


def tiny_codec():
  """A `Codec` of the model with seeded weights."""
  from lic_jax.codec import Codec
  from lic_jax.latent.tables import model_table_arrays
  model = TinyChannelGroups(TinyConfig())
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
  return Codec(NAME, model.config, params, model_table_arrays(model, params), "00" * 8)


def _image(height, width):
  rng = np.random.default_rng(5)
  rows, cols = np.mgrid[0:height, 0:width]
  image = np.stack([rows * 3, cols * 2, (rows + cols) * 1.5], -1) + rng.normal(0, 8, (height, width, 3))
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def test_a_model_defined_here_codes_through_the_cli(tmp_path):
  from lic_jax import image_io, model_dir
  from lic_jax.codec import Codec, pad_image, to_uint8

  codec = tiny_codec()
  directory = tmp_path / "model"
  meta = model_dir.save(directory, NAME, codec.config, codec.params, codec.table_arrays)
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
    data = f.read()
  assert codec.decompress(data).tobytes() == decoded.tobytes()
  # z, then each group's two halves: a string each.
  assert list(bitstream.info(data)["string_bytes"]) == ["z", "y0", "y1", "y2", "y3"]
  # The coded size is what the likelihoods say, plus the container (header, decoding
  # checks, CRC) and the range coder's last bytes (about 2 per string).
  container_bytes = bitstream.info(data)["header_bytes"] + 4
  bits = -sum(float(np.log2(np.asarray(out[k], np.float64)).sum())
              for k in ("y_likelihoods", "z_likelihoods"))
  assert 8 * len(data) <= 1.01 * bits + 8 * (container_bytes + 5 * 2)
