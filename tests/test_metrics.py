"""PSNR and MS-SSIM: equal to pytorch_msssim on stored vectors, batched,
differentiable (usable as a training loss)."""
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lic_jax import metrics

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# |JAX float32 - pytorch_msssim float64| on the vectors is at most 6.3e-7; the
# float32 reference itself is 3e-7 from its float64 value.
TOLERANCE = 2e-6


def _vectors_module():
  spec = importlib.util.spec_from_file_location(
      "make_msssim_vectors", os.path.join(DATA, "make_msssim_vectors.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


VECTORS = _vectors_module()
CASES = VECTORS.cases()
EXPECTED = dict(np.load(os.path.join(DATA, "msssim_vectors.npz")))


@pytest.mark.parametrize("name", sorted(CASES))
def test_ms_ssim_matches_pytorch_msssim(name):
  x, y, data_range = CASES[name]
  got = np.asarray(metrics.ms_ssim(x, y, data_range))
  want = EXPECTED[f"{name}/float64"]
  assert got.shape == want.shape == (x.shape[0],)
  np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
  # The float32 reference is within the same tolerance: the gap is rounding only.
  np.testing.assert_allclose(got, EXPECTED[f"{name}/float32"], rtol=0, atol=TOLERANCE)


def test_vectors_cover_both_size_regimes():
  sizes = {name: x.shape[1:3] for name, (x, _, _) in CASES.items()}
  assert any(metrics.is_standard_size(*s) for s in sizes.values())
  assert any(not metrics.is_standard_size(*s) for s in sizes.values())
  assert any(s[0] % 2 and s[1] % 2 for s in sizes.values())  # odd sizes: padded pooling


def test_identical_images():
  x, _, _ = CASES["noise_176x184_range255"]
  np.testing.assert_allclose(metrics.ms_ssim(x, x, 255.0), [1.0], atol=1e-6)
  x8 = x.astype(np.uint8)
  assert metrics.mse_uint8(x8, x8) == 0 and metrics.psnr(0.0, 255) == float("inf")
  assert metrics.ms_ssim_db(1.0) == float("inf")


def test_batch_equals_single_images():
  x, y, data_range = CASES["blockmean_161x203_batch2"]
  batch = np.asarray(metrics.ms_ssim(x, y, data_range))
  singles = np.float32([metrics.ms_ssim(x[i:i + 1], y[i:i + 1], data_range)[0]
                        for i in range(2)])
  # The same float32 arithmetic, but XLA may reduce a batch of two in another order
  # than one image (newer XLA does: JAX 0.10 differs by 2 ulps, 1.2e-7, at 0.96; JAX
  # 0.5.3 by none). Float noise, so the bound is in float32 ulps at the value (one
  # ulp is 6e-8 here), not the absolute 1e-7 that held on one XLA's order.
  np.testing.assert_array_max_ulp(batch, singles, maxulp=2)


# 1 - MS-SSIM as a training loss and its gradient in y, compiled once for both tests.
LOSS_AND_GRAD = jax.jit(jax.value_and_grad(lambda x, y: 1 - jnp.mean(metrics.ms_ssim(x, y)),
                                           argnums=1))


def test_gradient_is_finite_and_improves_the_score():
  """1 - MS-SSIM as a loss: finite gradients, and a small step along them helps."""
  x, y, _ = CASES["tiny_33x47"]
  x, y = x / 255, y / 255
  value, grad = LOSS_AND_GRAD(x, y)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  better, _ = LOSS_AND_GRAD(x, y - 1e-3 * grad / jnp.abs(grad).max())
  assert better < value


def test_gradient_is_finite_where_relu_clips():
  """Anti-correlated images drive contrast terms below zero, where the ReLU
  clips them: the gradient must be 0 there, not NaN (0 ** weight)."""
  x, _, _ = CASES["tiny_33x47"]
  x = x / 255
  value, grad = LOSS_AND_GRAD(x, 1 - x)
  assert float(value) == 1.0  # MS-SSIM 0: a clipped scale zeroes the product
  assert np.all(np.isfinite(grad))


def test_works_under_jit_and_vmap_free_batching():
  x, y, data_range = CASES["noise_176x184_range1"]
  loss = jax.jit(lambda a, b: 1 - metrics.ms_ssim(a, b, data_range).mean())
  np.testing.assert_allclose(loss(x, y), 1 - EXPECTED["noise_176x184_range1/float64"],
                             atol=TOLERANCE)


def test_rejects_bad_shapes():
  x = np.zeros((1, 32, 32, 3), np.float32)
  with pytest.raises(ValueError, match="one shape"):
    metrics.ms_ssim(x, x[:, :16])
  with pytest.raises(ValueError, match="one shape"):
    metrics.ms_ssim(x[0], x[0])


def test_psnr_of_8_bit_images_is_exact():
  rng = np.random.default_rng(0)
  a = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
  b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
  diff = a.astype(np.int64) - b
  mse = metrics.mse_uint8(a, b)
  assert mse == int(np.sum(diff * diff)) / a.size  # one rounding of the exact ratio
  value = metrics.psnr(mse, 255)
  assert isinstance(value, float)
  assert value == pytest.approx(10 * np.log10(255 ** 2 / np.mean(diff ** 2.0)), abs=1e-12)
  with pytest.raises(ValueError, match="shapes"):
    metrics.mse_uint8(a, b[:-1])


def test_psnr_of_jax_and_numpy_mse():
  """One definition for training (jax, also under jit) and reports (numpy, float64)."""
  mse = np.array([0.01, 0.001, 0.0])
  np.testing.assert_allclose(metrics.psnr(mse), [20.0, 30.0, np.inf], rtol=1e-15)
  assert metrics.psnr(0.0) == float("inf")
  assert metrics.psnr(255.0 ** 2 / 100, 255.0) == pytest.approx(20.0, abs=1e-12)
  traced = jax.jit(metrics.psnr)(jnp.asarray(mse, jnp.float32))
  assert isinstance(traced, jax.Array) and traced.dtype == jnp.float32
  np.testing.assert_allclose(traced, [20.0, 30.0, np.inf], rtol=1e-6)
  np.testing.assert_allclose(metrics.psnr(jnp.float32(255.0 ** 2 / 1000), 255.0), 30.0,
                             rtol=1e-6)


def test_ms_ssim_db():
  assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)
  assert metrics.ms_ssim_db(0.9) == pytest.approx(10.0)
