"""Without the range coder's libraries (the `coder` extra: TensorFlow and
tensorflow-compression-ops), models still load and run, and coding a symbol says what
to install, in one line. TensorFlow is hidden here whether it is installed or not, so
this runs in both the pinned environment and the newest one (no `coder` marker)."""
import sys

import numpy as np
import pytest
from PIL import Image

import lic_jax
from lic_jax import coder
from lic_jax.__main__ import main
from lic_jax.coder import range_coder
from lic_jax.entropy import tables

MODEL = "elic_small"  # the fastest fixture to compile


@pytest.fixture
def no_tensorflow(monkeypatch):
  """`import tensorflow` (and the ops) fail as if not installed: None in sys.modules
  makes an import raise ModuleNotFoundError. The coder's cached import is dropped
  before and after, so coding tests later in the session import the real one."""
  monkeypatch.setitem(sys.modules, "tensorflow", None)
  monkeypatch.setitem(sys.modules, "tensorflow_compression_ops", None)
  range_coder._tf.cache_clear()
  yield
  range_coder._tf.cache_clear()


def small_tables():
  return tables.gaussian_tables(np.float32([0.5, 2.0]))


def assert_says_what_to_install(message):
  assert "\n" not in message
  assert "pip install 'lic_jax[coder]'" in message
  assert "tensorflow" in message.lower()


def test_getting_the_coder_needs_no_tensorflow(no_tensorflow):
  assert coder.get().name == coder.DEFAULT


@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_coding_raises_a_coder_unavailable_error(no_tensorflow, side):
  the_coder = coder.get()
  with pytest.raises(coder.CoderUnavailableError) as info:
    if side == "encoder":
      the_coder.encoder(small_tables())
    else:
      the_coder.decoder(b"\x00", small_tables())
  assert isinstance(info.value, RuntimeError)
  assert isinstance(info.value.__cause__, ImportError)  # the import's own error, chained
  assert_says_what_to_install(str(info.value))


def test_cli_compress_prints_one_line(no_tensorflow, monkeypatch, model_dirs, codecs,
                                      tmp_path, capsys):
  model, codec = model_dirs(MODEL), codecs(MODEL)  # the session's compiled codec
  monkeypatch.setattr(lic_jax, "load_model", lambda path: codec)
  source, output = tmp_path / "in.png", tmp_path / "out.lic"
  Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(source)
  assert main(["compress", "--model", model, str(source), str(output)]) == 1
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1 and err.startswith("error: "), err
  assert_says_what_to_install(err.strip())
  assert not output.exists()


def test_models_run_without_tensorflow(no_tensorflow, codecs):
  """forward (the likelihoods) needs no coder."""
  out = codecs(MODEL).forward(np.full((1, 64, 64, 3), 0.5, np.float32))
  assert out["x_hat"].shape == (1, 64, 64, 3)
  assert all(np.all(np.isfinite(np.asarray(v))) for k, v in out.items()
             if k.endswith("_likelihoods"))
