"""The command line: `python -m lic_jax compress | decompress | info`.

A few real subprocesses (each imports JAX and TensorFlow and compiles: 10-20 s) cover
the end-to-end path and the failure modes a user meets; the input formats run
in-process through `lic_jax.__main__.main` with the session's cached codec.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import lic_jax
from conftest import REPO
from lic_jax import bitstream
from lic_jax.__main__ import main
from test_codec import with_other_entropy_parameters

MODEL = "elic_small"  # the fastest fixture to compile (see test_codec.SIZE_MODEL)
HEIGHT, WIDTH = 40, 50  # pads to 64x64


def cli(*args, timeout=300):
  """Runs `python -m lic_jax ARGS` from the repository; the CompletedProcess."""
  return subprocess.run([sys.executable, "-m", "lic_jax", *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout)


def rgb_image(seed=0):
  rng = np.random.default_rng(seed)
  rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
  image = np.stack([cols * 5, rows * 6, (rows + cols) * 3], axis=-1)
  image += rng.integers(0, 30, image.shape)
  return np.clip(image, 0, 255).astype(np.uint8)


def default_mode():
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


def assert_clean_failure(result, folder, *absent):
  """Non-zero exit, exactly one `error:` line and no traceback, nothing written."""
  assert result.returncode != 0, result
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, result.stderr
  assert "Traceback" not in result.stderr, result.stderr
  for path in absent:
    assert not os.path.exists(path), path
  assert not [f for f in os.listdir(folder) if f.startswith(".tmp-")]
  return errors[0]


# --- end to end, in subprocesses ------------------------------------------------------

@pytest.fixture(scope="module")
def round_trip(model_dirs, tmp_path_factory):
  """compress, info and decompress of a PNG, each a `python -m lic_jax` process."""
  folder = tmp_path_factory.mktemp("cli")
  image = rgb_image()
  Image.fromarray(image).save(folder / "in.png")
  model = model_dirs(MODEL)
  runs = {"compress": cli("compress", "--model", model, folder / "in.png", folder / "out.lic"),
          "info": cli("info", folder / "out.lic"),
          "decompress": cli("decompress", "--model", model, folder / "out.lic",
                            folder / "rec.png")}
  return folder, image, runs


def test_compress_info_decompress(round_trip, codecs):
  folder, image, runs = round_trip
  for name, result in runs.items():
    assert result.returncode == 0, (name, result.stderr)
    assert "Traceback" not in result.stderr
  data = (folder / "out.lic").read_bytes()
  assert f"{len(data)} bytes" in runs["compress"].stdout
  info = dict(line.split(": ", 1) for line in runs["info"].stdout.splitlines())
  assert (info["height"], info["width"], info["total_bytes"]) == (
      str(HEIGHT), str(WIDTH), str(len(data)))
  assert info["arch"] == "elic"
  with Image.open(folder / "rec.png") as rec:
    assert rec.mode == "RGB" and rec.size == (WIDTH, HEIGHT)
    decoded = np.asarray(rec)
  # Other processes, same results: the encoder is deterministic across processes and
  # the CLI writes exactly what the codec decodes.
  codec = codecs(MODEL)
  assert codec.compress(image) == data
  assert np.array_equal(decoded, codec.decompress(data))
  for name in ("out.lic", "rec.png"):  # atomic writes keep the usual permissions
    assert os.stat(folder / name).st_mode & 0o777 == default_mode()


@pytest.mark.parametrize("case", ["missing input", "not an image", "not a model dir",
                                  "corrupted stream", "stream of another model"])
def test_failures_are_one_line_errors_and_write_nothing(case, round_trip, model_dirs, tmp_path):
  folder, _, _ = round_trip
  model = model_dirs(MODEL)
  out_lic, out_png = tmp_path / "out.lic", tmp_path / "rec.png"
  if case == "missing input":
    result = cli("compress", "--model", model, tmp_path / "nothing.png", out_lic)
  elif case == "not an image":
    (tmp_path / "notes.png").write_text("not an image\n")
    result = cli("compress", "--model", model, tmp_path / "notes.png", out_lic)
  elif case == "not a model dir":
    (tmp_path / "empty").mkdir()
    result = cli("compress", "--model", tmp_path / "empty", folder / "in.png", out_lic)
  elif case == "corrupted stream":
    data = bytearray((folder / "out.lic").read_bytes())
    data[len(data) // 2] ^= 0x55
    (tmp_path / "bad.lic").write_bytes(bytes(data))
    result = cli("decompress", "--model", model, tmp_path / "bad.lic", out_png)
  else:
    result = cli("decompress", "--model", model_dirs("mlicpp_old_small"), folder / "out.lic",
                 out_png)
  error = assert_clean_failure(result, tmp_path, out_lic, out_png)
  expected = {"missing input": "nothing.png", "not an image": "notes.png",
              "not a model dir": "model directory", "corrupted stream": "checksum",
              "stream of another model": "model"}[case]
  assert expected in error, error


# --- input formats and more failures, in-process --------------------------------------

def _expected_rgb(path):
  """What a file should be coded as, worked out independently of lic_jax."""
  with Image.open(path) as img:
    if img.mode == "I;16":
      return np.round(np.asarray(img).astype(np.float64) * 255 / 65535).astype(np.uint8)[
          ..., None].repeat(3, axis=-1)
    if img.mode == "P" and "transparency" in img.info:
      return np.asarray(img.convert("RGBA"))[..., :3]
    return np.asarray(img.convert("RGB"))


def _write_input(kind, path):
  rgb = rgb_image(1)
  if kind == "png":
    Image.fromarray(rgb).save(path)
  elif kind == "jpeg":
    Image.fromarray(rgb).save(path, format="JPEG", quality=90)
  elif kind == "grayscale":
    Image.fromarray(rgb[..., 1]).save(path)
  elif kind == "rgba":
    Image.fromarray(np.dstack([rgb, 255 - rgb[..., :1]])).save(path)
  elif kind == "palette":
    Image.fromarray(rgb).quantize(colors=16).save(path)
  elif kind == "palette with transparency":
    Image.fromarray(rgb).quantize(colors=16).save(path, transparency=3)
  elif kind == "16-bit":
    wide = np.random.default_rng(2).integers(0, 65536, (HEIGHT, WIDTH)).astype(np.uint16)
    Image.fromarray(wide).save(path)


INPUTS = {  # kind -> (file name, the notes printed)
    "png": ("in.png", []),
    "jpeg": ("in.jpg", []),
    "grayscale": ("in.png", ["grayscale"]),
    "rgba": ("in.png", ["alpha"]),
    "palette": ("in.png", ["palette"]),
    "palette with transparency": ("in.png", ["palette", "alpha"]),
    "16-bit": ("in.png", ["I;16", "8 bits", "grayscale"]),
}


@pytest.fixture
def cached_model(monkeypatch, model_dirs, codecs):
  """The model dir, with load_model answering from the session's compiled codec."""
  model, codec = model_dirs(MODEL), codecs(MODEL)  # loaded before load_model is replaced

  def load_model(path, coder=None):
    assert path == model and coder is None
    return codec
  monkeypatch.setattr(lic_jax, "load_model", load_model)
  return model


@pytest.mark.parametrize("kind", list(INPUTS))
def test_input_formats(kind, cached_model, codecs, tmp_path, capsys):
  name, notes = INPUTS[kind]
  path = tmp_path / name
  _write_input(kind, path)
  assert main(["compress", "--model", cached_model, str(path), str(tmp_path / "out.lic")]) == 0
  stderr = capsys.readouterr().err
  printed = [line for line in stderr.splitlines() if line.startswith("note:")]
  for note in notes:
    assert any(note in line for line in printed), (note, stderr)
  if not notes:
    assert not printed, stderr
  data = (tmp_path / "out.lic").read_bytes()
  assert data == codecs(MODEL).compress(_expected_rgb(path))
  assert main(["decompress", "--model", cached_model, str(tmp_path / "out.lic"),
               str(tmp_path / "rec.png")]) == 0
  with Image.open(tmp_path / "rec.png") as rec:
    assert rec.mode == "RGB" and rec.size == (WIDTH, HEIGHT)


def test_in_process_failures(cached_model, round_trip, tmp_path, capsys, monkeypatch):
  folder, _, _ = round_trip

  def fails(*args):
    assert main([str(a) for a in args]) == 1
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    return err

  # info of something that is not a stream
  assert "magic" in fails("info", folder / "in.png")
  # a failed decode leaves an existing output untouched
  (tmp_path / "rec.png").write_bytes(b"keep me")
  truncated = tmp_path / "cut.lic"
  truncated.write_bytes((folder / "out.lic").read_bytes()[:-10])
  assert "truncated" in fails("decompress", "--complete", "--model", cached_model, truncated,
                              tmp_path / "rec.png")
  assert (tmp_path / "rec.png").read_bytes() == b"keep me"
  # without --complete, a file cut short decodes the groups it holds, saying so
  assert main(["decompress", "--model", cached_model, str(truncated),
               str(tmp_path / "part.png")]) == 0
  assert "warning: the stream is cut short: decoded 3 of 4 channel groups" in (
      capsys.readouterr().err)
  # unwritable outputs: a missing folder, a folder in the way; no temporary files left
  fails("compress", "--model", cached_model, folder / "in.png", tmp_path / "no" / "out.lic")
  (tmp_path / "taken").mkdir()
  fails("compress", "--model", cached_model, folder / "in.png", tmp_path / "taken")
  # --refine needs a lambda, which a converted checkpoint does not record
  assert "lambda" in fails("compress", "--model", cached_model, "--refine", 2, folder / "in.png",
                           tmp_path / "refined.lic")
  # a decoder whose entropy parameters differ from the encoder's, under the same model
  # identity (hash), as on another device: refused as such, the output untouched
  other = with_other_entropy_parameters(lic_jax.load_model(cached_model), 1e-2)
  monkeypatch.setattr(lic_jax, "load_model", lambda path, coder=None: other)
  assert "entropy parameters differ" in fails("decompress", "--model", cached_model,
                                              folder / "out.lic", tmp_path / "rec.png")
  assert (tmp_path / "rec.png").read_bytes() == b"keep me"
  assert sorted(os.listdir(tmp_path)) == ["cut.lic", "part.png", "rec.png", "taken"]
  assert bitstream.info((folder / "out.lic").read_bytes())["height"] == HEIGHT


def test_decompress_a_part_and_preview(cached_model, round_trip, codecs, tmp_path, capsys):
  folder, _, _ = round_trip
  data = (folder / "out.lic").read_bytes()
  codec = codecs(MODEL)
  assert main(["decompress", "--groups", "1", "--model", cached_model, str(folder / "out.lic"),
               str(tmp_path / "g1.png")]) == 0
  with Image.open(tmp_path / "g1.png") as part:
    assert np.array_equal(np.asarray(part), codec.decompress(data, groups=1))
  assert main(["preview", "--model", cached_model, str(folder / "out.lic"),
               str(tmp_path / "small.png")]) == 0
  with Image.open(tmp_path / "small.png") as small:
    assert small.size == (-(-WIDTH // 4), -(-HEIGHT // 4))
    assert np.array_equal(np.asarray(small), codec.preview(data))
  assert "preview (" in capsys.readouterr().out
