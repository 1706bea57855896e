"""Layers that compute a PyTorch op another way than the obvious XLA call, checked
against PyTorch itself over the shapes and settings the op allows (the model tests
only reach the settings the models use)."""
import jax.numpy as jnp
import numpy as np
import pytest

from lic_jax.nn.layers import Conv2d, ConvTranspose2d, DepthwiseConv2d

# PyTorch is the oracle: each test imports torch itself, so that this module still
# imports (and is deselected with -m 'not torch') where torch is absent.
pytestmark = pytest.mark.torch


@pytest.mark.parametrize("kernel, stride, padding, output_padding, height, width", [
    (5, 2, None, None, 6, 7),  # ELIC's deconv: output exactly twice the input.
    (3, 1, None, None, 5, 4),  # ELIC's last h_s layer.
    (4, 2, 1, 0, 5, 6),
    (3, 2, 1, 0, 4, 5),  # Output 2H - 1: an odd length, cropped from the phases.
    (5, 3, 2, 2, 4, 3),
    (3, 2, 0, 1, 3, 3),  # Output longer than 2H.
])
def test_conv_transpose_matches_pytorch(kernel, stride, padding, output_padding, height,
                                        width):
  import torch
  rng = np.random.default_rng(kernel * 100 + stride * 10 + height)
  weight = rng.normal(size=(3, 4, kernel, kernel)).astype(np.float32)  # (in, out, kh, kw)
  bias = rng.normal(size=4).astype(np.float32)
  x = rng.normal(size=(2, 3, height, width)).astype(np.float32)
  pad = kernel // 2 if padding is None else padding
  extra = stride - 1 if output_padding is None else output_padding
  expected = torch.nn.functional.conv_transpose2d(
      torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias), stride=stride,
      padding=pad, output_padding=extra).numpy().transpose(0, 2, 3, 1)
  layer = ConvTranspose2d(4, kernel, stride, padding, output_padding)
  params = {"params": {"kernel": jnp.asarray(weight.transpose(2, 3, 1, 0)),
                       "bias": jnp.asarray(bias)}}
  out = np.asarray(layer.apply(params, jnp.asarray(x.transpose(0, 2, 3, 1))))
  assert out.shape == expected.shape
  np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernel, padding", [(3, 1), (5, 2), (3, 0)])
def test_depthwise_conv_matches_pytorch(kernel, padding):
  import torch
  rng = np.random.default_rng(kernel + padding)
  channels = 6
  weight = rng.normal(size=(channels, 1, kernel, kernel)).astype(np.float32)
  bias = rng.normal(size=channels).astype(np.float32)
  x = rng.normal(size=(2, channels, 7, 9)).astype(np.float32)
  expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight),
                                        torch.from_numpy(bias), padding=padding,
                                        groups=channels).numpy().transpose(0, 2, 3, 1)
  layer = Conv2d(channels, kernel, groups=channels, padding=padding)
  assert isinstance(layer, DepthwiseConv2d)
  params = {"params": {"kernel": jnp.asarray(weight.transpose(2, 3, 1, 0)),
                       "bias": jnp.asarray(bias)}}
  out = np.asarray(layer.apply(params, jnp.asarray(x.transpose(0, 2, 3, 1))))
  np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
