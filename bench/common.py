"""Shared by the benchmark scripts: a full-size model with random weights, timing."""
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lic_jax import models  # noqa: E402
from lic_jax.codec import Codec  # noqa: E402
from lic_jax.entropy import gaussian, tables  # noqa: E402

FULL_CONFIGS = {
    "mlicpp": {"N": 192, "M": 320, "slice_num": 10},
    "mlicpp-old": {"N": 192, "M": 320, "slice_num": 10, "old": True},
    "elic": {"N": 192, "M": 320, "slice_widths": (16, 16, 32, 64, 192)},
}


def random_codec(arch, seed=0):
  """A full-size Codec with random weights and tables computed from them.

  Speed does not depend on the weights' values; rates do (random weights give a few
  bpp, more symbols than trained weights, so coding times are an upper bound).
  """
  config = FULL_CONFIGS[arch]
  model = models.build(arch, config)
  # Op by op: compiling the whole init graph of a full-size model takes minutes.
  with jax.disable_jit():
    params = model.init(jax.random.PRNGKey(seed), np.zeros((1, 64, 64, 3), np.float32))
  params = jax.device_get(params["params"])
  z_tables = tables.factorized_tables(params["entropy_bottleneck"])
  scale_table = gaussian.default_scale_table()
  y_tables = tables.gaussian_tables(scale_table)
  table_dict = {"z_quantized_cdf": z_tables.quantized_cdf, "z_cdf_length": z_tables.cdf_length,
                "z_offset": z_tables.offset, "y_quantized_cdf": y_tables.quantized_cdf,
                "y_cdf_length": y_tables.cdf_length, "y_offset": y_tables.offset,
                "y_scale_table": scale_table}
  return Codec(arch, config, params, table_dict, "0" * 16)


def test_image(height=512, width=768, seed=0):
  """A smooth random 8-bit RGB image (uint8, (H, W, 3))."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (height // 32 + 1, width // 32 + 1, 3))
  image = np.kron(coarse, np.ones((32, 32, 1)))[:height, :width]
  return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def timed(fn, runs):
  """(first call seconds, median of `runs` later calls, all later times)."""
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return first, statistics.median(times), times


def peak_rss_gib():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def machine():
  return f"{os.cpu_count()} CPU cores visible, JAX {jax.__version__} on {jax.devices()[0].platform}"
