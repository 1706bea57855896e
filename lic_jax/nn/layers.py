"""Convolutions, GDN and residual blocks, NHWC, with PyTorch's padding semantics.

Sub-module names follow the PyTorch state-dict names of the released models, with
`.k` written `_k` (`analysis_transform.0.conv1` -> `analysis_transform_0/conv1`),
so that `lic_jax.conversion` can map a checkpoint key to a parameter by rule.

Over 250 lines: the small building blocks of every model family live together, so
that a new model finds them in one file.
"""
import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import raster
from lic_jax.ops import lower_bound

# torch.nn.GELU is the exact (erf) form; JAX defaults to the tanh approximation.
gelu = functools.partial(jax.nn.gelu, approximate=False)


def Conv2d(features, kernel_size, stride=1, groups=1, padding=None, name=None):
  """A PyTorch-style Conv2d: symmetric zero padding of kernel_size // 2 by default.

  ('SAME' would pad (0, 1) for a stride-2 3x3 conv on even sizes; PyTorch pads (1, 1).)
  groups == features is a depthwise conv (input width = features).
  """
  pad = kernel_size // 2 if padding is None else padding
  if groups > 1 and groups == features and stride == 1:
    return DepthwiseConv2d(kernel_size, pad, name=name)
  return nn.Conv(features, (kernel_size, kernel_size), strides=(stride, stride),
                 padding=((pad, pad), (pad, pad)), feature_group_count=groups, name=name)


class DepthwiseConv2d(nn.Module):
  """Depthwise conv as a sum of shifted, per-channel scaled copies of the input.

  Same parameters as `nn.Conv(C, feature_group_count=C)` (kernel (k, k, 1, C), bias
  (C,)); XLA's CPU backend runs grouped convolutions some 50x slower than this.
  """
  kernel_size: int
  padding: int

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C) -> (B, H + 2p - k + 1, W + 2p - k + 1, C)."""
    k, pad, c = self.kernel_size, self.padding, x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, 1, c))
    bias = self.param("bias", nn.initializers.zeros_init(), (c,))
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = padded.shape[1] - k + 1, padded.shape[2] - k + 1
    out = sum(padded[:, i:i + h, j:j + w] * kernel[i, j, 0] for i in range(k) for j in range(k))
    return out + bias


def apply_layers(layers, x):
  """Applies `layers` in order: modules, activations, and nested lists (a PyTorch
  Sequential inside a Sequential, such as a sub-pixel conv). The one way lic_jax
  applies a stack of layers: `Sequential`, `ConvStack` and the models' layer lists
  (`lic_jax.nn.transforms`) all come here."""
  if not isinstance(layers, (list, tuple)):
    return layers(x)
  for layer in layers:
    x = apply_layers(layer, x)
  return x


def pixel_shuffle(x, r):
  """torch.nn.PixelShuffle in NHWC: (B, H, W, C*r*r) -> (B, H*r, W*r, C).

  Input channel c*r*r + i*r + j goes to output channel c at offset (i, j); note that
  this differs from tf.nn.depth_to_space, which puts the channel index last.
  """
  b, h, w, crr = x.shape
  c = crr // (r * r)
  x = x.reshape(b, h, w, c, r, r)
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * r, w * r, c)


def subpel_conv(x, features, r, name):
  """3x3 conv to features*r^2 channels, then pixel shuffle (compressai subpel_conv3x3).

  The conv is named `<name>_0` as in PyTorch, where it is item 0 of a Sequential.
  """
  return pixel_shuffle(Conv2d(features * r * r, 3, name=f"{name}_0")(x), r)


class GDN(nn.Module):
  """Generalized divisive normalization (Ballé et al. 2016), compressai's form.

  y_c = x_c / sqrt(beta_c + sum_j gamma_cj x_j^2); the inverse multiplies instead.
  beta and gamma are stored reparametrised (value = max(p, bound)^2 - pedestal), as
  in compressai, which keeps them positive and trainable near zero.
  """
  inverse: bool = False
  beta_min: float = 1e-6
  gamma_init: float = 0.1
  reparam_offset: float = 2.0 ** -18

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C) -> (B, H, W, C)."""
    channels = x.shape[-1]
    pedestal = self.reparam_offset ** 2
    beta = self.param(
        "beta", lambda _, s: jnp.sqrt(jnp.ones(s) + pedestal), (channels,))
    gamma = self.param(
        "gamma", lambda _, s: jnp.sqrt(self.gamma_init * jnp.eye(s[0]) + pedestal),
        (channels, channels))
    beta = lower_bound(beta, (self.beta_min + pedestal) ** 0.5) ** 2 - pedestal
    gamma = lower_bound(gamma, pedestal ** 0.5) ** 2 - pedestal
    # gamma is (C_out, C_in), applied as a 1x1 conv over x^2.
    norm = jnp.einsum("bhwj,cj->bhwc", x * x, gamma) + beta
    return x * (jnp.sqrt(norm) if self.inverse else jax.lax.rsqrt(norm))


class ResidualBlock(nn.Module):
  """Two 3x3 convs, each followed by the activation (MLIC++: GELU; compressai's
  cheng2020: LeakyReLU), plus identity (or a 1x1 skip when widths differ)."""
  features: int
  activation: Callable = gelu

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C_in) -> (B, H, W, features)."""
    out = self.activation(Conv2d(self.features, 3, name="conv1")(x))
    out = self.activation(Conv2d(self.features, 3, name="conv2")(out))
    if x.shape[-1] != self.features:
      x = Conv2d(self.features, 1, name="skip")(x)
    return out + x


class ResidualBlockWithStride(nn.Module):
  """Downsampling residual block: 3x3/s conv, activation, 3x3 conv, GDN; 1x1/s skip."""
  features: int
  stride: int = 2
  activation: Callable = gelu

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C_in) -> (B, H/stride, W/stride, features)."""
    out = self.activation(Conv2d(self.features, 3, self.stride, name="conv1")(x))
    out = GDN(name="gdn")(Conv2d(self.features, 3, name="conv2")(out))
    if self.stride != 1 or x.shape[-1] != self.features:
      x = Conv2d(self.features, 1, self.stride, name="skip")(x)
    return out + x


class ResidualBlockUpsample(nn.Module):
  """Upsampling residual block: subpel conv, activation, 3x3 conv, IGDN; subpel skip."""
  features: int
  upsample: int = 2
  activation: Callable = gelu

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C_in) -> (B, H*r, W*r, features)."""
    out = self.activation(subpel_conv(x, self.features, self.upsample, "subpel_conv"))
    out = GDN(inverse=True, name="igdn")(Conv2d(self.features, 3, name="conv")(out))
    return out + subpel_conv(x, self.features, self.upsample, "upsample")


class MaskedConv2d(nn.Module):
  """A k x k conv over the raster-causal part of its window (`entropy.raster.mask`,
  type A): Minnen et al.'s context model. The kernel is masked on every call, as
  compressai's MaskedConv2d does, so weights that were not masked cannot leak.

  Called with `rows, cols` (each (K,) int), it computes the outputs at those
  positions only, from the causal taps alone: what wavefront decoding needs, at a
  K / (h * w) fraction of the cost. Positions with an out-of-range row give garbage.
  """
  features: int
  kernel_size: int = 5

  @nn.compact
  def __call__(self, x, rows=None, cols=None):
    """x: (B, h, w, C) -> (B, h, w, features), or (B, K, 1, features) at rows, cols."""
    k, p = self.kernel_size, self.kernel_size // 2
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if rows is None:
      kernel = kernel * raster.mask(k)[:, :, None, None]
      return jax.lax.conv_general_dilated(
          x, kernel, (1, 1), ((p, p), (p, p)),
          dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
    taps = raster.causal_offsets(k)
    # Only rows above and the own row are read: no padding below.
    padded = jnp.pad(x, ((0, 0), (p, 0), (p, p), (0, 0)))
    patches = jnp.stack([padded[:, rows + i, cols + j] for i, j in taps], axis=2)
    weights = jnp.stack([kernel[i, j] for i, j in taps])
    out = jnp.einsum("bktc,tcf->bkf", patches, weights) + bias
    return out[:, :, None, :]


class ConvStack(nn.Module):
  """Convs with an activation between them, named `<prefix>_0, _2, ...` as in a
  PyTorch Sequential that interleaves convs and activations."""
  widths: tuple
  kernel_sizes: tuple
  prefix: str
  strides: tuple = None
  activation: Callable = gelu

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C_in) -> (B, H / prod(strides), W / prod(strides), widths[-1])."""
    strides = self.strides or (1,) * len(self.widths)
    layers = []
    for k, (width, size, stride) in enumerate(zip(self.widths, self.kernel_sizes, strides)):
      layers += [self.activation] if k else []
      layers.append(Conv2d(width, size, stride, name=f"{self.prefix}_{2 * k}"))
    return apply_layers(layers, x)


class ConvTranspose2d(nn.Module):
  """A PyTorch-style ConvTranspose2d; by default the compressai/ELIC `deconv`:
  padding kernel_size // 2 and output_padding stride - 1, so that the output is exactly
  stride times the input (ELIC: 5x5/s2 with padding 2 and output_padding 1).

  PyTorch: y[s*i - p + t] += x[i] w[t] (per axis), output length
  (H - 1) s - 2p + k + output_padding. Computed by output phase: the outputs
  y[s*m + a] of phase a take taps t = a + p - s*d from inputs x[m + d], so one dense
  conv over the input with the s*s phases' taps stacked on its output channels, then
  a pixel shuffle, gives all of them. That avoids convolving a stride-dilated input,
  (s*s - 1) / (s*s) zeros, which XLA's CPU backend does literally.
  The kernel is (kh, kw, out, in), Flax's `transpose_kernel` layout: the PyTorch weight
  (in, out, kh, kw) transposed by (2, 3, 1, 0), the same permutation as a Conv2d's
  OIHW -> HWIO.
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = None
  output_padding: int = None

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C_in) -> (B, H_out, W_out, features), H_out as PyTorch's."""
    k, s, c_out = self.kernel_size, self.stride, self.features
    p = k // 2 if self.padding is None else self.padding
    extra = s - 1 if self.output_padding is None else self.output_padding
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, c_out, x.shape[-1]))
    bias = self.param("bias", nn.initializers.zeros_init(), (c_out,))
    # Input offsets d used by any phase, and per (d, a) the tap, or k: a zero row.
    d_min, d_max = -((k - 1 - p) // s), (s - 1 + p) // s
    taps = np.array([[a + p - s * d if 0 <= a + p - s * d < k else k for a in range(s)]
                     for d in range(d_min, d_max + 1)])
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
    phased = padded[taps[:, :, None, None], taps[None, None, :, :]]  # (D, s, D, s, out, in)
    size = taps.shape[0]
    phased = phased.transpose(0, 2, 5, 1, 3, 4).reshape(size, size, -1, s * s * c_out)

    b, h, w, _ = x.shape
    out_h, out_w = (h - 1) * s - 2 * p + k + extra, (w - 1) * s - 2 * p + k + extra
    rows, cols = -(-out_h // s), -(-out_w // s)  # Phase outputs per axis, rounded up.
    y = jax.lax.conv_general_dilated(
        x, phased, (1, 1), ((-d_min, rows - h + d_max), (-d_min, cols - w + d_max)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = y.reshape(b, rows, cols, s, s, c_out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(b, rows * s, cols * s, c_out)[:, :out_h, :out_w] + bias


class ResidualBottleneck(nn.Module):
  """x + branch(x), branch = 1x1 to C/2, act, 3x3, act, 1x1 back to C (ELIC's block).

  Convs are named `branch_{0,2,4}` as in the PyTorch Sequential.
  """
  activation: Callable = jax.nn.relu

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C) -> (B, H, W, C)."""
    channels = x.shape[-1]
    out = self.activation(Conv2d(channels // 2, 1, name="branch_0")(x))
    out = self.activation(Conv2d(channels // 2, 3, name="branch_2")(out))
    return x + Conv2d(channels, 1, name="branch_4")(out)


class AttentionBlock(nn.Module):
  """compressai's simplified attention (Cheng et al. 2020, "Learned Image Compression
  with Discretized Gaussian Mixture Likelihoods and Attention Modules"):
  x + a(x) * sigmoid(b(x)), a = three residual units, b = three residual units and a
  1x1 conv. A residual unit is relu(x + (1x1 to C/2, relu, 3x3, relu, 1x1 to C)(x)).

  Names follow compressai: `conv_a_{0,1,2}/conv_{0,2,4}`, `conv_b_{0,1,2}/...`, `conv_b_3`.
  """

  @nn.compact
  def __call__(self, x):
    """x: (B, H, W, C) -> (B, H, W, C)."""
    channels = x.shape[-1]

    def residual_unit(h, name):
      stack = ConvStack((channels // 2, channels // 2, channels), (1, 3, 1), "conv",
                        activation=jax.nn.relu, name=name)
      return jax.nn.relu(h + stack(h))

    a = b = x
    for k in range(3):
      a = residual_unit(a, f"conv_a_{k}")
      b = residual_unit(b, f"conv_b_{k}")
    b = Conv2d(channels, 1, name="conv_b_3")(b)
    return x + a * jax.nn.sigmoid(b)


class Sequential(nn.Module):
  """Layers applied in order, the k-th named `<prefix>_k`, as items of a PyTorch
  nn.Sequential are named by their index.

  layers: a tuple of layer factories, each called as `layer(name=...)` to make the
  module (e.g. `functools.partial(Conv2d, 192, 5, 2)`); a model's layer list can so be
  read side by side with the original and each item built alone in tests.
  """
  layers: tuple
  prefix: str

  @nn.compact
  def __call__(self, x):
    return apply_layers([layer(name=f"{self.prefix}_{k}") for k, layer in enumerate(self.layers)],
                        x)
