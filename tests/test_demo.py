"""The quick-start demo (`python -m lic_jax demo`, README's first command), on a crop
of the bundled held-out photo to keep it quick: per operating point of the default
model it prints lic_jax's plain encoder and each classic codec at least as large, and
writes a stream that decodes to the written reconstruction, the classic files the
table describes, and the labelled picture. The bundled models and
photo always ship; without them the demo says the installation is incomplete (it has
no fallback)."""
import os

import numpy as np
import pytest

import lic_jax
from lic_jax import __main__ as cli
from lic_jax import demo, image_io, model_dir
from lic_jax.evaluation import classic, runner


def _table(printed):
  """{point: (lic_jax's row, {codec name: its row})} of the printed table; a row is
  [setting or point, bytes, bpp, PSNR, MS-SSIM] as printed."""
  table = {}
  for line in printed.splitlines():
    if line.startswith("lic_jax "):
      point = line.split()[1]
      table[point] = (line.split()[1:6], {})
    # "JPEG 2000" before "JPEG": the longest name that the line starts with.
    for name in sorted(classic.CODECS, key=len, reverse=True):
      if line.startswith(f"  {name} "):
        table[point][1][name] = line[len(name) + 3:].split()
        break
  return {point: (ours, dict(sorted(others.items(), key=lambda item: list(
      classic.CODECS).index(item[0])))) for point, (ours, others) in table.items()}


def test_demo_codes_compares_and_writes(tmp_path, capsys):
  pixels, _ = image_io.read_image(demo.DEFAULT_IMAGE)
  image = tmp_path / "crop.png"
  crop = np.ascontiguousarray(pixels[100:196, 200:328])
  image_io.write_png(str(image), crop)
  out_dir = tmp_path / "out"
  demo.run(image=str(image), out_dir=str(out_dir))

  table = _table(capsys.readouterr().out)
  assert list(table) == ["default-q1", "default-q2"]
  written = set(os.listdir(out_dir))
  reconstructions = []
  for point, (ours, others) in table.items():
    data = (out_dir / f"crop_{point}.lic").read_bytes()
    assert int(ours[1]) == len(data)
    reconstruction, _ = image_io.read_image(str(out_dir / f"crop_{point}_lic_jax.png"))
    reconstructions.append(reconstruction)
    assert np.array_equal(lic_jax.load_model(point).decompress(data), reconstruction)
    psnr = runner.distortion(crop, reconstruction)["psnr-rgb"]
    assert float(ours[3]) == pytest.approx(psnr, abs=0.005)
    assert list(others) == list(classic.CODECS)  # every codec (all installed for the tests)
    for name, row in others.items():
      codec = classic.CODECS[name]
      file = f"crop_{point}_{codec.key}_{row[0]}.{codec.suffix}"  # crop_default-q1_avif_q7.avif
      assert file in written, (file, written)
      other = (out_dir / file).read_bytes()
      assert int(row[1]) == len(other) >= len(data)  # at least our size
      decoded, _ = image_io.read_image(str(out_dir / file))
      psnr = runner.distortion(crop, decoded)["psnr-rgb"]
      assert float(row[3]) == pytest.approx(psnr, abs=0.005)
  assert len(written) == 2 * (2 + len(classic.CODECS)) + 1
  # Per point two rows, original | lic_jax | JPEG | WebP and AVIF | JPEG XL | HEIF |
  # JPEG 2000, each under a caption band whose text is drawn (dark pixels on white).
  sheet, _ = image_io.read_image(str(out_dir / "crop_side_by_side.png"))
  row_height = sheet.shape[0] // 4
  band = row_height - 96
  assert sheet.shape == (4 * row_height, 4 * 128, 3) and band > 20
  for point in range(2):
    top = 2 * point * row_height
    assert np.array_equal(sheet[top + band:top + row_height, :128], crop)
    assert np.array_equal(sheet[top + band:top + row_height, 128:256], reconstructions[point])
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
