"""lic_jax.evaluation.runner on a fast stand-in codec: compile time kept apart,
models with and without a hyperprior, the likelihood bits of every stream, round-trip
mismatches reported, and a Kodak download (from a loopback mirror) evaluated."""
import contextlib
import functools
import hashlib
import http.server
import json
import os
import threading
import time

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_clean_error, gradient_image, run_eval
from lic_jax import bitstream, image_io, model_dir, programs
from lic_jax.evaluation import datasets, runner


class FakeCoder:
  name = "fake-coder"


# The model directory's metadata eval.py reads beside a FakeCodec: a model of one rate.
FAKE_META = {"arch": "bmshj2018-factorized"}


class FakeCodec:
  """Stands in for a Codec: uniform quantization with `step`, a stream of
  `bpp` bits per pixel, and `compile_s` of "compilation" on the first call per
  padded shape (multiples of `pad_multiple`), counted as compile time as a real
  codec's is (`programs.compiling`). With `hyperprior`, a z stream and z likelihoods
  beside y; with `mismatch`, the decoder is off by one on one pixel."""
  arch = "fake"
  model_hash = "00" * 8
  coder = FakeCoder()
  decodes_forward = True
  qualities = None

  def __init__(self, step, bpp, compile_s=0.0, mismatch=False, hyperprior=True,
               pad_multiple=64):
    self.step, self.bpp, self.compile_s, self.mismatch = step, bpp, compile_s, mismatch
    self.hyperprior, self.pad_multiple = hyperprior, pad_multiple
    self.compiled, self.images = set(), {}

  def _warm(self, h, w):
    shape = runner.padded_shape(h, w, self.pad_multiple)
    if shape not in self.compiled:
      with programs.compiling():
        time.sleep(self.compile_s)
      self.compiled.add(shape)

  def _quantize(self, image):
    return np.minimum(image // self.step * self.step + self.step // 2, 255).astype(np.uint8)

  def compress(self, image, quality=None):
    h, w = image.shape[:2]
    self._warm(h, w)
    key = hashlib.sha256(image.tobytes()).digest()
    self.images[key] = image
    strings = {"z": b"zz"} if self.hyperprior else {}
    strings["y"] = key + bytes(max(int(self.bpp * h * w / 8) - len(key), 0))
    return bitstream.Stream("fake", bytes(8), h, w, strings, self.coder.name,
                            {name: b"" for name in strings}).to_bytes()

  def decompress(self, data):
    stream = bitstream.Stream.from_bytes(data)
    decoded = self._quantize(self.images[stream.strings["y"][:32]]).copy()
    if self.mismatch:
      decoded[0, 0, 0] ^= 1
    return decoded

  def forward(self, x, quality=None):
    b, h, w, _ = x.shape
    x_hat = self._quantize(np.round(np.asarray(x) * 255).astype(np.uint8)) / 255.0
    out = {"x_hat": jnp.asarray(x_hat, jnp.float32),
           "y_likelihoods": np.full((b, h // 16, w // 16, 4), 0.5, np.float32)}
    if self.hyperprior:
      out["z_likelihoods"] = np.full((b, h // 64, w // 64, 2), 0.5, np.float32)
    return out


def test_compile_time_apart_and_no_image_coded_twice(tmp_path):
  sizes = [(40, 70), (64, 128), (30, 30)]  # pad to 64x128, 64x128, 64x64
  paths = []
  for n, (h, w) in enumerate(sizes):
    paths.append(str(tmp_path / f"{n}.png"))
    image_io.write_png(paths[-1], gradient_image(h, w, n))
  codec = FakeCodec(step=8, bpp=0.5, compile_s=0.3)
  compiled_before = programs.compile_seconds()
  result = runner.evaluate(codec, paths, str(tmp_path), progress=False,
                           save_dir=str(tmp_path / "out"))
  compiled = programs.compile_seconds() - compiled_before
  assert [r["first_of_shape"] for r in result["images"]] == [True, False, True]
  assert all(r["encoding_time"] < 0.2 for r in result["images"])
  # Both shapes' 0.3 s, counted once each; JAX's own compiles inside the timed calls
  # (how long they take depends on the process's cache) add to it, but compile_time
  # never holds more than the process compiled meanwhile.
  assert 0.55 < result["compile_time"] <= compiled + 1e-9
  assert len(codec.images) == 3  # each image compressed once
  assert all(r["roundtrip"] for r in result["images"])
  assert sorted(os.listdir(tmp_path / "out")) == sorted(
      f"{n}.{ext}" for n in range(3) for ext in ("lic", "png"))
  assert result["coder"] == "fake-coder"


def test_model_without_hyperprior_and_its_own_padding(tmp_path):
  """A y-only stream (as bmshj2018-factorized) padded to multiples of 16: the
  strings and the likelihoods are those the model has; warm-ups follow its padding."""
  sizes = [(40, 70), (48, 80), (30, 30)]  # pad to 48x80, 48x80, 32x32
  paths = []
  for n, (h, w) in enumerate(sizes):
    paths.append(str(tmp_path / f"{n}.png"))
    image_io.write_png(paths[-1], gradient_image(h, w, n))
  codec = FakeCodec(step=8, bpp=0.5, hyperprior=False, pad_multiple=16)
  result = runner.evaluate(codec, paths, str(tmp_path), progress=False)
  assert [r["first_of_shape"] for r in result["images"]] == [True, False, True]
  for row, (h, w) in zip(result["images"], sizes):
    assert set(row["string_bytes"]) == {"y"}
    assert row["bpp-strings"] == 8 * row["string_bytes"]["y"] / (h * w)
    padded = runner.padded_shape(h, w, 16)
    assert row["bpp-estimate"] == pytest.approx(padded[0] * padded[1] // 256 * 4 / (h * w))


def test_likelihood_bits_of_every_stream():
  out = {"x_hat": np.zeros((1, 4, 4, 3)), "y_likelihoods": np.full((1, 2, 2, 4), 0.5),
         "z_likelihoods": np.full((1, 1, 1, 2), 0.25), "side_likelihoods": np.full((3,), 0.5)}
  assert runner.likelihood_bits(out) == 16 + 4 + 3
  del out["z_likelihoods"], out["side_likelihoods"]
  assert runner.likelihood_bits(out) == 16


def test_round_trip_mismatch_is_reported(capsys, tmp_path, monkeypatch, photos):
  monkeypatch.setattr(runner, "load_codec",
                      lambda path, coder=None: FakeCodec(8, 0.5, mismatch=True))
  monkeypatch.setattr(model_dir, "read_meta", lambda path: FAKE_META)
  status, out, err = run_eval(capsys, "--dataset", photos, "--model", tmp_path)
  assert status == 3
  assert "ROUND TRIP MISMATCH" in out and "encoder and decoder disagree" in err



class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args):
    pass


@contextlib.contextmanager
def serve(folder):
  """A loopback HTTP server for `folder`; yields its base URL."""
  server = http.server.ThreadingHTTPServer(
      ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}/"
  finally:
    server.shutdown()
    server.server_close()


def test_kodak_download_and_evaluation(capsys, tmp_path, monkeypatch):
  """--kodak --download from a mirror into $LIC_JAX_DATA/kodak, verified (a corrupt
  file is refused), then evaluated with the stand-in codec."""
  mirror = tmp_path / "mirror"
  mirror.mkdir()
  for n, name in enumerate(datasets.KODAK_NAMES):
    h, w = (768, 512) if n % 6 == 3 else (512, 768)
    image_io.write_png(str(mirror / name), gradient_image(h, w, n))
  (mirror / "kodim24.png").write_bytes((mirror / "kodim23.png").read_bytes()[:-100])
  monkeypatch.setenv("LIC_JAX_DATA", str(tmp_path / "data"))
  monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
  monkeypatch.setattr(runner, "load_codec", lambda path, coder=None: FakeCodec(16, 0.45))
  monkeypatch.setattr(model_dir, "read_meta", lambda path: FAKE_META)
  with serve(mirror) as url:
    monkeypatch.setenv(datasets.URL_ENV, url)
    status, _, err = run_eval(capsys, "--kodak", "--download", "--model", tmp_path / "q16")
    assert_clean_error(status, err, "kodim24.png", "not a readable PNG")  # the corrupt one
    image_io.write_png(str(mirror / "kodim24.png"), gradient_image(512, 768, 24))
    status, out, err = run_eval(capsys, "--kodak", "--download", "--model", tmp_path / "q16",
                                "--json", tmp_path / "rd.json", "--plot", tmp_path / "rd.png")
  assert status == 0, err
  kodak = tmp_path / "data" / "kodak"
  assert sorted(os.listdir(kodak)) == list(datasets.KODAK_NAMES)  # no temporary files left
  assert len(datasets.verify_kodak(str(kodak))) == 24
  with open(tmp_path / "rd.json") as f:
    document = json.load(f)
  assert document["dataset"]["name"] == "kodak" and document["dataset"]["images"] == 24
  assert document["models"][0]["averages"]["psnr-rgb"] == pytest.approx(
      10 * np.log10(255 ** 2 * 12 / 16 ** 2), abs=0.5)  # uniform quantization, step 16
  # On Kodak the BD-rate is attempted; one model is one point, too few for a curve.
  assert "at least 2" in document["bd_rate"]["fake"]["PSNR"]["note"]
  assert ("BD-rate against VTM (CompressAI): n/a (test: BD-rate needs at least 2 "
          "rate-distortion points") in out
  assert os.path.getsize(tmp_path / "rd.png") > 10_000

