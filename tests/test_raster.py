"""The raster-causal context: the mask, the wavefront schedule
(`lic_jax.entropy.raster`) and the masked conv at chosen positions
(`lic_jax.nn.layers.MaskedConv2d`), which wavefront coding relies on."""
import jax
import numpy as np
import pytest

from lic_jax.entropy import raster
from lic_jax.nn.layers import MaskedConv2d


def test_mask_is_type_a():
  """The rows above and the left part of the own row; the centre excluded."""
  np.testing.assert_array_equal(raster.mask(5), [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1],
                                                 [1, 1, 0, 0, 0], [0] * 5, [0] * 5])
  assert len(raster.causal_offsets(5)) == 12
  assert raster.mask(3).sum() == 4


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("height, width", [(1, 1), (1, 9), (9, 1), (5, 7), (8, 12), (13, 4)])
def test_waves_visit_each_position_once_after_its_context(height, width, kernel_size):
  rows, cols, counts = raster.waves(height, width, kernel_size)
  s = raster.slope(kernel_size)
  assert len(counts) == (s * (height - 1) + width if width >= s else height * width)
  wave_of = np.full((height, width), -1)
  for t, count in enumerate(counts):
    assert count >= 1  # No empty step.
    assert np.all(rows[t, count:] == height)  # Padding: out of range, dropped on scatter.
    for r, c in zip(rows[t, :count], cols[t, :count]):
      assert wave_of[r, c] == -1, f"({r}, {c}) visited twice"
      wave_of[r, c] = t
  assert np.all(wave_of >= 0), "positions never visited"
  p = kernel_size // 2
  for r in range(height):
    for c in range(width):
      for i, j in raster.causal_offsets(kernel_size):
        rr, cc = r + i - p, c + j - p
        if 0 <= rr < height and 0 <= cc < width:
          assert wave_of[rr, cc] < wave_of[r, c], ((r, c), (rr, cc))


def test_a_768x512_image_takes_141_steps():
  """y of a 768x512 image is 32 x 48: 3 * 32 + 48 - 3 waves instead of 1,536 positions."""
  rows, cols, counts = raster.waves(32, 48, 5)
  assert len(counts) == 141 and counts.sum() == 32 * 48 and rows.shape[1] == 16


def test_masked_conv_at_positions_equals_the_whole_conv():
  """Outputs at chosen positions (from the causal taps alone) are the full masked
  conv's there; weights in the masked-out taps change nothing."""
  conv = MaskedConv2d(6, 5)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 9, 4))
  params = conv.init(jax.random.PRNGKey(1), x)
  full = conv.apply(params, x)
  rows, cols, counts = raster.waves(7, 9, 5)
  for t in (0, 5, len(counts) - 1):
    n = counts[t]
    at = conv.apply(params, x, rows[t], cols[t])
    assert at.shape == (2, rows.shape[1], 1, 6)
    np.testing.assert_allclose(at[:, :n, 0], full[:, rows[t, :n], cols[t, :n]],
                               rtol=1e-5, atol=1e-5)
  noise = jax.random.normal(jax.random.PRNGKey(2), (5, 5, 4, 6))
  kernel = params["params"]["kernel"] + noise * (1 - raster.mask(5))[:, :, None, None]
  unmasked = {"params": {**params["params"], "kernel": kernel}}
  np.testing.assert_array_equal(conv.apply(unmasked, x), full)
  np.testing.assert_array_equal(conv.apply(unmasked, x, rows[5], cols[5]),
                                conv.apply(params, x, rows[5], cols[5]))


def test_context_depends_only_on_earlier_positions():
  """Changing x at one position changes the masked conv's output only at positions
  after it in raster order."""
  conv = MaskedConv2d(3, 5)
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 6, 8, 2))
  params = conv.init(jax.random.PRNGKey(1), x)
  changed = conv.apply(params, x.at[0, 2, 3].add(1.0)) != conv.apply(params, x)
  where = np.argwhere(np.asarray(changed).any(-1)[0])
  assert len(where) and all(r * 8 + c > 2 * 8 + 3 for r, c in where)
