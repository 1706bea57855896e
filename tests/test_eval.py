"""eval.py and lic_jax.evaluation: real-bitstream evaluation of a converted model
on three photos, errors as clear messages, Kodak download/verify (on a loopback
mirror), BD-rate and the published anchors.

The real model is run once per session (one padded shape, so one compile); the
Kodak and timing logic run on a fast stand-in codec.
"""
import contextlib
import functools
import hashlib
import http.server
import io
import json
import os
import socket
import sys
import threading
import time

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, reference_path
from lic_jax import bitstream, checkpoint, image_io, metrics
from lic_jax.evaluation import anchors, bdrate, datasets, plots, report, runner

sys.path.insert(0, REPO)
import eval as eval_cli  # noqa: E402  (the CLI at the repository root)

# bjontegaard 1.3.0: bd_rate(elic bpp, elic psnr, mlicpp bpp, mlicpp psnr, method="pchip",
# require_matching_points=False) on the anchor files, computed once in a scratch env.
MLICPP_VS_ELIC = -8.352406011541625
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                      "eval_golden_mlicpp_small.json")
# Not the whole file's bpp: that adds the header, which follows the stream format
# (test_bpp_is_the_size_of_the_written_file checks it against the written file).
GOLDEN_KEYS = ("bpp-strings", "bpp-estimate", "psnr-rgb", "ms-ssim-rgb")
# Three photos of different sizes that all pad to 128x192: one compile for the session.
PHOTOS = {"a_128x192.png": (128, 192), "b_96x160.png": (96, 160), "c_71x133.png": (71, 133)}


def run_main(capsys, *argv):
  """(exit status, stdout, stderr) of eval.py's main."""
  status = eval_cli.main([str(a) for a in argv] + ["--no-progress"])
  out, err = capsys.readouterr()
  return status, out, err


def assert_clean_error(status, err, *phrases):
  assert status == 1
  assert "Traceback" not in err
  assert err.strip().splitlines()[-1].startswith("eval.py: error: ")
  for phrase in phrases:
    assert phrase in err, err


# ---------------------------------------------------------------- the real model

@pytest.fixture(scope="session")
def photos(tmp_path_factory):
  """A folder of three photos of different sizes, cut from the reference picture."""
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


@pytest.fixture(scope="session")
def photo_eval(model_dirs, photos, tmp_path_factory):
  """eval.py on the photos with the converted mlicpp_small: its outputs."""
  out = tmp_path_factory.mktemp("photo_eval")
  model = model_dirs("mlicpp_small")
  argv = ["--dataset", photos, "--model", model, "--json", out / "rd.json",
          "--plot", out / "rd.png", "--save-dir", out / "saved", "--no-progress"]
  status = eval_cli.main([str(a) for a in argv])
  with open(out / "rd.json") as f:
    document = json.load(f)
  return {"status": status, "json": document, "dir": out, "model": model,
          "saved": os.path.join(out, "saved", os.path.basename(model))}


def rows(photo_eval):
  return {row["image"]: row for row in photo_eval["json"]["models"][0]["images"]}


@pytest.mark.coder
def test_matches_the_golden_results(photo_eval):
  """Per-image bpp, PSNR and MS-SSIM as recorded (CompressAI's golden-file check,
  1e-4). After an intended change, regenerate with LIC_JAX_REGENERATE_GOLDEN=1."""
  got = {name: {k: row[k] for k in GOLDEN_KEYS} for name, row in sorted(rows(photo_eval).items())}
  if os.environ.get("LIC_JAX_REGENERATE_GOLDEN"):
    with open(GOLDEN, "w") as f:
      json.dump(got, f, indent=2)
      f.write("\n")
    pytest.skip(f"regenerated {GOLDEN}")
  with open(GOLDEN) as f:
    want = json.load(f)
  assert set(got) == set(want)
  for name in want:
    for key in GOLDEN_KEYS:
      assert got[name][key] == pytest.approx(want[name][key], abs=1e-4), (name, key)


@pytest.mark.coder
def test_json_has_compressai_layout(photo_eval):
  assert photo_eval["status"] == 0
  document = photo_eval["json"]
  assert document["name"] == "mlicpp"
  assert document["description"].startswith("Inference (")
  results = document["results"]
  for key in ("psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time",
              "bpp-strings", "ms-ssim-db"):
    assert len(results[key]) == 1 and np.isfinite(results[key][0]), key
  assert set(rows(photo_eval)) == set(PHOTOS)
  model = document["models"][0]
  assert results["bpp"][0] == pytest.approx(np.mean([r["bpp"] for r in model["images"]]))
  assert results["psnr-rgb"][0] == pytest.approx(
      np.mean([r["psnr-rgb"] for r in model["images"]]))
  assert document["dataset"]["images"] == 3
  assert "BD-rate is given with --kodak only" in document["bd_rate"]["mlicpp"]["note"]


@pytest.mark.coder
def test_bpp_is_the_size_of_the_written_file(photo_eval):
  for name, row in rows(photo_eval).items():
    stem = os.path.join(photo_eval["saved"], os.path.splitext(name)[0])
    size = os.path.getsize(stem + ".lic")
    h, w = PHOTOS[name]
    assert (row["height"], row["width"]) == (h, w)
    assert row["bpp"] == 8 * size / (h * w)
    with open(stem + ".lic", "rb") as f:
      info = bitstream.info(f.read())
    assert row["string_bytes"] == info["string_bytes"] and set(info["string_bytes"]) == {"z", "y"}
    assert row["bpp-strings"] == 8 * sum(info["string_bytes"].values()) / (h * w)
    assert row["bpp-strings"] < row["bpp"]
    assert size == info["header_bytes"] + sum(info["string_bytes"].values()) + 4  # + the CRC


@pytest.mark.coder
def test_psnr_and_ms_ssim_of_the_saved_reconstruction(photo_eval, photos):
  for name, row in rows(photo_eval).items():
    original = np.asarray(Image.open(os.path.join(photos, name)).convert("RGB"), np.float64)
    decoded = np.asarray(Image.open(os.path.join(
        photo_eval["saved"], os.path.splitext(name)[0] + ".png")).convert("RGB"), np.float64)
    mse = np.mean((original - decoded) ** 2)
    assert row["psnr-rgb"] == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-9)
    msssim = float(metrics.ms_ssim(original[None], decoded[None], 255.0)[0])
    assert row["ms-ssim-rgb"] == pytest.approx(msssim, abs=1e-7)
    assert row["ms-ssim-db"] == pytest.approx(-10 * np.log10(1 - msssim), abs=1e-6)


@pytest.mark.coder
def test_round_trip_matches_forward_and_the_stream_decodes(photo_eval):
  codec = runner.load_codec(photo_eval["model"])  # the run's own codec (cached, compiled)
  for name, row in rows(photo_eval).items():
    assert row["roundtrip"] is True
    stem = os.path.join(photo_eval["saved"], os.path.splitext(name)[0])
    with open(stem + ".lic", "rb") as f:
      decoded = codec.decompress(f.read())
    np.testing.assert_array_equal(decoded, np.asarray(Image.open(stem + ".png")))
  assert photo_eval["json"]["models"][0]["averages"]["roundtrip"] is True


@pytest.mark.coder
def test_times_exclude_the_compile(photo_eval):
  model = photo_eval["json"]["models"][0]
  # One padded shape: only the first image warms up; compiling the model's stages
  # takes far longer than coding a 128x192 image.
  assert [r["warmup"] for r in model["images"]] == [True, False, False]
  slowest = max(r["encoding_time"] + r["decoding_time"] for r in model["images"])
  assert model["compile_time"] > 5 * slowest


@pytest.mark.coder
def test_plot_has_anchors_and_the_curve(photo_eval):
  with Image.open(photo_eval["dir"] / "rd.png") as img:
    assert img.format == "PNG" and img.width > 800 and img.height > 400
  # The same call eval.py makes, returning the legend's labels.
  document = photo_eval["json"]
  curve = {"name": "mlicpp", **{k: document["results"][k] for k in ("bpp", "psnr-rgb",
                                                                     "ms-ssim-rgb")}}
  labels = plots.plot_rd([curve], anchors.load_all(), str(photo_eval["dir"] / "again.png"),
                         "title")
  assert labels == ["MLIC++ (published), Kodak", "ELIC (published), Kodak"] + [
      f"{key} (CompressAI), Kodak" for key in anchors.ZOO] + ["mlicpp"]


@pytest.mark.coder
def test_estimate_mode_agrees_with_the_coded_run(photo_eval, photos, capsys, tmp_path):
  status, out, _ = run_main(capsys, "--dataset", photos, "--model", photo_eval["model"],
                            "--estimate", "--json", tmp_path / "estimate.json")
  assert status == 0 and "average (3)" in out
  with open(tmp_path / "estimate.json") as f:
    estimate = json.load(f)
  assert estimate["description"] == "Inference (entropy estimation)"
  coded = rows(photo_eval)
  for row in estimate["models"][0]["images"]:
    # The same forward pass: identical reconstruction, and bpp is the coded run's estimate.
    assert row["bpp"] == pytest.approx(coded[row["image"]]["bpp-estimate"], rel=1e-12)
    assert row["psnr-rgb"] == coded[row["image"]]["psnr-rgb"]
    assert "roundtrip" not in row
    # The estimate is close to the real file size (within the header and coding overhead).
    assert abs(row["bpp"] - coded[row["image"]]["bpp"]) < 0.1 * coded[row["image"]]["bpp"]


@pytest.mark.coder
def test_table_on_stdout(photo_eval, photos, capsys):
  status, out, _ = run_main(capsys, "--dataset", photos, "--model", photo_eval["model"],
                            "--no-check")
  assert status == 0
  for name in PHOTOS:
    assert name in out
  assert "average (3)" in out and "bpp(str)" in out and "compile" in out


# ---------------------------------------------------------------- clear errors

def test_missing_dataset(capsys, tmp_path):
  status, _, err = run_main(capsys, "--dataset", tmp_path / "nope", "--model", tmp_path)
  assert_clean_error(status, err, "does not exist")


def test_empty_dataset(capsys, tmp_path):
  (tmp_path / "sub").mkdir()
  status, _, err = run_main(capsys, "--dataset", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "no images in", "--recursive")


def test_non_image_files_are_named(capsys, tmp_path, photos):
  image_io.write_png(str(tmp_path / "fine.png"), np.zeros((8, 8, 3), np.uint8))
  (tmp_path / "notes.txt").write_text("not an image")
  with open(os.path.join(photos, "a_128x192.png"), "rb") as f:
    (tmp_path / "cut.png").write_bytes(f.read()[:500])  # a truncated PNG
  status, _, err = run_main(capsys, "--dataset", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "notes.txt", "cut.png", "not images")
  assert "fine.png" not in err


@pytest.mark.coder
def test_refined_evaluation_round_trips(capsys, tmp_path, photos):
  """--refine: each image's latents refined before coding, the round trip checked
  against forward from those latents (the bundled model records its lambda)."""
  status, _, err = run_main(capsys, "--dataset", photos, "--model", "default-q2", "--refine", 20,
                            "--json", tmp_path / "rd.json")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    model = json.load(f)["models"][0]
  assert model["refine_steps"] == 20 and model["name"] == "elic+refine20"
  assert [row["roundtrip"] for row in model["images"]] == [True] * len(PHOTOS)
  assert all(abs(row["bpp-estimate"] - row["bpp"]) < 0.1 * row["bpp"] + 0.05
             for row in model["images"])


@pytest.mark.coder
def test_default_is_a_curve_of_both_points_beside_jpeg_and_webp(capsys, tmp_path, photos):
  """--model default: both bundled operating points, one curve named "default";
  --classic: JPEG and WebP per image at the smallest file of at least our size (the
  reported quality re-encoded with Pillow gives those bytes and that PSNR; one
  quality lower gives a smaller file than ours)."""
  status, out, err = run_main(capsys, "--dataset", photos, "--model", "default", "--classic",
                              "--json", tmp_path / "rd.json", "--plot", tmp_path / "rd.png")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    models = json.load(f)["models"]
  assert [(m["model"], m["name"]) for m in models] == [("default-q1", "default"),
                                                       ("default-q2", "default")]
  assert models[0]["averages"]["bpp"] < models[1]["averages"]["bpp"]
  assert models[0]["averages"]["psnr-rgb"] < models[1]["averages"]["psnr-rgb"]
  for model in models:
    for row in model["images"]:
      assert row["roundtrip"]
      image, _ = image_io.read_image(os.path.join(photos, row["image"]))
      for fmt, suffix in (("JPEG", "jpeg"), ("WEBP", "webp")):
        quality = row[f"{suffix}-quality"]
        assert row[f"{suffix}-bytes"] >= row["bytes"]
        sizes = []
        for q in (quality - 1, quality):
          buffer = io.BytesIO()
          Image.fromarray(image).save(buffer, format=fmt, quality=q)
          sizes.append(buffer.getvalue())
        assert len(sizes[1]) == row[f"{suffix}-bytes"]
        # One quality lower: too small, or no smaller (sizes are not always monotone).
        assert quality == 1 or not row["bytes"] <= len(sizes[0]) < len(sizes[1])
        decoded = np.asarray(Image.open(io.BytesIO(sizes[1])).convert("RGB"))
        assert row[f"{suffix}-psnr-rgb"] == pytest.approx(
            metrics.psnr(metrics.mse_uint8(image, decoded), 255.0), abs=1e-9)
    assert model["averages"]["webp-bpp"] == pytest.approx(
        np.mean([row["webp-bpp"] for row in model["images"]]))
  assert out.count("at the smallest size >= lic_jax's per image") == 2
  assert os.path.getsize(tmp_path / "rd.png") > 0
  with pytest.raises(SystemExit):
    eval_cli.parse_args(["--dataset", photos, "--model", "default", "--classic", "--estimate"])


def test_refine_needs_a_lambda_and_coded_mode(capsys, model_dirs, photos):
  model = model_dirs("mlicpp_small")  # converted: no training lambda recorded
  status, _, err = run_main(capsys, "--dataset", photos, "--model", model, "--refine", 2)
  assert_clean_error(status, err, "--lambda", model)
  with pytest.raises(SystemExit):
    eval_cli.parse_args(["--dataset", photos, "--model", model, "--refine", "2", "--estimate"])


@pytest.mark.parametrize("problem", ["missing", "not_a_model", "bad_json", "no_arrays"])
def test_unreadable_model_dir(capsys, tmp_path, photos, problem):
  model = tmp_path / "model"
  if problem != "missing":
    model.mkdir()
  if problem == "bad_json":
    (model / "lic_jax.json").write_text("{not json")
  if problem == "no_arrays":
    (model / "lic_jax.json").write_text(json.dumps({"format_version": 1, "arch": "mlicpp"}))
  status, _, err = run_main(capsys, "--dataset", photos, "--model", model)
  assert_clean_error(status, err, str(model))


def test_missing_kodak_says_where_to_put_it(capsys, tmp_path, monkeypatch):
  monkeypatch.setenv("LIC_JAX_DATA", str(tmp_path / "data"))
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  status, _, err = run_main(capsys, "--kodak", "--model", tmp_path)
  assert_clean_error(status, err, os.path.join(str(tmp_path / "data"), "kodak"),
                     os.path.join(str(tmp_path / "home"), ".cache", "lic_jax", "kodak"),
                     "kodim01.png", "--download")


def test_incomplete_kodak_names_the_missing_files(capsys, tmp_path):
  image_io.write_png(str(tmp_path / "kodim01.png"), np.zeros((512, 768, 3), np.uint8))
  image_io.write_png(str(tmp_path / "kodim02.png"), np.zeros((64, 64, 3), np.uint8))
  status, _, err = run_main(capsys, "--kodak", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "kodim03.png", "--download")
  for n in range(3, 25):
    image_io.write_png(str(tmp_path / f"kodim{n:02d}.png"), np.zeros((768, 512, 3), np.uint8))
  status, _, err = run_main(capsys, "--kodak", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "kodim02.png", "64x64", "768x512")


def test_download_offline_fails_fast(capsys, tmp_path, monkeypatch):
  """A refused connection: an immediate, clear error saying where to put the files."""
  with socket.socket() as probe:  # a loopback port with nothing listening
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  monkeypatch.setenv(datasets.URL_ENV, f"http://127.0.0.1:{port}/")
  monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
  start = time.monotonic()
  status, _, err = run_main(capsys, "--kodak", tmp_path / "kodak", "--download",
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


# ---------------------------------------------------------------- a stand-in codec

class FakeCoder:
  name = "fake-coder"


class FakeCodec:
  """Stands in for a Codec: uniform quantization with `step`, a stream of
  `bpp` bits per pixel, and `compile_s` of "compilation" on the first call per
  padded shape (multiples of `pad_multiple`). With `hyperprior`, a z stream and
  z likelihoods beside y; with `mismatch`, the decoder is off by one on one pixel."""
  arch = "fake"
  model_hash = "00" * 8
  coder = FakeCoder()
  decodes_forward = True

  def __init__(self, step, bpp, compile_s=0.0, mismatch=False, hyperprior=True,
               pad_multiple=64):
    self.step, self.bpp, self.compile_s, self.mismatch = step, bpp, compile_s, mismatch
    self.hyperprior, self.pad_multiple = hyperprior, pad_multiple
    self.compiled, self.images = set(), {}

  def _warm(self, h, w):
    shape = runner.padded_shape(h, w, self.pad_multiple)
    if shape not in self.compiled:
      time.sleep(self.compile_s)
      self.compiled.add(shape)

  def _quantize(self, image):
    return np.minimum(image // self.step * self.step + self.step // 2, 255).astype(np.uint8)

  def compress(self, image):
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

  def forward(self, x):
    b, h, w, _ = x.shape
    x_hat = self._quantize(np.round(np.asarray(x) * 255).astype(np.uint8)) / 255.0
    out = {"x_hat": jnp.asarray(x_hat, jnp.float32),
           "y_likelihoods": np.full((b, h // 16, w // 16, 4), 0.5, np.float32)}
    if self.hyperprior:
      out["z_likelihoods"] = np.full((b, h // 64, w // 64, 2), 0.5, np.float32)
    return out


def gradient_image(h, w, seed):
  i, j = np.mgrid[:h, :w]
  return np.stack([(i * 255 // h + seed) % 256, (j * 255 // w) % 256,
                   ((i + j) * 7 + 31 * seed) % 256], axis=-1).astype(np.uint8)


def test_warmup_once_per_padded_shape(tmp_path):
  sizes = [(40, 70), (64, 128), (30, 30)]  # pad to 64x128, 64x128, 64x64
  paths = []
  for n, (h, w) in enumerate(sizes):
    paths.append(str(tmp_path / f"{n}.png"))
    image_io.write_png(paths[-1], gradient_image(h, w, n))
  codec = FakeCodec(step=8, bpp=0.5, compile_s=0.3)
  result = runner.evaluate(codec, paths, str(tmp_path), progress=False,
                           save_dir=str(tmp_path / "out"))
  assert [r["warmup"] for r in result["images"]] == [True, False, True]
  assert all(r["encoding_time"] < 0.2 for r in result["images"])
  assert 0.5 < result["compile_time"] < 3
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
  assert [r["warmup"] for r in result["images"]] == [True, False, True]
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
  monkeypatch.setattr(runner, "load_codec", lambda path: FakeCodec(8, 0.5, mismatch=True))
  monkeypatch.setattr(checkpoint, "read_meta", lambda path: {})
  status, out, err = run_main(capsys, "--dataset", photos, "--model", tmp_path)
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
  monkeypatch.setattr(runner, "load_codec", lambda path: FakeCodec(16, 0.45))
  monkeypatch.setattr(checkpoint, "read_meta", lambda path: {})
  with serve(mirror) as url:
    monkeypatch.setenv(datasets.URL_ENV, url)
    status, _, err = run_main(capsys, "--kodak", "--download", "--model", tmp_path / "q16")
    assert_clean_error(status, err, "kodim24.png", "not a readable PNG")  # the corrupt one
    image_io.write_png(str(mirror / "kodim24.png"), gradient_image(512, 768, 24))
    status, out, err = run_main(capsys, "--kodak", "--download", "--model", tmp_path / "q16",
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
  assert "at least 2" in document["bd_rate"]["fake"]["note"]
  assert "BD-rate fake vs MLIC++ (published): n/a" in out
  assert os.path.getsize(tmp_path / "rd.png") > 10_000


def test_bd_rate_of_an_evaluated_curve_in_the_report():
  models = [{"name": "c", "model": f"m{i}", "arch": "x", "model_hash": "0", "mode": "coded",
             "compile_time": 0.0, "images": [],
             "averages": {"bpp": bpp, "psnr-rgb": psnr, "roundtrip": True}}
            for i, (bpp, psnr) in enumerate([(0.45, 34.9), (0.2, 30.5)])]
  curves = report.curves(models)
  assert [m["model"] for m in curves[0]["models"]] == ["m1", "m0"]  # sorted by bpp
  bd = report.bd_rates(curves, "elic", comparable=True)
  elic = anchors.load("elic")["results"]
  assert bd["c"]["bd_rate"] == pytest.approx(
      bdrate.bd_rate(elic["bpp"], elic["psnr-rgb"], [0.2, 0.45], [30.5, 34.9]))
  document = report.build(models, estimate=False, dataset={}, bd=bd, anchor_key="elic",
                          environment={})
  assert document["results"]["bpp"] == [0.45, 0.2]
  assert f"BD-rate c vs ELIC (published) (PSNR, pchip): {bd['c']['bd_rate']:+.2f}%" in (
      report.summary(document))
  json.loads(report.to_json(document))


# ---------------------------------------------------------------- BD-rate and anchors

def test_bd_rate_of_the_published_curves():
  mlicpp, elic = anchors.load("mlicpp")["results"], anchors.load("elic")["results"]
  value = bdrate.bd_rate(elic["bpp"], elic["psnr-rgb"], mlicpp["bpp"], mlicpp["psnr-rgb"])
  assert value < 0  # MLIC++ needs fewer bits than ELIC at equal PSNR
  assert value == pytest.approx(MLICPP_VS_ELIC, abs=1e-9)
  back = bdrate.bd_rate(mlicpp["bpp"], mlicpp["psnr-rgb"], elic["bpp"], elic["psnr-rgb"])
  assert back > 0


def test_bd_rate_known_answers():
  rates, psnrs = [0.1, 0.2, 0.4, 0.8], [28.0, 31.0, 34.0, 37.0]
  assert bdrate.bd_rate(rates, psnrs, rates, psnrs) == pytest.approx(0, abs=1e-12)
  assert bdrate.bd_rate(rates, psnrs, [0.9 * r for r in rates], psnrs) == pytest.approx(-10)
  with pytest.raises(bdrate.BDRateError, match="at least 2"):
    bdrate.bd_rate(rates, psnrs, [0.3], [32.0])
  with pytest.raises(bdrate.BDRateError, match="do not overlap"):
    bdrate.bd_rate(rates, psnrs, [1.0, 2.0], [40.0, 42.0])


def test_single_point_curve_has_no_bd_rate():
  model = {"name": "m", "averages": {"bpp": 0.3, "psnr-rgb": 32.0}}
  entry = report.bd_rates(report.curves([model]), "mlicpp", comparable=True)["m"]
  assert entry["bd_rate"] is None and "at least 2" in entry["note"]


def test_anchor_data_and_sources():
  design = [(0.1075, 29.161), (0.1747, 30.714), (0.2721, 32.335), (0.4129, 34.170),
            (0.5923, 35.816), (0.8025, 37.323)]  # DESIGN.md, rounded to 3 decimals
  mlicpp = anchors.load("mlicpp")
  np.testing.assert_allclose(list(zip(mlicpp["results"]["bpp"], mlicpp["results"]["psnr-rgb"])),
                             design, atol=5e-4)
  elic = anchors.load("elic")
  assert len(elic["results"]["bpp"]) == len(elic["results"]["psnr-rgb"]) == 10
  assert len(anchors.NAMES) == len(set(anchors.NAMES)) == 8
  for anchor in anchors.load_all():
    assert anchor["dataset"] == "kodak" and anchor["metric"] == "psnr-rgb"
    assert anchor["source"]["repository"].startswith("https://github.com/")
    assert len(anchor["source"]["commit"]) == 40
    results = anchor["results"]
    assert all(len(results[k]) == len(results["bpp"]) for k in results)
    assert np.all(np.diff(results["bpp"]) > 0)
    assert np.all(np.diff(results["psnr-rgb"]) > 0)


@pytest.mark.parametrize("key", anchors.ZOO)
def test_zoo_anchors_are_compressais_published_curves(key):
  """Each zoo anchor holds the RD numbers of CompressAI's cpu results file, one
  point per quality (1..8; cheng2020: 1..6), which its cuda file matches closely."""
  anchor = anchors.load(key)
  assert anchor["key"] == key and anchor["name"] == f"{key} (CompressAI)"
  assert anchor["source"]["repository"] == "https://github.com/InterDigitalInc/CompressAI"
  assert anchor["source"]["path"] == f"results/image/kodak/compressai-{key}_mse_cpu.json"
  assert anchor["qualities"] == list(range(1, 7 if key.startswith("cheng2020") else 9))
  assert set(anchor["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb"}
  folder = "compressai/kodak_results/"
  with open(reference_path(f"{folder}compressai-{key}_mse_cpu.json")) as f:
    cpu = json.load(f)["results"]
  with open(reference_path(f"{folder}compressai-{key}_mse_cuda.json")) as f:
    cuda = json.load(f)["results"]
  for name, values in anchor["results"].items():
    assert values == cpu[name], name  # the numbers themselves, not rounded
    np.testing.assert_allclose(values, cuda[name], rtol=1e-4)


def test_every_registered_models_anchor_exists():
  from lic_jax.models import registry
  assert {spec.anchor for spec in registry.specs()} - {None} <= set(anchors.NAMES)


def test_bd_rate_against_a_zoo_anchor():
  """Any anchor key works for --anchor: CompressAI's mbt2018 against its own
  bmshj2018-hyperprior needs fewer bits, and MLIC++ fewer still."""
  hyperprior = anchors.load("bmshj2018-hyperprior")["results"]
  curves = []
  for key in ("mbt2018", "mlicpp"):
    results = anchors.load(key)["results"]
    points = zip(results["bpp"], results["psnr-rgb"])
    curves.append({"name": key, "models": [{"averages": {"bpp": b, "psnr-rgb": p}}
                                           for b, p in points]})
  bd = report.bd_rates(curves, "bmshj2018-hyperprior", comparable=True)
  assert bd["mbt2018"]["anchor"] == "bmshj2018-hyperprior (CompressAI)"
  assert bd["mlicpp"]["bd_rate"] < bd["mbt2018"]["bd_rate"] < 0
  mbt = anchors.load("mbt2018")["results"]
  assert bd["mbt2018"]["bd_rate"] == bdrate.bd_rate(hyperprior["bpp"], hyperprior["psnr-rgb"],
                                                    mbt["bpp"], mbt["psnr-rgb"])
  assert eval_cli.parse_args(["--kodak", "--model", "m", "--anchor", "cheng2020-attn"]).anchor == (
      "cheng2020-attn")


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


@pytest.mark.coder
def test_an_autoregressive_model_evaluates_like_any(model_dirs, photos, capsys, tmp_path):
  """cheng2020-anchor (whose forward differs from its decoding by design): the round
  trip is checked against the encoder's own reconstruction, and holds."""
  pytest.importorskip("torch", reason="reading the PyTorch checkpoint needs torch")
  model = model_dirs("compressai/cheng2020_anchor_small")
  status, out, err = run_main(capsys, "--dataset", photos, "--model", model,
                              "--json", tmp_path / "rd.json")
  assert status == 0, err
  assert "MISMATCH" not in out
  with open(tmp_path / "rd.json") as f:
    result = json.load(f)["models"][0]
  assert result["arch"] == "cheng2020-anchor"
  assert [row["roundtrip"] for row in result["images"]] == [True] * len(PHOTOS)
