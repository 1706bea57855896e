"""ELIC (He et al., "ELIC: Efficient Learned Image Compression with Unevenly Grouped
Space-Channel Contextual Adaptive Coding", CVPR 2022), NHWC.

Follows the PyTorch code of JiangWeibeta/ELIC, the one the released checkpoints come
from. y = g_a(x) is cut into channel slices of uneven widths (16, 16, 32, 64, 192 for
M = 320: small groups first, where most of the information is); each slice is coded in
two checkerboard halves (anchors, then non-anchors). The entropy parameters of a half
come from the hyperprior, for slices > 0 from a channel context over all earlier
slices, and for non-anchors also from a local context: an ordinary 5x5 conv over the
slice's decoded anchors (zero at non-anchor positions, so the conv needs no mask).
Unlike MLIC++ there is no latent residual prediction. All activations are ReLU.

`anchor_params` and `nonanchor_params` are the slice step, which the latent codec
(`Hyperprior(ChannelGroups(Checkerboard))`) runs for forward, compress and
decompress alike.
"""
import dataclasses
import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.latent import ChannelGroups, Checkerboard, Hyperprior
from lic_jax.models import registry
from lic_jax.models.base import HyperpriorModel, VariableRateModel
from lic_jax.nn.layers import (AttentionBlock, Conv2d, ConvStack, ConvTranspose2d,
                               ResidualBottleneck, Sequential)

relu = jax.nn.relu
QUANT_MODES = ("ste", "noise")


@dataclasses.dataclass(frozen=True)
class ELICConfig:
  """N: hyper-latent (and transform) channels; M: latent channels, cut into slices of
  `slice_widths` channels (summing to M).

  quant: how the training forward makes y_hat (and z_hat), as in the original's
  `config.quant`: 'ste' rounds around the means with a straight-through gradient (the
  released models); 'noise' adds uniform noise. Evaluation and coding always round
  around the means. (The original's eval forward with 'noise' rounds y without the
  means, unlike its own compress; lic_jax keeps forward equal to decompress.)
  """
  N: int = 192
  M: int = 320
  slice_widths: tuple = (16, 16, 32, 64, 192)
  quant: str = "ste"

  def __post_init__(self):
    # A config read back from JSON carries a list; keep the dataclass hashable.
    object.__setattr__(self, "slice_widths", tuple(int(w) for w in self.slice_widths))
    if sum(self.slice_widths) != self.M:
      raise ValueError(f"slice_widths {self.slice_widths} sum to {sum(self.slice_widths)}, "
                       f"not M={self.M}")
    if self.quant not in QUANT_MODES:
      raise ValueError(f"quant must be one of {QUANT_MODES}, not {self.quant!r}")

  @property
  def slice_num(self):
    return len(self.slice_widths)


# Layer lists: item k is `<transform>.k` of the PyTorch nn.Sequential, so each can be
# built alone (tests) and the list read against the original. Each item is called as
# item(name=...) to make the module.
def _down(features):
  return functools.partial(Conv2d, features, 5, 2)


def _up(features):
  return functools.partial(ConvTranspose2d, features, 5, 2)


_res = functools.partial(ResidualBottleneck, activation=relu)


def analysis_layers(N, M):
  """g_a: four 5x5/s2 convs (x16 down), residual bottlenecks, attention at N and M."""
  res3 = (_res,) * 3
  return ((_down(N),) + res3 + (_down(N),) + res3 + (AttentionBlock, _down(N)) + res3
          + (_down(M), AttentionBlock))


def synthesis_layers(N, M):
  """g_s, the mirror of g_a with 5x5/s2 transposed convs (x16 up), ending in 3 channels."""
  res3 = (_res,) * 3
  return ((AttentionBlock, _up(N)) + res3 + (_up(N), AttentionBlock) + res3 + (_up(N),)
          + res3 + (_up(3),))


class HyperSynthesis(nn.Module):
  """h_s: z_hat (B, h/4, w/4, N) -> (B, h, w, 2M), the hyper scales and means
  (two 5x5/s2 transposed convs, then a 3x3/s1 one, ReLU between)."""
  M: int

  @nn.compact
  def __call__(self, z_hat):
    M = self.M
    x = relu(ConvTranspose2d(M, 5, 2, name="increase_0")(z_hat))
    x = relu(ConvTranspose2d(M * 3 // 2, 5, 2, name="increase_2")(x))
    return ConvTranspose2d(2 * M, 3, 1, name="increase_4")(x)


def hyper_analysis(N):
  """h_a: y (B, h, w, M) -> z (B, h/4, w/4, N): 3x3/s1, 5x5/s2, 5x5/s2 convs."""
  return ConvStack((N, N, N), (3, 5, 5), "reduction", strides=(1, 2, 2), activation=relu)


def entropy_parameters(in_dim, out_dim):
  """Three 1x1 convs, in_dim -> out_dim = 2 C_i (scales, means), widths stepping in
  thirds from in_dim to out_dim (EntropyParametersEX)."""
  widths = (in_dim * 2 // 3 + out_dim // 3, in_dim // 3 + out_dim * 2 // 3, out_dim)
  return ConvStack(widths, (1, 1, 1), "fusion", activation=relu)


def channel_context(out_dim):
  """Three 5x5 convs over the earlier slices -> out_dim = 2 C_i (ChannelContextEX;
  'fushion' is the original's spelling, kept for the checkpoint keys)."""
  return ConvStack((224, 128, out_dim), (5, 5, 5), "fushion", activation=relu)


def local_context(width):
  """The spatial context of slice i: a 5x5 conv, C_i -> 2 C_i, over the anchors."""
  return Conv2d(2 * width, 5)


class ELIC(HyperpriorModel):
  """ELIC. Tensors are NHWC; y has M channels at 1/16, z has N at 1/64 resolution."""
  config: ELICConfig

  @property
  def latent_codec(self):
    """z first, then the channel slices, each in two checkerboard halves."""
    return Hyperprior(ChannelGroups(self.config.slice_widths,
                                    Checkerboard(finish=None)))

  def setup(self):
    c = self.config
    N, M = c.N, c.M
    self.g_a = Sequential(analysis_layers(N, M), "analysis_transform")
    self.g_s = Sequential(synthesis_layers(N, M), "synthesis_transform")
    self.h_a = hyper_analysis(N)
    self.h_s = HyperSynthesis(M)
    self.entropy_bottleneck = EntropyBottleneck(N)
    widths = c.slice_widths
    self.local_context = [local_context(w) for w in widths]
    # Slice 0 has no earlier slices, hence no channel context.
    self.channel_context = [channel_context(2 * w) if i else None for i, w in enumerate(widths)]
    # Inputs: anchors [channel ctx (2 C_i, i > 0), hyper (2M)];
    # non-anchors [local ctx (2 C_i), channel ctx (i > 0), hyper].
    self.entropy_parameters_anchor = [
        entropy_parameters(2 * M + (2 * w if i else 0), 2 * w) for i, w in enumerate(widths)]
    self.entropy_parameters_nonanchor = [
        entropy_parameters(2 * M + (4 * w if i else 2 * w), 2 * w) for i, w in enumerate(widths)]

  # The group step, for Checkerboard: `group` is the channel group's index,
  # `previous` the decoded groups before it ((B, h, w, 0) for group 0), `hyper` h_s's
  # output, `anchor_hat` the group's decoded anchors (zero at non-anchors).
  def anchor_params(self, group, hyper, previous):
    """The group's anchor Gaussian (scales, means: (B, h, w, C_i) each), and the
    channel context over the earlier groups that the non-anchors reuse (a list,
    empty for group 0)."""
    channel_contexts = [self.channel_context[group](previous)] if group else []
    params = self.entropy_parameters_anchor[group](
        jnp.concatenate(channel_contexts + [hyper], -1))
    scales, means = jnp.split(params, 2, axis=-1)
    return {"scales": scales, "means": means, "channel_contexts": channel_contexts}

  def nonanchor_params(self, group, hyper, anchor_hat, channel_contexts):
    """The group's non-anchor Gaussian, from its decoded anchors through the local
    context (ELIC has no latent residual prediction: the anchors stay as decoded)."""
    local = self.local_context[group](anchor_hat)
    params = self.entropy_parameters_nonanchor[group](
        jnp.concatenate([local] + channel_contexts + [hyper], -1))
    scales, means = jnp.split(params, 2, axis=-1)
    return {"scales": scales, "means": means}


@dataclasses.dataclass(frozen=True)
class ELICVariableRateConfig(ELICConfig):
  """ELIC's config, with the number of gains (one per training lambda) and whether a
  network gives z's quantization step from the gain."""
  levels: int = 8
  z_step: bool = True


class ELICVariableRate(VariableRateModel, ELIC):
  """ELIC coding every rate (`lic_jax.latent.VariableRate`): y at a gain with
  reconstruction offsets, z at a step from it; the bundled default model."""
  config: ELICVariableRateConfig


# ---- registration -------------------------------------------------------------------
# ELIC's local context is a plain conv and its g_a ends in a conv at index 13.
_SIGNATURE = ("g_a.analysis_transform.13.weight", "local_context.0.weight")


def _infer_config(sd):
  """N, M and the slice widths (the input channels of each `local_context.{i}`).
  `quant` is a training choice not stored in the weights; 'ste' is the released
  models' setting."""
  slice_num = 1 + max(int(m.group(1)) for m in
                      (re.match(r"local_context\.(\d+)\.", k) for k in sd) if m)
  return ELICConfig(
      N=int(sd["g_a.analysis_transform.0.weight"].shape[0]),
      M=int(sd["g_a.analysis_transform.13.weight"].shape[0]),
      slice_widths=tuple(int(sd[f"local_context.{i}.weight"].shape[1])
                         for i in range(slice_num)))


# "small" halves the transforms and each uneven group.
_PRESETS = {"full": {"N": 192, "M": 320, "slice_widths": (16, 16, 32, 64, 192)},
            "small": {"N": 96, "M": 160, "slice_widths": (8, 8, 16, 32, 96)},
            "test-small": {"N": 32, "M": 64, "slice_widths": (8, 8, 16, 32)}}

registry.register(registry.ModelSpec(
    name="elic", config=ELICConfig, module=ELIC,
    presets=_PRESETS,
    converter=registry.Converter(
        recognize=lambda sd: all(k in sd for k in _SIGNATURE), infer_config=_infer_config,
        signature=_SIGNATURE),
    anchor="elic",
    description="ELIC (He et al. 2022), JiangWeibeta/ELIC's released weights"))

registry.register(registry.ModelSpec(
    name="elic-vbr", config=ELICVariableRateConfig, module=ELICVariableRate,
    presets=_PRESETS,
    description="ELIC, variable rate (Kamisli et al. 2024's gains, offsets and z step; "
    "lic_jax's own, no released weights)"))
