"""MLIC++ (Jiang & Wang, "MLIC++: Linear Complexity Multi-Reference Entropy Modeling
for Learned Image Compression", arXiv 2307.15421), NHWC.

y = g_a(x) is cut into `slice_num` channel slices; each slice is coded in two
checkerboard halves (anchors, then non-anchors). The entropy parameters of a half come
from the hyperprior and from up to four contexts: channel context and global inter-slice
attention over the earlier slices, and for non-anchors also local window attention and
global intra-slice attention over the decoded anchors. Latent residual prediction (LRP)
then corrects the rounding error of each half.

The three methods `anchor_params`, `nonanchor_params` and `finish_slice` are the slice
step, which the latent codec (`Hyperprior(ChannelGroups(Checkerboard))`) runs for
forward, compress and decompress alike.
"""
import dataclasses
import math
import re

import flax.linen as nn
import jax.numpy as jnp

from lic_jax.entropy import checkerboard
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.latent import ChannelGroups, Checkerboard, Hyperprior
from lic_jax.models import registry
from lic_jax.models.base import HyperpriorModel
from lic_jax.nn.attention import (LinearGlobalInterContext, LinearGlobalIntraContext, LocalContext,
                                  relative_position_index)
from lic_jax.nn.layers import (ConvStack, Conv2d, ResidualBlock, ResidualBlockUpsample,
                               ResidualBlockWithStride, gelu, subpel_conv)


@dataclasses.dataclass(frozen=True)
class MLICPlusPlusConfig:
  """N: hyper-latent channels; M: latent channels, cut into slice_num equal slices.

  old=True selects the classes of the 2023-09 released weights
  (SynthesisTransformOld, LatentResidualPredictionOld).
  """
  N: int = 192
  M: int = 320
  slice_num: int = 10
  old: bool = False
  window: int = 5
  local_heads: int = 2

  @property
  def slice_ch(self):
    return self.M // self.slice_num

  @property
  def slice_widths(self):
    return (self.slice_ch,) * self.slice_num


class AnalysisTransform(nn.Module):
  """g_a: (B, H, W, 3) -> (B, H/16, W/16, M)."""
  N: int
  M: int

  @nn.compact
  def __call__(self, x):
    for k in range(3):
      x = ResidualBlockWithStride(self.N, name=f"analysis_transform_{2 * k}")(x)
      x = ResidualBlock(self.N, name=f"analysis_transform_{2 * k + 1}")(x)
    return Conv2d(self.M, 3, 2, name="analysis_transform_6")(x)


class SynthesisTransform(nn.Module):
  """g_s: (B, h, w, M) -> (B, 16h, 16w, 3).

  The current class widens block 0 at M and narrows in block 1; the old class
  narrows to N already in block 0 (with a 1x1 skip).
  """
  N: int
  M: int
  old: bool = False

  @nn.compact
  def __call__(self, y_hat):
    x = ResidualBlock(self.N if self.old else self.M, name="synthesis_transform_0")(y_hat)
    for k in range(3):
      x = ResidualBlockUpsample(self.N, name=f"synthesis_transform_{2 * k + 1}")(x)
      x = ResidualBlock(self.N, name=f"synthesis_transform_{2 * k + 2}")(x)
    return subpel_conv(x, 3, 2, "synthesis_transform_7")


class HyperSynthesis(nn.Module):
  """h_s: (B, h/4, w/4, N) -> (B, h, w, 2M): hyper scales and hyper means."""
  M: int

  @nn.compact
  def __call__(self, z_hat):
    M = self.M
    x = gelu(Conv2d(M, 3, name="increase_0")(z_hat))
    x = gelu(subpel_conv(x, M, 2, "increase_2"))
    x = gelu(Conv2d(M * 3 // 2, 3, name="increase_4")(x))
    x = gelu(subpel_conv(x, M * 3 // 2, 2, "increase_6"))
    return Conv2d(2 * M, 3, name="increase_8")(x)


def lrp_widths(in_dim, out_dim, old):
  """Conv widths of latent residual prediction for in_dim -> out_dim channels.

  The old class steps the width down in quarters of |in - out|; the current one
  uses fixed 224 and 128.
  """
  if old:
    diff = abs(out_dim - in_dim)
    return (in_dim - diff // 4, in_dim - diff // 2, in_dim - diff * 3 // 4, out_dim)
  return (224, 128, out_dim)


class MLICPlusPlus(HyperpriorModel):
  """MLIC++. Tensors are NHWC; y has M channels at 1/16, z has N at 1/64 resolution."""
  config: MLICPlusPlusConfig

  @property
  def latent_codec(self):
    """z first, then the channel slices, each in two checkerboard halves."""
    return Hyperprior(ChannelGroups(self.config.slice_widths,
                                    Checkerboard(finish="finish_slice")))

  def setup(self):
    c = self.config
    sc, M = c.slice_ch, c.M
    self.g_a = AnalysisTransform(c.N, M)
    self.g_s = SynthesisTransform(c.N, M, old=c.old)
    self.h_a = ConvStack((c.N,) * 5, (3,) * 5, "reduction", strides=(1, 1, 2, 1, 2))
    self.h_s = HyperSynthesis(M)
    self.entropy_bottleneck = EntropyBottleneck(c.N)
    slices = range(c.slice_num)
    self.local_context = [LocalContext(c.window, c.local_heads) for _ in slices]
    # Slice 0 has no earlier slices, hence no channel or global contexts.
    self.channel_context = [
        ConvStack((192, 128, 4 * sc), (3, 3, 3), "fushion") if i else None for i in slices]
    self.global_inter_context = [
        LinearGlobalInterContext(2 * sc, sc * i // 32) if i else None for i in slices]
    self.global_intra_context = [LinearGlobalIntraContext() if i else None for i in slices]
    entropy_parameters = lambda: ConvStack((320, 256, 128, 2 * sc), (1,) * 4, "fusion")
    self.entropy_parameters_anchor = [entropy_parameters() for _ in slices]
    self.entropy_parameters_nonanchor = [entropy_parameters() for _ in slices]
    def lrp(i):
      widths = lrp_widths(M + (i + 1) * sc, sc, c.old)
      return ConvStack(widths, (3,) * len(widths), "lrp_transform")
    self.lrp_anchor = [lrp(i) for i in slices]
    self.lrp_nonanchor = [lrp(i) for i in slices]

  # The slice step, for Checkerboard: `group` is the slice's index, `previous` the
  # decoded slices before it ((B, h, w, 0) for slice 0), `hyper` h_s's output.
  def anchor_params(self, group, hyper, previous):
    """The slice's anchor Gaussian (scales, means: (B, h, w, C_i) each), and the
    contexts over the earlier slices that the non-anchors reuse (global inter-slice
    attention and channel context; none for slice 0)."""
    if group == 0:
      channel_contexts = []
    else:
      channel_contexts = [self.global_inter_context[group](previous),
                          self.channel_context[group](previous)]
    params = self.entropy_parameters_anchor[group](
        jnp.concatenate(channel_contexts + [hyper], -1))
    scales, means = jnp.split(params, 2, axis=-1)
    return {"scales": scales, "means": means, "channel_contexts": channel_contexts}

  def nonanchor_params(self, group, hyper, previous, anchor_hat, channel_contexts):
    """The decoded anchors (zero at non-anchors) corrected by LRP, and from them the
    non-anchor Gaussian (local window attention, global intra-slice attention)."""
    anchor_hat = anchor_hat + checkerboard.anchor(
        self._lrp(self.lrp_anchor[group], hyper, previous, anchor_hat))
    local = [self.local_context[group](anchor_hat)]
    if group:
      local.append(self.global_intra_context[group](previous[..., -self.config.slice_ch:],
                                                    anchor_hat))
    params = self.entropy_parameters_nonanchor[group](
        jnp.concatenate(local + channel_contexts + [hyper], -1))
    scales, means = jnp.split(params, 2, axis=-1)
    return {"scales": scales, "means": means, "anchor_hat": anchor_hat}

  def finish_slice(self, group, hyper, previous, y_hat):
    """Adds LRP to the decoded non-anchors of the slice y_hat (B, h, w, C_i)."""
    lrp = self._lrp(self.lrp_nonanchor[group], hyper, previous, y_hat)
    return y_hat + checkerboard.nonanchor(lrp)

  def _lrp(self, module, hyper, previous, current):
    hyper_means = jnp.split(hyper, 2, axis=-1)[1]
    return 0.5 * jnp.tanh(module(jnp.concatenate([hyper_means, previous, current], -1)))


# ---- registration -------------------------------------------------------------------
# The released keys: g_a ends in a conv at index 6, the local context is window
# attention; the 2023-09 models' synthesis block 0 has a 1x1 skip.
_SIGNATURE = ("g_a.analysis_transform.6.weight", "local_context.0.qkv_proj.weight")
_OLD_SIGNATURE = "g_s.synthesis_transform.0.skip.weight"


def _recognize(old):
  return lambda sd: all(k in sd for k in _SIGNATURE) and (_OLD_SIGNATURE in sd) == old


def _infer_config(old):
  def infer(sd):
    slice_num = 1 + max(int(m.group(1)) for m in
                        (re.match(r"local_context\.(\d+)\.", k) for k in sd) if m)
    table = sd["local_context.0.relative_position_table"]
    return MLICPlusPlusConfig(
        N=int(sd["g_a.analysis_transform.0.conv1.weight"].shape[0]),
        M=int(sd["g_a.analysis_transform.6.weight"].shape[0]),
        slice_num=slice_num, old=old,
        window=int(round((math.sqrt(table.shape[0]) + 1) / 2)),
        local_heads=int(table.shape[1]))
  return infer


def _constants(key, config):
  if key.endswith("relative_position_index"):
    return relative_position_index(config.window)
  return None


for _name, _old in (("mlicpp", False), ("mlicpp-old", True)):
  registry.register(registry.ModelSpec(
      name=_name, config=MLICPlusPlusConfig, module=MLICPlusPlus,
      # "small" halves the transforms and keeps slices of 32 channels (the global
      # inter-slice attention has slice_ch * i / 32 heads); "test-small" is the
      # reference fixtures' size.
      presets={"full": {"N": 192, "M": 320, "slice_num": 10, "old": _old},
               "small": {"N": 96, "M": 160, "slice_num": 5, "old": _old},
               "test-small": ({"N": 32, "M": 64, "slice_num": 2, "old": True} if _old
                              else {"N": 32, "M": 96, "slice_num": 3})},
      converter=registry.Converter(
          recognize=_recognize(_old), infer_config=_infer_config(_old),
          signature=_SIGNATURE + ((_OLD_SIGNATURE,) if _old else ()), constants=_constants),
      anchor="mlicpp",
      description=("MLIC++, the 2023-09 released weights' classes" if _old else
                   "MLIC++ (Jiang & Wang 2023), the 2024-04 released weights")))

