"""lic_jax.extras: a command line that needs an optional package that is missing
says so in one line, naming the extra to install, before doing any work; eval.py
goes on without progress bars, saying so. The packages are hidden here (None in
sys.modules makes them uninstalled to importlib), whether installed or not."""
import os
import sys

import pytest

from conftest import REPO, assert_clean_error, run_eval
from lic_jax import extras
from lic_jax.evaluation import runner
from test_evaluation_runner import FAKE_META, FakeCodec

sys.path.insert(0, REPO)
import train as train_cli  # noqa: E402  (the CLI at the repository root)


def hide(monkeypatch, *modules):
  for module in modules:
    monkeypatch.setitem(sys.modules, module, None)


def test_missing_and_require_name_the_extra(monkeypatch):
  assert extras.missing("plot", "--plot") is None  # installed in the test environments
  hide(monkeypatch, "matplotlib")
  message = extras.missing("plot", "--plot")
  assert message == ("--plot needs matplotlib, which is not installed: pip install "
                     "'lic_jax[plot]' (from a checkout: pip install -e '.[plot]')")
  with pytest.raises(extras.MissingExtraError, match=r"lic_jax\[plot\]"):
    extras.require("plot", "--plot")


def test_eval_plot_without_matplotlib_fails_first(monkeypatch, capsys, tmp_path, photos):
  hide(monkeypatch, "matplotlib")
  status, out, err = run_eval(capsys, "--dataset", photos, "--model", tmp_path,
                              "--plot", tmp_path / "rd.png", "--json", tmp_path / "rd.json")
  assert_clean_error(status, err, "--plot needs matplotlib", "pip install 'lic_jax[plot]'")
  assert os.listdir(tmp_path) == []


def test_eval_without_tqdm_goes_on_without_bars(monkeypatch, capsys, tmp_path, photos):
  from lic_jax import model_dir
  hide(monkeypatch, "tqdm")
  monkeypatch.setattr(runner, "load_codec", lambda path, coder=None: FakeCodec(8, 0.5))
  monkeypatch.setattr(model_dir, "read_meta", lambda path: FAKE_META)
  import eval as eval_cli
  status = eval_cli.main(["--dataset", photos, "--model", str(tmp_path)])
  out, err = capsys.readouterr()
  assert status == 0, err
  assert ("eval.py: note: progress bars need tqdm, which is not installed: pip install "
          "'lic_jax[progress]'") in err


def test_train_without_grain_says_what_to_install(monkeypatch, capsys, tmp_path):
  hide(monkeypatch, "grain")
  assert train_cli.main(["--data", str(tmp_path), "--workdir", str(tmp_path / "w"),
                         "--steps", "1"]) == 2
  err = capsys.readouterr().err
  assert err == ("train.py: error: train.py needs grain, which is not installed: pip install "
                 "'lic_jax[train]' (from a checkout: pip install -e '.[train]')\n")
  assert not (tmp_path / "w").exists()
