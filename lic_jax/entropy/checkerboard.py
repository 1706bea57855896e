"""Checkerboard split of a latent into anchors and non-anchors (He et al., CVPR 2021).

Anchors sit where (row + col) is odd and are coded first; non-anchors, where it is
even, are coded second with the decoded anchors as spatial context.

    row 0:  n a n a ...
    row 1:  a n a n ...

Tensors are NHWC. "Squeezed" halves keep only one kind of position per row, so they
are (B, H, W/2, C); W must be even.
"""
import jax.numpy as jnp


def anchor_mask(height, width, dtype=jnp.float32):
  """(H, W, 1) mask, 1 at anchor positions."""
  rows = jnp.arange(height)[:, None]
  cols = jnp.arange(width)[None, :]
  return ((rows + cols) % 2 == 1).astype(dtype)[..., None]


def anchor(y):
  """y with non-anchor positions zeroed. y: (B, H, W, C)."""
  return y * anchor_mask(y.shape[1], y.shape[2], y.dtype)


def nonanchor(y):
  """y with anchor positions zeroed. y: (B, H, W, C)."""
  return y * (1 - anchor_mask(y.shape[1], y.shape[2], y.dtype))


def _squeeze(y, even_row_offset):
  # Even rows keep columns offset::2, odd rows keep the other parity.
  b, h, w, c = y.shape
  pairs = y.reshape(b, h, w // 2, 2, c)
  rows_even = pairs[:, :, :, even_row_offset]
  rows_odd = pairs[:, :, :, 1 - even_row_offset]
  is_odd_row = (jnp.arange(h) % 2 == 1)[None, :, None, None]
  return jnp.where(is_odd_row, rows_odd, rows_even)


def _unsqueeze(y_half, even_row_offset):
  b, h, w2, c = y_half.shape
  is_odd_row = (jnp.arange(h) % 2 == 1)[None, :, None, None]
  in_first_slot = is_odd_row == (even_row_offset == 1)
  first = jnp.where(in_first_slot, y_half, 0)
  second = jnp.where(in_first_slot, 0, y_half)
  return jnp.stack([first, second], axis=3).reshape(b, h, 2 * w2, c)


def squeeze_anchor(y):
  """(B, H, W, C) -> (B, H, W/2, C): the anchor values, row by row."""
  return _squeeze(y, 1)


def squeeze_nonanchor(y):
  """(B, H, W, C) -> (B, H, W/2, C): the non-anchor values, row by row."""
  return _squeeze(y, 0)


def unsqueeze_anchor(y_half):
  """Inverse of `squeeze_anchor`; non-anchor positions are zero."""
  return _unsqueeze(y_half, 1)


def unsqueeze_nonanchor(y_half):
  """Inverse of `squeeze_nonanchor`; anchor positions are zero."""
  return _unsqueeze(y_half, 0)
