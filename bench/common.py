"""Shared by the benchmark scripts: a full-size model with random weights, the
PyTorch fixtures (../shared/reference, or $LIC_JAX_REFERENCE), timing."""
import dataclasses
import os
import resource
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
REFERENCE_DIR = os.environ.get("LIC_JAX_REFERENCE",
                               os.path.join(REPO, os.pardir, "shared", "reference"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lic_jax.codec import Codec  # noqa: E402
from lic_jax.entropy.factorized import EntropyBottleneck  # noqa: E402
from lic_jax.models import registry  # noqa: E402
from lic_jax.latent import tables as latent_tables  # noqa: E402
from lic_jax.training import trainer  # noqa: E402


def random_params(model, seed=0):
  """Host params with the init's tree and shapes, N(0, 1/fan_in) entries, drawn with
  numpy: compiling the init of a full-size model takes minutes on CPU, and running it
  op by op leaves a gigabyte of small executables behind. The entropy bottlenecks get
  their own init, as their quantiles set the z tables.
  """
  shapes = trainer.param_shapes(model)
  rng = np.random.default_rng(seed)

  def draw(leaf):
    fan_in = max(1, int(np.prod(leaf.shape[:-1])))
    return rng.normal(0, fan_in ** -0.5, leaf.shape).astype(leaf.dtype)
  params = jax.tree_util.tree_map(draw, shapes)
  for name in model.latent_codec.factorized_modules():
    bottleneck = EntropyBottleneck(shapes[name]["quantiles"].shape[0])
    params[name] = jax.device_get(bottleneck.init(jax.random.PRNGKey(seed))["params"])
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
  tables = latent_tables.model_table_arrays(model, params)
  return Codec(arch, model.config, params, tables, "0" * 16)


def converted_codec(path):
  """A Codec of a PyTorch checkpoint (e.g. the calibrated weights that
  bench/compressai_codec.py --save-weights wrote), converted as convert.py does."""
  from lic_jax import conversion, model_dir
  state_dict = conversion.load_torch_state_dict(path)
  arch, config, params, tables = conversion.convert_state_dict(state_dict)
  return Codec(arch, config, params, tables,
               model_dir.model_hash(arch, dataclasses.asdict(config), params))


def reference_file(name):
  """The path of a file of the PyTorch fixtures; FileNotFoundError saying where."""
  path = os.path.join(REFERENCE_DIR, name)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} is missing: put the PyTorch fixtures in "
                            "../shared/reference or point LIC_JAX_REFERENCE at them")
  return path


def converted_fixture(name):
  """(arch, config, params, tables) of fixture `name` (e.g. "elic_small")."""
  from lic_jax import conversion
  state_dict = conversion.load_torch_state_dict(reference_file(f"{name}.pth.tar"))
  return conversion.convert_state_dict(state_dict)


def reference_outputs(name):
  """The recorded tensors of fixture `name` (NCHW numpy arrays)."""
  with np.load(reference_file(f"{name}_outputs.npz")) as npz:
    return dict(npz)


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
