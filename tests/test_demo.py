"""The quick-start demo (`python -m lic_jax demo`, README's first command), on a crop
of the bundled held-out photo to keep it quick: along the default model's curve (five
qualities) it prints lic_jax's plain encoder and each classic codec at least as large,
and writes streams that decode to the written reconstructions, the classic files the
table describes, the labelled picture (lowest and highest rate) and the curves. The
bundled model and photo always ship; without them the demo says the installation is
incomplete (it has no fallback)."""
import os

import numpy as np
import pytest
from PIL import Image

import lic_jax
from lic_jax import __main__ as cli
from lic_jax import demo, image_io, model_dir
from lic_jax.evaluation import classic, runner


def _table(printed):
  """{point: (lic_jax's row, {codec name: its row})} of the printed table; a point is
  "default q3", a row [setting or point, bytes, bpp, PSNR, MS-SSIM] as printed."""
  table = {}
  for line in printed.splitlines():
    if line.startswith("lic_jax "):
      point = " ".join(line.split()[1:3])
      table[point] = (line.split()[2:7], {})
    # "JPEG 2000" before "JPEG": the longest name that the line starts with.
    for name in sorted(classic.CODECS, key=len, reverse=True):
      if line.startswith(f"  {name} "):
        table[point][1][name] = line[len(name) + 3:].split()
        break
  return {point: (ours, dict(sorted(others.items(), key=lambda item: list(
      classic.CODECS).index(item[0])))) for point, (ours, others) in table.items()}


@pytest.fixture
def crop_file(tmp_path):
  pixels, _ = image_io.read_image(demo.DEFAULT_IMAGE)
  crop = np.ascontiguousarray(pixels[100:196, 200:328])
  image_io.write_png(str(tmp_path / "crop.png"), crop)
  return crop, str(tmp_path / "crop.png")


def test_demo_codes_compares_and_writes(tmp_path, capsys, crop_file):
  crop, image = crop_file
  out_dir = tmp_path / "out"
  demo.run(image=image, out_dir=str(out_dir))

  table = _table(capsys.readouterr().out)
  codec = lic_jax.load_model("default")
  # CURVE_POINTS qualities evenly over the model's range (1 to 10: 1, 3.25, ..., 10).
  qualities = np.linspace(*codec.qualities, demo.CURVE_POINTS)
  assert list(table) == [f"default q{q:g}" for q in qualities.round(2)]
  written = set(os.listdir(out_dir))
  reconstructions, rates = {}, []
  for point, (ours, others) in table.items():
    stem = "crop_" + point.replace(" ", "_")
    data = (out_dir / f"{stem}.lic").read_bytes()
    assert int(ours[1]) == len(data)
    reconstruction, _ = image_io.read_image(str(out_dir / f"{stem}_lic_jax.png"))
    reconstructions[point] = reconstruction
    assert np.array_equal(codec.decompress(data), reconstruction)
    assert data == codec.compress(crop, quality=float(point.split("q")[1]))
    psnr = runner.distortion(crop, reconstruction)["psnr-rgb"]
    assert float(ours[3]) == pytest.approx(psnr, abs=0.005)
    rates.append(len(data))
    assert list(others) == list(classic.CODECS)  # every codec (all installed for the tests)
    for name, row in others.items():
      other_codec = classic.CODECS[name]
      # e.g. crop_default_q1_avif_q7.avif
      file = f"{stem}_{other_codec.key}_{row[0]}.{other_codec.suffix}"
      assert file in written, (file, written)
      other = (out_dir / file).read_bytes()
      assert int(row[1]) == len(other) >= len(data)  # at least our size
      decoded, _ = image_io.read_image(str(out_dir / file))
      psnr = runner.distortion(crop, decoded)["psnr-rgb"]
      assert float(row[3]) == pytest.approx(psnr, abs=0.005)
  assert rates == sorted(rates) and len(set(rates)) == demo.CURVE_POINTS  # one curve, rising
  assert len(written) == demo.CURVE_POINTS * (2 + len(classic.CODECS)) + 2
  # At the lowest and the highest rate two rows, original | lic_jax | JPEG | WebP and
  # AVIF | JPEG XL | HEIF | JPEG 2000, each under a caption band whose text is drawn
  # (dark pixels on white).
  sheet, _ = image_io.read_image(str(out_dir / "crop_side_by_side.png"))
  row_height = sheet.shape[0] // 4
  band = row_height - 96
  assert sheet.shape == (4 * row_height, 4 * 128, 3) and band > 20
  for i, point in enumerate([f"default q{qualities[0]:g}", f"default q{qualities[-1]:g}"]):
    top = 2 * i * row_height
    assert np.array_equal(sheet[top + band:top + row_height, :128], crop)
    assert np.array_equal(sheet[top + band:top + row_height, 128:256], reconstructions[point])
  assert (sheet[:band, 128:256] < 100).any() and (sheet[:band, 128:256] > 250).mean() > 0.5
  with Image.open(out_dir / "crop_rd.png") as figure:  # the curves
    assert figure.format == "PNG" and figure.width > 800


def test_demo_with_refinement_at_one_quality(tmp_path, capsys, crop_file):
  """--refine: the refined stream is the one written, and it decodes to the written
  reconstruction; --qualities picks the points."""
  _, image = crop_file
  assert cli.main(["demo", "--qualities", "6.5", "--image", image, "--refine", "3",
                   "--out-dir", str(tmp_path / "out")]) == 0
  rows = [line.split() for line in capsys.readouterr().out.splitlines()
          if line.startswith("lic_jax ")]
  assert [row[:5] for row in rows] == [["lic_jax", "default", "q6.5", "--refine", "3"]]
  data = (tmp_path / "out" / "crop_default_q6.5.lic").read_bytes()
  assert int(rows[0][5]) == len(data)
  reconstruction, _ = image_io.read_image(str(tmp_path / "out" / "crop_default_q6.5_lic_jax.png"))
  assert np.array_equal(lic_jax.load_model("default").decompress(data), reconstruction)
  assert not (tmp_path / "out" / "crop_rd.png").exists()  # one point: no curve


def test_qualities_a_model_does_not_have_are_a_clear_error(tmp_path, capsys, crop_file,
                                                           model_dirs):
  _, image = crop_file
  top = lic_jax.load_model("default").qualities[1]
  for model, quality, message in ((None, str(top + 1), f"from 1 to {top}"),
                                  (model_dirs("mlicpp_small"), "3", "codes one rate")):
    argv = ["demo", "--qualities", quality, "--image", image, "--out-dir", str(tmp_path / "out")]
    assert cli.main(argv + (["--model", model] if model else [])) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
  assert not os.path.exists(tmp_path / "out")


def test_missing_bundled_model_is_a_clear_error(tmp_path, capsys, monkeypatch):
  missing = str(tmp_path / "assets" / "default")
  monkeypatch.setitem(model_dir.BUNDLED, "default", missing)
  with pytest.raises(model_dir.ModelDirError, match="incomplete"):
    demo.run(out_dir=str(tmp_path / "out"))
  # The command line: one line on stderr, exit status 1, nothing coded.
  assert cli.main(["demo", "--out-dir", str(tmp_path / "out")]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: the bundled model default") and missing in err
  assert "--model DIR" in err and "Traceback" not in err
  assert not os.path.exists(tmp_path / "out")  # nothing written, not even the folder


def test_missing_bundled_photo_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(demo, "DEFAULT_IMAGE", str(tmp_path / "holdout.png"))
  with pytest.raises(image_io.ImageError, match="incomplete.*--image PATH"):
    demo.run(out_dir=str(tmp_path / "out"))
