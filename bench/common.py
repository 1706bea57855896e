"""Shared by the benchmark scripts: a full-size model with random weights, timing."""
import dataclasses
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lic_jax.codec import Codec  # noqa: E402
from lic_jax.entropy.factorized import EntropyBottleneck  # noqa: E402
from lic_jax.models import registry  # noqa: E402
from lic_jax.training import checkpointing, trainer  # noqa: E402


def random_params(model, seed=0):
  """Host params with the init's tree and shapes, N(0, 1/fan_in) entries, drawn with
  numpy: compiling the init of a full-size model takes minutes on CPU, and running it
  op by op leaves a gigabyte of small executables behind. The entropy bottleneck gets
  its own init, as its quantiles set the z tables.
  """
  shapes = trainer.param_shapes(model)
  rng = np.random.default_rng(seed)

  def draw(leaf):
    fan_in = max(1, int(np.prod(leaf.shape[:-1])))
    return rng.normal(0, fan_in ** -0.5, leaf.shape).astype(leaf.dtype)
  params = jax.tree_util.tree_map(draw, shapes)
  if "entropy_bottleneck" in params:
    bottleneck = EntropyBottleneck(shapes["entropy_bottleneck"]["quantiles"].shape[0])
    params["entropy_bottleneck"] = jax.device_get(
        bottleneck.init(jax.random.PRNGKey(seed))["params"])
  return params


def random_codec(arch, preset="full", seed=0):
  """A Codec of a registered model at a preset (default: its full size) with random
  weights and the tables computed from them.

  Speed does not depend on the weights' values; rates do (random weights write far
  more symbols than trained ones, so coding times are an upper bound).
  """
  spec = registry.get(arch)
  model = spec.build(spec.make_config(preset))
  params = random_params(model, seed)
  tables = checkpointing.model_tables(model, params)
  return Codec(arch, model.config, params, tables, "0" * 16)


def converted_codec(path):
  """A Codec of a PyTorch checkpoint (e.g. the calibrated weights that
  bench/compressai_codec.py --save-weights wrote), converted as convert.py does."""
  from lic_jax import checkpoint, convert
  arch, config, params, tables = convert.convert_state_dict(convert.load_torch_state_dict(path))
  return Codec(arch, config, params, tables,
               checkpoint.model_hash(arch, dataclasses.asdict(config), params))


def photo(path, height=512, width=768):
  """A photo resized to width x height (Pillow's Lanczos), uint8 (H, W, 3): the same
  pixels as bench/compressai_codec.py --image reads."""
  from PIL import Image
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB").resize((width, height), Image.LANCZOS))


def test_image(height=512, width=768, seed=0):
  """A smooth random 8-bit RGB image (uint8, (H, W, 3))."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (height // 32 + 1, width // 32 + 1, 3))
  image = np.kron(coarse, np.ones((32, 32, 1)))[:height, :width]
  return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def timed(fn, runs, before_runs=None):
  """(first call seconds, median of `runs` later calls, all later times).

  before_runs: called between the first call and the timed ones.
  """
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  if before_runs:
    before_runs()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return first, statistics.median(times), times


def _proc_status_gib(field):
  """A memory field of /proc/self/status (Linux) in GiB."""
  with open("/proc/self/status") as status:
    for line in status:
      if line.startswith(field + ":"):
        return int(line.split()[1]) / 2 ** 20


def peak_rss_gib():
  """This process's peak resident memory (GiB) since start or `reset_peak_rss`."""
  try:
    return _proc_status_gib("VmHWM")
  except OSError:  # No /proc (not Linux): the peak since start.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def rss_gib():
  return _proc_status_gib("VmRSS")


def reset_peak_rss():
  """Restarts the peak at the current RSS (Linux), as the PyTorch anchor measured."""
  with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")


def machine():
  return f"{os.cpu_count()} CPU cores visible, JAX {jax.__version__} on {jax.devices()[0].platform}"
