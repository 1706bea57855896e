"""CDF tables: the quantizer's invariants, and equality with the checkpoints' tables."""
import re

import numpy as np
import pytest

from conftest import reference_path, state_dict, stored_tables
from lic_jax.entropy import cdf as cdf_tables
from lic_jax.entropy import gaussian

FIXTURES = ("mlicpp_small", "mlicpp_old_small", "elic_small")


def eb_params(name):
  """The entropy bottleneck's parameters under lic_jax's names (matrix_k, ...)."""
  params = {}
  for key, value in state_dict(name).items():
    match = re.fullmatch(r"entropy_bottleneck\._(matrix|bias|factor)(\d+)", key)
    if match:
      params[f"{match[1]}_{match[2]}"] = value
  params["quantiles"] = state_dict(name)["entropy_bottleneck.quantiles"]
  return params


def reference_quantized_cdf(pmf, precision=16):
  """Literal transcription of CompressAI's C++ loop, O(n^2), to check the fast one."""
  counts = [int(np.floor(np.float64(p) * (1 << precision) + 0.5))
            for p in np.asarray(pmf, np.float32)]
  total = sum(counts)
  cdf = [0] + [((1 << precision) * c) // total for c in counts]
  cdf = list(np.cumsum(cdf))
  cdf[-1] = 1 << precision
  for i in range(len(cdf) - 1):
    if cdf[i] == cdf[i + 1]:
      best_freq, best = None, -1
      for j in range(len(cdf) - 1):
        freq = cdf[j + 1] - cdf[j]
        if freq > 1 and (best_freq is None or freq < best_freq):
          best_freq, best = freq, j
      if best < i:
        for j in range(best + 1, i + 1):
          cdf[j] -= 1
      else:
        for j in range(i + 1, best + 1):
          cdf[j] += 1
  return np.array(cdf)


def assert_valid_cdf(cdf, n):
  assert cdf.dtype == np.int32 and cdf.shape == (n + 1,)
  assert cdf[0] == 0 and cdf[-1] == 1 << 16
  assert np.all(np.diff(cdf) >= 1), "every bin must keep a nonzero frequency"


def test_exact_dyadic_pmf():
  np.testing.assert_array_equal(cdf_tables.pmf_to_quantized_cdf([0.5, 0.25, 0.25]),
                                [0, 32768, 49152, 65536])


@pytest.mark.parametrize("seed", range(20))
def test_matches_literal_cpp_loop_on_random_pmfs(seed):
  rng = np.random.default_rng(seed)
  n = int(rng.integers(2, 300))
  # Peaked pmfs with many bins too small for one count: the stealing path.
  pmf = np.exp(-0.5 * (np.arange(n) - n / 2) ** 2 / rng.uniform(0.2, n / 4) ** 2)
  pmf[rng.random(n) < 0.1] = 0.0
  pmf[rng.random(n) < 0.1] = 1e-12
  pmf = (pmf / pmf.sum()).astype(np.float32)
  pmf[-1] = 1e-9  # tail mass, as the callers append it
  cdf = cdf_tables.pmf_to_quantized_cdf(pmf)
  assert_valid_cdf(cdf, n)
  np.testing.assert_array_equal(cdf, reference_quantized_cdf(pmf))


def test_tiny_and_zero_probabilities_stay_encodable():
  pmf = np.array([1e-30, 0.0, 1.0, 0.0, 1e-12, 0.0], np.float32)
  cdf = cdf_tables.pmf_to_quantized_cdf(pmf)
  assert_valid_cdf(cdf, len(pmf))
  assert np.diff(cdf)[2] == (1 << 16) - 5  # the five others got one count each


@pytest.mark.parametrize("pmf", [[0.5, -0.1], [np.nan, 1.0], [0.0, 0.0], [1e-9, 1e-9], []])
def test_rejects_invalid_pmf(pmf):
  with pytest.raises(ValueError):
    cdf_tables.pmf_to_quantized_cdf(pmf)


@pytest.mark.parametrize("name", FIXTURES)
def test_gaussian_tables_equal_stored(name):
  stored = stored_tables(name, "gaussian_conditional")
  scale_table = state_dict(name)["gaussian_conditional.scale_table"]
  computed = cdf_tables.gaussian_tables(scale_table)
  np.testing.assert_array_equal(computed.offset, stored.offset)
  np.testing.assert_array_equal(computed.cdf_length, stored.cdf_length)
  np.testing.assert_array_equal(computed.quantized_cdf, stored.quantized_cdf)


@pytest.mark.parametrize("name", FIXTURES)
def test_factorized_tables_equal_stored(name):
  """Exact. The elementwise float32 ops must be rounded like torch's (see cdf.py):
  with numpy's own float32 exp/tanh, rows 24 and 31 differ, each because one count
  sits within 0.002 of a .5 rounding boundary and the row's total changes by one."""
  stored = stored_tables(name, "entropy_bottleneck")
  computed = cdf_tables.factorized_tables(eb_params(name))
  np.testing.assert_array_equal(computed.offset, stored.offset)
  np.testing.assert_array_equal(computed.cdf_length, stored.cdf_length)
  np.testing.assert_array_equal(computed.quantized_cdf, stored.quantized_cdf)


ZOO_CHECKPOINTS = [f"compressai/{arch}_small.pth.tar"
                   for arch in ("bmshj2018_hyperprior", "mbt2018_mean", "mbt2018", "cheng2020_anchor")]


@pytest.mark.parametrize("path", [f"{name}.pth.tar" for name in FIXTURES] + ZOO_CHECKPOINTS)
def test_default_scale_table_and_its_tables_are_compressais(path):
  """The scale table of a model trained here is compressai's to the bit (torch's
  float32 linspace and exp), so are the Gaussian CDF tables computed from it: a
  decoder with the stored tables of a converted checkpoint and one that recomputes
  them agree."""
  from lic_jax import conversion
  sd = conversion.load_torch_state_dict(reference_path(path))
  ours = gaussian.default_scale_table()
  np.testing.assert_array_equal(ours.view(np.int32), sd["gaussian_conditional.scale_table"].view(np.int32))
  computed = cdf_tables.gaussian_tables(ours)
  for name, value in (("quantized_cdf", computed.quantized_cdf),
                      ("cdf_length", computed.cdf_length), ("offset", computed.offset)):
    np.testing.assert_array_equal(value, sd[f"gaussian_conditional._{name}"], err_msg=name)
