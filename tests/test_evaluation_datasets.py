"""lic_jax.evaluation.datasets through eval.py: Kodak found, verified, downloaded
(failing fast offline, never hanging), and folder listings."""
import os
import socket
import sys
import time

import numpy as np
import pytest

from conftest import REPO, assert_clean_error, run_eval
from lic_jax import image_io
from lic_jax.evaluation import datasets

sys.path.insert(0, REPO)
import eval as eval_cli  # noqa: E402  (the CLI at the repository root)


def test_missing_kodak_says_where_to_put_it(capsys, tmp_path, monkeypatch):
  monkeypatch.setenv("LIC_JAX_DATA", str(tmp_path / "data"))
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  status, _, err = run_eval(capsys, "--kodak", "--model", tmp_path)
  assert_clean_error(status, err, os.path.join(str(tmp_path / "data"), "kodak"),
                     os.path.join(str(tmp_path / "home"), ".cache", "lic_jax", "kodak"),
                     "kodim01.png", "--download")


def test_incomplete_kodak_names_the_missing_files(capsys, tmp_path):
  image_io.write_png(str(tmp_path / "kodim01.png"), np.zeros((512, 768, 3), np.uint8))
  image_io.write_png(str(tmp_path / "kodim02.png"), np.zeros((64, 64, 3), np.uint8))
  status, _, err = run_eval(capsys, "--kodak", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "kodim03.png", "--download")
  for n in range(3, 25):
    image_io.write_png(str(tmp_path / f"kodim{n:02d}.png"), np.zeros((768, 512, 3), np.uint8))
  status, _, err = run_eval(capsys, "--kodak", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "kodim02.png", "64x64", "768x512")


def test_download_offline_fails_fast(capsys, tmp_path, monkeypatch):
  """A refused connection: an immediate, clear error saying where to put the files."""
  with socket.socket() as probe:  # a loopback port with nothing listening
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  monkeypatch.setenv(datasets.URL_ENV, f"http://127.0.0.1:{port}/")
  monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
  start = time.monotonic()
  status, _, err = run_eval(capsys, "--kodak", tmp_path / "kodak", "--download",
                            "--download-timeout", "2", "--model", tmp_path)
  assert time.monotonic() - start < 10
  assert_clean_error(status, err, "could not download", "kodim01.png",
                     str(tmp_path / "kodak"))


def test_download_times_out_instead_of_hanging(tmp_path, monkeypatch):
  """A server that accepts the connection but never answers."""
  monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
  with socket.socket() as silent:
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    start = time.monotonic()
    with pytest.raises(datasets.DatasetError, match="could not download"):
      datasets.download_kodak(str(tmp_path), timeout=1.0, progress=False,
                              base_url=f"http://127.0.0.1:{silent.getsockname()[1]}")
    assert time.monotonic() - start < 5


def test_download_needs_kodak():
  with pytest.raises(SystemExit) as e:
    eval_cli.main(["--dataset", "x", "--download", "--model", "m"])
  assert e.value.code == 2



def test_folder_listing(tmp_path):
  for rel in ("b.png", "a.png", "sub/c.png", ".hidden"):
    (tmp_path / rel).parent.mkdir(exist_ok=True)
    if rel.endswith(".png"):
      image_io.write_png(str(tmp_path / rel), np.zeros((4, 4, 3), np.uint8))
    else:
      (tmp_path / rel).write_text("x")
  names = lambda paths: [os.path.relpath(p, tmp_path) for p in paths]
  assert names(datasets.list_images(str(tmp_path))) == ["a.png", "b.png"]
  assert names(datasets.list_images(str(tmp_path), recursive=True)) == [
      "a.png", "b.png", os.path.join("sub", "c.png")]

