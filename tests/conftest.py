"""Shared test fixtures: the PyTorch reference data in ../shared/reference.

Set LIC_JAX_REFERENCE to use another folder. Without the folder, tests that need it
are skipped with the reason, except under CI (CI=true), where that is a failure.
"""
import functools
import os
import threading
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_DIR = os.environ.get("LIC_JAX_REFERENCE",
                               os.path.join(REPO, os.pardir, "shared", "reference"))

# The suite compiles many graphs and runs each a few times: trade run speed for
# compile speed (about 3x faster to compile, about 2x slower to run). Numerics stay
# float32 IEEE; parity tolerances hold either way.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_backend_optimization_level=0").strip()

# Tests compile the same small models again and again (also in CLI subprocesses):
# share the compiled programs through one cache folder per machine.
os.environ.setdefault("LIC_JAX_CACHE", os.path.join(REPO, ".cache", "xla"))


def pytest_configure(config):
  import lic_jax
  lic_jax.enable_compilation_cache()


# The converted small fixture models: name -> arch.
FIXTURES = {"mlicpp_small": "mlicpp", "mlicpp_old_small": "mlicpp-old", "elic_small": "elic"}


def reference_path(name):
  """Path of a file in the reference folder; skips (or fails under CI) if absent."""
  path = os.path.join(REFERENCE_DIR, name)
  if not os.path.exists(path):
    message = (f"reference file {path} is missing: put the PyTorch fixtures in "
               "../shared/reference or point LIC_JAX_REFERENCE at them")
    if os.environ.get("CI", "").lower() == "true":
      pytest.fail(message)
    pytest.skip(message)
  return path


@functools.lru_cache(maxsize=None)
def _npz(name):
  return dict(np.load(reference_path(f"{name}_outputs.npz")))


def reference_outputs(name):
  """The recorded tensors of fixture `name` as a dict of numpy arrays (NCHW)."""
  return _npz(name)


def nhwc(array):
  """NCHW fixture tensor -> NHWC."""
  return np.asarray(array).transpose(0, 2, 3, 1)


@functools.lru_cache(maxsize=None)
def _state_dict(name):
  from lic_jax import conversion
  return conversion.load_torch_state_dict(reference_path(f"{name}.pth.tar"))


def state_dict(name):
  """The fixture checkpoint's state dict as numpy arrays (a fresh dict each call)."""
  return dict(_state_dict(name))


@functools.lru_cache(maxsize=None)
def converted(name):
  """(arch, config, params, tables) of a fixture checkpoint."""
  from lic_jax import conversion
  return conversion.convert_state_dict(state_dict(name))


def stored_tables(name, prefix):
  """The CDF Tables a fixture checkpoint holds under `entropy_bottleneck` or
  `gaussian_conditional`."""
  from lic_jax.entropy import cdf as cdf_tables
  sd = _state_dict(name)
  return cdf_tables.CDFTables(*(sd[f"{prefix}._{k}"]
                                for k in ("quantized_cdf", "cdf_length", "offset")))


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
  """name -> directory of the converted fixture model, written once per session."""
  from lic_jax import model_dir
  root = tmp_path_factory.mktemp("models")
  dirs = {}

  def get(name):
    if name not in dirs:
      arch, config, params, tables = converted(name)
      dirs[name] = str(root / name)
      model_dir.save(dirs[name], arch, config, params, tables)
    return dirs[name]
  return get


@functools.lru_cache(maxsize=None)
def _codec(path):
  import lic_jax
  return lic_jax.load_model(path)


@pytest.fixture(scope="session")
def codecs(model_dirs):
  """name -> loaded Codec of the converted fixture (cached for the session)."""
  return lambda name: _codec(model_dirs(name))


def bounded(fn, seconds):
  """(fn(), seconds taken), run in a daemon thread so that a hang fails the test
  instead of stalling the suite."""
  box = {}

  def run():
    start = time.perf_counter()
    try:
      box["value"] = fn()
    except BaseException as e:  # noqa: BLE001 - handed back below
      box["error"] = e
    box["seconds"] = time.perf_counter() - start
  thread = threading.Thread(target=run, daemon=True)
  thread.start()
  thread.join(seconds)
  assert not thread.is_alive(), f"still running after {seconds} s"
  if "error" in box:
    raise box["error"]
  return box["value"], box["seconds"]

# ---- eval.py and lic_jax.evaluation (tests/test_eval*.py) --------------------------

# Three photos of different sizes that all pad to 128x192: one compile for the session.
PHOTOS = {"a_128x192.png": (128, 192), "b_96x160.png": (96, 160), "c_71x133.png": (71, 133)}


def run_eval(capsys, *argv):
  """(exit status, stdout, stderr) of eval.py's main."""
  import sys
  sys.path.insert(0, REPO)
  import eval as eval_cli  # the CLI at the repository root
  status = eval_cli.main([str(a) for a in argv] + ["--no-progress"])
  out, err = capsys.readouterr()
  return status, out, err


def assert_clean_error(status, err, *phrases):
  """eval.py failed with one clear line, no traceback, naming each of `phrases`."""
  assert status == 1
  assert "Traceback" not in err
  assert err.strip().splitlines()[-1].startswith("eval.py: error: ")
  for phrase in phrases:
    assert phrase in err, err


def gradient_image(h, w, seed):
  i, j = np.mgrid[:h, :w]
  return np.stack([(i * 255 // h + seed) % 256, (j * 255 // w) % 256,
                   ((i + j) * 7 + 31 * seed) % 256], axis=-1).astype(np.uint8)


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
  """A folder of three photos of different sizes, cut from the reference picture."""
  from lic_jax import image_io
  source, _ = image_io.read_image(reference_path("mlicpp_small_input.png"))  # 128x192
  folder = tmp_path_factory.mktemp("photos")
  # Crops and flips only (no resampling), so the pixels, and the golden numbers
  # below, do not depend on the Pillow version.
  crops = {"a_128x192.png": source, "b_96x160.png": source[20:116, 16:176],
           "c_71x133.png": source[29:100, 40:173][::-1, ::-1]}
  for name, image in crops.items():
    assert image.shape[:2] == PHOTOS[name]
    image_io.write_png(str(folder / name), image)
  return str(folder)
