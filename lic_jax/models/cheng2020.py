"""Cheng et al. 2020 ("Learned Image Compression with Discretized Gaussian Mixture
Likelihoods and Attention Modules", CVPR 2020) as CompressAI's zoo has them, NHWC:
`cheng2020-anchor` and `cheng2020-attn`.

CompressAI's versions keep mbt2018's entropy model (one Gaussian per element, not
the paper's mixture; `AutoregressiveHyperpriorModel`'s 5x5 masked context model) with
y and z of N channels, and change the transforms: residual blocks with LeakyReLUs,
strided residual blocks with GDN for downsampling, sub-pixel convs (a conv, then a
pixel shuffle) for upsampling, 3x3 convs in the hyper transforms; the attention
model adds simplified attention blocks to g_a and g_s.

The transforms are lists assigned in `setup`, so that item k is `<transform>.k` of
the PyTorch nn.Sequential (a sub-pixel conv is a nested list: its conv is
`<transform>.k.0`), as in `lic_jax.nn.transforms`.
"""
import dataclasses
import functools

from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.models import registry, zoo
from lic_jax.models.base import AutoregressiveHyperpriorModel
from lic_jax.nn import transforms
from lic_jax.nn.layers import (AttentionBlock, Conv2d, ResidualBlock, ResidualBlockUpsample,
                               ResidualBlockWithStride, pixel_shuffle)

leaky_relu = transforms.leaky_relu
residual = functools.partial(ResidualBlock, activation=leaky_relu)
down = functools.partial(ResidualBlockWithStride, stride=2, activation=leaky_relu)
up = functools.partial(ResidualBlockUpsample, upsample=2, activation=leaky_relu)


@dataclasses.dataclass(frozen=True)
class Cheng2020Config:
  """N: channels of the transforms, of y and of z."""
  N: int = 192

  @property
  def M(self):
    """Channels of y (compressai's M, equal to N here)."""
    return self.N


def subpel(features):
  """compressai's subpel_conv3x3 (x2): a 3x3 conv to 4x the features, a pixel shuffle."""
  return [Conv2d(features * 4, 3), functools.partial(pixel_shuffle, r=2)]


def hyper_layers(N):
  """h_a: y (B, h, w, N) -> z (B, h/4, w/4, N); h_s: z_hat -> (B, h, w, 2N)."""
  h_a = [Conv2d(N, 3), leaky_relu, Conv2d(N, 3), leaky_relu, Conv2d(N, 3, 2), leaky_relu,
         Conv2d(N, 3), leaky_relu, Conv2d(N, 3, 2)]
  h_s = [Conv2d(N, 3), leaky_relu, subpel(N), leaky_relu, Conv2d(N * 3 // 2, 3), leaky_relu,
         subpel(N * 3 // 2), leaky_relu, Conv2d(N * 2, 3)]
  return h_a, h_s


class Cheng2020Anchor(AutoregressiveHyperpriorModel):
  """cheng2020-anchor: residual-block transforms, mbt2018's entropy model."""
  config: Cheng2020Config

  def transforms(self, N):
    """g_a: x (B, H, W, 3) -> y (B, H/16, W/16, N); g_s: y_hat -> x_hat."""
    g_a = [down(N), residual(N), down(N), residual(N), down(N), residual(N), Conv2d(N, 3, 2)]
    g_s = [residual(N), up(N), residual(N), up(N), residual(N), up(N), residual(N), subpel(3)]
    return g_a, g_s

  def setup(self):
    N = self.config.N
    self.g_a, self.g_s = self.transforms(N)
    self.h_a, self.h_s = hyper_layers(N)
    self.entropy_bottleneck = EntropyBottleneck(N)
    self.context_prediction, self.entropy_parameters = transforms.context_layers(N)


class Cheng2020Attention(Cheng2020Anchor):
  """cheng2020-attn: cheng2020-anchor with two attention blocks in g_a and in g_s."""

  def transforms(self, N):
    g_a = [down(N), residual(N), down(N), AttentionBlock(), residual(N), down(N), residual(N),
           Conv2d(N, 3, 2), AttentionBlock()]
    g_s = [AttentionBlock(), residual(N), up(N), residual(N), up(N), AttentionBlock(),
           residual(N), up(N), residual(N), subpel(3)]
    return g_a, g_s


# ---- registration -------------------------------------------------------------------
def _is_cheng2020(sd, attention):
  # The zoo's files name the strided blocks' skip conv `downsample`, compressai `skip`.
  has_skip = "g_a.0.skip.weight" in sd or "g_a.0.downsample.weight" in sd
  has_attention = "g_a.3.conv_a.0.conv.0.weight" in sd
  return (has_skip and "g_a.0.conv1.weight" in sd and "context_prediction.weight" in sd
          and has_attention == attention)


def _converter(attention):
  return registry.Converter(
      recognize=lambda sd: _is_cheng2020(sd, attention),
      infer_config=lambda sd: Cheng2020Config(N=int(sd["g_a.0.conv1.weight"].shape[0])),
      signature=("g_a.0.conv1.weight", "g_a.0.downsample.weight", "context_prediction.weight")
      + (("g_a.3.conv_a.0.conv.0.weight",) if attention else ()),
      rename=lambda key: key.replace(".downsample.", ".skip."),
      constants=lambda key, config: zoo.mask_constant(key, config.M),
      prepare=zoo.mask_context_weight)


_PRESETS = {"full": {"N": 192}, "small": {"N": 64}, "test-small": {"N": 32},
            **{f"q{q}": {"N": 128} for q in range(1, 4)},
            **{f"q{q}": {"N": 192} for q in range(4, 7)}}

registry.register(registry.ModelSpec(
    name="cheng2020-anchor", config=Cheng2020Config, module=Cheng2020Anchor, presets=_PRESETS,
    converter=_converter(attention=False), anchor="cheng2020-anchor",
    description="Cheng et al. 2020, residual transforms, context model (CompressAI zoo)"))

registry.register(registry.ModelSpec(
    name="cheng2020-attn", config=Cheng2020Config, module=Cheng2020Attention,
    presets=_PRESETS, converter=_converter(attention=True), anchor="cheng2020-attn",
    description="Cheng et al. 2020, with attention blocks (CompressAI zoo)"))
