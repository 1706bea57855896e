"""The transforms of Ballé et al. 2018 and Minnen et al. 2018 as CompressAI has them,
NHWC, as layer lists: the pieces that several model families share
(`lic_jax.models.balle`, `minnen`, `cheng2020` and the variable-rate models).

A list assigned in a model's `setup` keeps the activations in place, so that item k
is `<transform>.k` of the PyTorch nn.Sequential and Flax names its params
`<transform>_k` (`g_a.1.gamma` -> `g_a_1/gamma`), the rule of `lic_jax.conversion`;
`lic_jax.nn.layers.apply_layers` applies one.
"""
import functools

import jax

from lic_jax.nn.layers import GDN, Conv2d, ConvTranspose2d, MaskedConv2d

relu = jax.nn.relu
# torch.nn.LeakyReLU's default slope.
leaky_relu = functools.partial(jax.nn.leaky_relu, negative_slope=0.01)


def analysis_layers(N, M, gdn=True):
  """g_a: x (B, H, W, 3) -> y (B, H/16, W/16, M); 5x5/s2 convs, GDN between (ReLU
  with gdn False: bmshj2018-factorized-relu)."""
  between = GDN if gdn else (lambda: relu)
  return [Conv2d(N, 5, 2), between(), Conv2d(N, 5, 2), between(), Conv2d(N, 5, 2), between(),
          Conv2d(M, 5, 2)]


def synthesis_layers(N, gdn=True):
  """g_s: y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3); 5x5/s2 transposed convs
  (padding 2, output padding 1: exactly x2 each), inverse GDN between (ReLU with gdn
  False)."""
  between = (lambda: GDN(inverse=True)) if gdn else (lambda: relu)
  return [ConvTranspose2d(N, 5, 2), between(), ConvTranspose2d(N, 5, 2), between(),
          ConvTranspose2d(N, 5, 2), between(), ConvTranspose2d(3, 5, 2)]


def hyper_analysis_layers(N, activation):
  """h_a: (B, h, w, M) -> z (B, h/4, w/4, N); a 3x3/s1 conv, then two 5x5/s2."""
  return [Conv2d(N, 3, 1), activation, Conv2d(N, 5, 2), activation, Conv2d(N, 5, 2)]


def scale_hyper_synthesis_layers(N, M):
  """bmshj2018's h_s: z_hat (B, h/4, w/4, N) -> the scales of y (B, h, w, M); the
  final ReLU keeps them non-negative."""
  return [ConvTranspose2d(N, 5, 2), relu, ConvTranspose2d(N, 5, 2), relu, Conv2d(M, 3, 1), relu]


def mean_scale_hyper_synthesis_layers(M):
  """mbt2018's h_s: z_hat (B, h/4, w/4, N) -> (B, h, w, 2M), scales then means (or,
  with a context model, features for `entropy_parameters`)."""
  return [ConvTranspose2d(M, 5, 2), leaky_relu, ConvTranspose2d(M * 3 // 2, 5, 2), leaky_relu,
          Conv2d(2 * M, 3, 1)]


def context_layers(M):
  """context_prediction (a 5x5 masked conv, y -> 2M) and entropy_parameters (1x1
  convs, 4M -> 2M) with CompressAI's widths, for y of M channels."""
  entropy_parameters = [Conv2d(M * 10 // 3, 1), leaky_relu, Conv2d(M * 8 // 3, 1), leaky_relu,
                        Conv2d(M * 6 // 3, 1)]
  return MaskedConv2d(2 * M, 5), entropy_parameters
