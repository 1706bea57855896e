"""Raster-causal context (Minnen et al. 2018): the mask of a k x k context model and
the wavefront order that decodes it in about 3h + w steps instead of h * w.

A position's context is the k x k window around it, cut to the positions before it
in raster order (mask type A: the rows above, and the left part of its own row):

    k = 5:  1 1 1 1 1
            1 1 1 1 1
            1 1 . 0 0
            0 0 0 0 0
            0 0 0 0 0

With p = k // 2, a context position (r - a, c + b) has a >= 1 and b <= p, or a = 0
and b < 0; so s*r + c with s = p + 1 is larger at (r, c) than at any position of its
context. All positions with the same t = s*r + c (a "wave") are then independent of
each other and can be decoded together, once every earlier wave is: s*(h - 1) + w
waves in all when w >= s (141 for a 32 x 48 latent, a 768 x 512 image, at k = 5).
"""
import functools

import numpy as np


def mask(kernel_size):
  """(k, k) float32: 1 on the causal part of the window (type A, centre excluded)."""
  k = kernel_size
  m = np.zeros((k, k), np.float32)
  m[:k // 2] = 1
  m[k // 2, :k // 2] = 1
  return m


def causal_offsets(kernel_size):
  """The window positions (i, j) of the mask's ones, row by row; (i, j) is the
  context position (r + i - p, c + j - p) of (r, c)."""
  return tuple(zip(*np.nonzero(mask(kernel_size))))


def slope(kernel_size):
  """s of the wave index t = s*r + c."""
  return kernel_size // 2 + 1


@functools.lru_cache(maxsize=32)
def waves(height, width, kernel_size):
  """The wavefront schedule of a height x width latent: (rows, cols, counts).

  rows, cols: (T, K) int32, wave t's positions by increasing row, padded to the
  largest wave K with row = height (out of range: gathers clamp it, scatters drop
  it); counts: (T,) how many of wave t's K are real.
  """
  s = slope(kernel_size)
  members = [[] for _ in range(s * (height - 1) + width)]
  for r in range(height):
    for c in range(width):
      members[s * r + c].append((r, c))
  members = [m for m in members if m]  # Latents narrower than s leave gaps.
  num_waves = len(members)
  size = max(len(m) for m in members)
  rows = np.full((num_waves, size), height, np.int32)
  cols = np.zeros((num_waves, size), np.int32)
  for t, positions in enumerate(members):
    for k, (r, c) in enumerate(positions):
      rows[t, k], cols[t, k] = r, c
  counts = np.array([len(m) for m in members], np.int32)
  for array in (rows, cols, counts):
    array.flags.writeable = False  # Cached and shared.
  return rows, cols, counts
