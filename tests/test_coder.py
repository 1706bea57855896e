"""lic_jax.coder: choosing an implementation (`available`, `get`, `--coder`), and what
happens where one is missing: without TensorFlow the default (numba) still codes and
asking for 'tfc' says what to install, in one line; without numba, likewise; models
run without any coder. TensorFlow and numba are hidden here whether installed or
not, so this runs in both environments."""
import copy
import sys

import numpy as np
import pytest
from PIL import Image

import lic_jax
from lic_jax import coder
from lic_jax.__main__ import main
from lic_jax.coder import range_coder, tfc_ops
from lic_jax.entropy import cdf as cdf_tables

MODEL = "elic_small"  # the fastest fixture to compile


@pytest.fixture
def no_tensorflow(monkeypatch):
  """`import tensorflow` (and the ops) fail as if not installed: None in sys.modules
  makes an import raise ModuleNotFoundError. The cached import is dropped before and
  after, so tests later in the session import the real one."""
  monkeypatch.setitem(sys.modules, "tensorflow", None)
  monkeypatch.setitem(sys.modules, "tensorflow_compression_ops", None)
  tfc_ops._tf.cache_clear()
  yield
  tfc_ops._tf.cache_clear()


@pytest.fixture
def no_numba(monkeypatch):
  """`import numba` fails, and numba_ops is imported anew (and fails); monkeypatch
  puts both modules back afterwards."""
  monkeypatch.setitem(sys.modules, "numba", None)
  monkeypatch.delitem(sys.modules, "lic_jax.coder.numba_ops", raising=False)


def small_tables():
  return cdf_tables.gaussian_tables(np.float32([0.5, 2.0]))


def round_trips(the_coder):
  symbols, indexes = np.array([0, 3, -2, 400], np.int32), np.array([0, 1, 1, 0], np.int32)
  data = range_coder.encode(symbols, indexes, small_tables(), the_coder)
  np.testing.assert_array_equal(range_coder.decode(data, indexes, small_tables(), the_coder),
                                symbols)
  return data


def test_implementations_available_and_the_default():
  assert coder.available()[0] == "numba"  # a core dependency
  assert coder.get().name == "numba" and coder.get("numba").format == "tfc"
  assert coder.get("tfc").format == coder.get().format  # one stream format
  with pytest.raises(ValueError, match="unknown entropy coder 'rans'.*installed here: numba"):
    coder.get("rans")


def test_without_tensorflow_the_default_codes_and_tfc_says_what_to_install(no_tensorflow):
  assert coder.available() == ["numba"]
  round_trips(coder.get())
  with pytest.raises(coder.CoderUnavailableError) as info:
    coder.get("tfc").encoder(small_tables())
  assert isinstance(info.value.__cause__, ImportError)  # the import's own error, chained
  message = str(info.value)
  assert "\n" not in message and "pip install 'lic_jax[coder]'" in message
  assert "'numba' coder, which writes the same bytes" in message


def test_without_numba_coding_says_what_to_install(no_numba, no_tensorflow):
  assert coder.available() == []
  assert coder.get().name == "numba"  # the default, which then says what is missing
  for side in ("encoder", "decoder"):
    with pytest.raises(coder.CoderUnavailableError, match="the 'numba' coder needs numba"):
      getattr(coder.get(), side)(*([b"\x00"] if side == "decoder" else []), small_tables())


def test_cli_with_a_missing_coder_prints_one_line(no_tensorflow, monkeypatch, model_dirs,
                                                  codecs, tmp_path, capsys):
  model, loaded = model_dirs(MODEL), codecs(MODEL)

  def load_model(path, coder_name=None):  # the session's compiled codec, with that coder
    codec = copy.copy(loaded)
    codec.coder = coder.get(coder_name)
    return codec
  monkeypatch.setattr(lic_jax, "load_model", load_model)
  source, output = tmp_path / "in.png", tmp_path / "out.lic"
  Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(source)
  assert main(["compress", "--coder", "tfc", "--model", model, str(source), str(output)]) == 1
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1 and err.startswith("error: "), err
  assert "pip install 'lic_jax[coder]'" in err
  assert not output.exists()
  assert main(["compress", "--model", model, str(source), str(output)]) == 0
  assert output.exists()


def test_info_says_which_implementations_read_a_stream(model_dirs, codecs, tmp_path, capsys):
  stream = tmp_path / "x.lic"
  stream.write_bytes(codecs(MODEL).compress(np.full((40, 50, 3), 90, np.uint8)))
  assert main(["info", str(stream)]) == 0
  out = capsys.readouterr().out
  assert "coder: tfc\n" in out
  assert f"readable_here_by: {', '.join(coder.available())}\n" in out


def test_models_run_without_any_coder(no_numba, no_tensorflow, codecs):
  """forward (the likelihoods) needs no coder."""
  out = codecs(MODEL).forward(np.full((1, 64, 64, 3), 0.5, np.float32))
  assert out["x_hat"].shape == (1, 64, 64, 3)
  assert all(np.all(np.isfinite(np.asarray(v))) for k, v in out.items()
             if k.endswith("_likelihoods"))
