"""The quick-start demo (`python -m lic_jax demo`, README's first command), on a crop
of the bundled held-out photo to keep it quick: it prints lic_jax plain and refined
and JPEG at least as large as each, and writes a stream that decodes to the written
reconstruction, and the side-by-side comparison. The bundled model and photo always
ship; without them the demo says the installation is incomplete (it has no fallback)."""
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import __main__ as cli
from lic_jax import checkpoint, demo, image_io


@pytest.mark.coder
def test_demo_codes_compares_and_writes(tmp_path, capsys):
  pixels, _ = image_io.read_image(demo.DEFAULT_IMAGE)
  image = tmp_path / "crop.png"
  image_io.write_png(str(image), np.ascontiguousarray(pixels[100:196, 200:328]))
  out_dir = tmp_path / "out"
  demo.run(model="default", image=str(image), out_dir=str(out_dir), refine_steps=40)

  printed = capsys.readouterr().out
  rows = [(line[:22].strip(), *line[22:].split()[:4]) for line in printed.splitlines()
          if line.startswith(("lic_jax ", "JPEG q"))]
  assert [row[0] for row in rows[::2]] == ["lic_jax", "lic_jax --refine 40"], printed
  for (_, ours, *_), (jpeg, theirs, *_) in zip(rows[::2], rows[1::2]):
    assert jpeg.startswith("JPEG q") and int(theirs) >= int(ours)

  written = sorted(os.listdir(out_dir))
  assert written[:2] == ["crop.lic", "crop_jpeg_q" + rows[-1][0].split("q")[1] + ".png"]
  assert written[2:] == ["crop_lic_jax.png", "crop_side_by_side.png"]
  data = (out_dir / "crop.lic").read_bytes()
  assert len(data) == int(rows[2][1])  # the refined stream is the one written
  reconstruction, _ = image_io.read_image(str(out_dir / "crop_lic_jax.png"))
  assert np.array_equal(lic_jax.load_model("default").decompress(data), reconstruction)
  side_by_side, _ = image_io.read_image(str(out_dir / "crop_side_by_side.png"))
  assert side_by_side.shape == (96, 3 * 128, 3)


def test_missing_bundled_model_is_a_clear_error(tmp_path, capsys, monkeypatch):
  missing = str(tmp_path / "assets" / "default")
  monkeypatch.setitem(checkpoint.BUNDLED, "default", missing)
  with pytest.raises(checkpoint.ModelDirError, match="incomplete"):
    demo.run(out_dir=str(tmp_path / "out"))
  # The command line: one line on stderr, exit status 1, nothing coded.
  assert cli.main(["demo", "--out-dir", str(tmp_path / "out")]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: the bundled default model") and missing in err
  assert "--model DIR" in err and "Traceback" not in err
  assert os.listdir(tmp_path / "out") == []


def test_missing_bundled_photo_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(demo, "DEFAULT_IMAGE", str(tmp_path / "holdout.png"))
  with pytest.raises(image_io.ImageError, match="incomplete.*--image PATH"):
    demo.run(out_dir=str(tmp_path / "out"))
