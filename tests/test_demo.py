"""The quick-start demo (`python -m lic_jax demo`, README's first command), on a crop
of the bundled held-out photo to keep it quick: per operating point of the default
model it prints lic_jax's plain encoder and JPEG and WebP at least as large, and
writes a stream that decodes to the written reconstruction, the JPEG and WebP files
the table describes, and the labelled side-by-side picture. The bundled models and
photo always ship; without them the demo says the installation is incomplete (it has
no fallback)."""
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import __main__ as cli
from lic_jax import demo, image_io, model_dir
from lic_jax.evaluation import runner


def test_demo_codes_compares_and_writes(tmp_path, capsys):
  pixels, _ = image_io.read_image(demo.DEFAULT_IMAGE)
  image = tmp_path / "crop.png"
  crop = np.ascontiguousarray(pixels[100:196, 200:328])
  image_io.write_png(str(image), crop)
  out_dir = tmp_path / "out"
  demo.run(image=str(image), out_dir=str(out_dir))

  printed = capsys.readouterr().out
  rows = [line.split() for line in printed.splitlines()
          if line.startswith(("lic_jax ", "  JPEG q", "  WebP q"))]
  assert [row[:2] for row in rows[::3]] == [["lic_jax", "default-q1"],
                                            ["lic_jax", "default-q2"]], printed
  written = set(os.listdir(out_dir))
  for point, ours, jpeg, webp in zip(("default-q1", "default-q2"), rows[::3], rows[1::3],
                                     rows[2::3]):
    data = (out_dir / f"crop_{point}.lic").read_bytes()
    assert int(ours[2]) == len(data)
    reconstruction, _ = image_io.read_image(str(out_dir / f"crop_{point}_lic_jax.png"))
    assert np.array_equal(lic_jax.load_model(point).decompress(data), reconstruction)
    psnr = runner.distortion(crop, reconstruction)["psnr-rgb"]
    assert float(ours[4]) == pytest.approx(psnr, abs=0.005)
    for row, suffix in ((jpeg, "jpg"), (webp, "webp")):
      name = f"crop_{point}_{row[0].lower()}_{row[1]}.{suffix}"  # e.g. crop_default-q1_jpeg_q7.jpg
      assert name in written, (name, written)
      other = (out_dir / name).read_bytes()
      assert int(row[2]) == len(other) >= len(data)  # at least our size
      decoded, _ = image_io.read_image(str(out_dir / name))
      psnr = runner.distortion(crop, decoded)["psnr-rgb"]
      assert float(row[4]) == pytest.approx(psnr, abs=0.005)
  assert len(written) == 2 * 4 + 1
  # Two rows (the points) of original | lic_jax | JPEG | WebP, each under a caption band
  # whose text is drawn (dark pixels on the white band).
  sheet, _ = image_io.read_image(str(out_dir / "crop_side_by_side.png"))
  band = sheet.shape[0] // 2 - 96
  assert sheet.shape == (2 * (band + 96), 4 * 128, 3) and band > 20
  assert np.array_equal(sheet[band:band + 96, :128], crop)
  assert np.array_equal(sheet[-96:, 128:256], reconstruction)
  assert (sheet[:band, 128:256] < 100).any() and (sheet[:band, 128:256] > 250).mean() > 0.5


def test_demo_with_refinement(tmp_path, capsys):
  """--refine: the refined stream is the one written, and it decodes to the written
  reconstruction with the chosen model."""
  pixels, _ = image_io.read_image(demo.DEFAULT_IMAGE)
  image = tmp_path / "crop.png"
  image_io.write_png(str(image), np.ascontiguousarray(pixels[100:164, 200:264]))
  assert cli.main(["demo", "--model", "default-q2", "--image", str(image), "--refine", "3",
                   "--out-dir", str(tmp_path / "out")]) == 0
  rows = [line.split() for line in capsys.readouterr().out.splitlines()
          if line.startswith("lic_jax ")]
  assert [row[:4] for row in rows] == [["lic_jax", "default-q2", "--refine", "3"]]
  data = (tmp_path / "out" / "crop_default-q2.lic").read_bytes()
  assert int(rows[0][4]) == len(data)
  reconstruction, _ = image_io.read_image(str(tmp_path / "out" / "crop_default-q2_lic_jax.png"))
  assert np.array_equal(lic_jax.load_model("default-q2").decompress(data), reconstruction)


def test_missing_bundled_model_is_a_clear_error(tmp_path, capsys, monkeypatch):
  missing = str(tmp_path / "assets" / "default-q1")
  monkeypatch.setitem(model_dir.BUNDLED, "default-q1", missing)
  with pytest.raises(model_dir.ModelDirError, match="incomplete"):
    demo.run(out_dir=str(tmp_path / "out"))
  # The command line: one line on stderr, exit status 1, nothing coded.
  assert cli.main(["demo", "--out-dir", str(tmp_path / "out")]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: the bundled model default-q1") and missing in err
  assert "--model DIR" in err and "Traceback" not in err
  assert not os.path.exists(tmp_path / "out")  # nothing written, not even the folder


def test_missing_bundled_photo_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(demo, "DEFAULT_IMAGE", str(tmp_path / "holdout.png"))
  with pytest.raises(image_io.ImageError, match="incomplete.*--image PATH"):
    demo.run(out_dir=str(tmp_path / "out"))
