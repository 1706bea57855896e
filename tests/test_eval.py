"""eval.py end to end: real-bitstream evaluation of a converted model on three
photos (its JSON, plot, table and saved reconstructions against golden results and
the written files), the default model beside JPEG and WebP, refinement, an
autoregressive model, and every user error as one clear line.

Over 250 lines: the tests share one session-scoped evaluation of the real model
(one padded shape, so one compile), which a split would run again per file.
"""
import io
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, REPO, assert_clean_error, run_eval
from test_classic import pillow_file
from test_evaluation_report import pchip_bd_rate
from lic_jax import bitstream, image_io, metrics
from lic_jax.evaluation import anchors, classic, plots, runner

sys.path.insert(0, REPO)
import eval as eval_cli  # noqa: E402  (the CLI at the repository root)

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                      "eval_golden_mlicpp_small.json")
# Not the whole file's bpp: that adds the header, which follows the stream format
# (test_bpp_is_the_size_of_the_written_file checks it against the written file).
GOLDEN_KEYS = ("bpp-strings", "bpp-estimate", "psnr-rgb", "ms-ssim-rgb")


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
  for axis in ("PSNR", "MS-SSIM"):
    assert "BD-rate is given with --kodak only" in document["bd_rate"]["mlicpp"][axis]["note"]
  from lic_jax.evaluation import report
  assert report.bd_rate_lines(document["bd_rate"]) == [
      "BD-rate against VTM (CompressAI): n/a (the anchors are Kodak results; BD-rate is "
      "given with --kodak only)"]


def test_bpp_is_the_size_of_the_written_file(photo_eval):
  for name, row in rows(photo_eval).items():
    stem = os.path.join(photo_eval["saved"], os.path.splitext(name)[0])
    size = os.path.getsize(stem + ".lic")
    h, w = PHOTOS[name]
    assert (row["height"], row["width"]) == (h, w)
    assert row["bpp"] == 8 * size / (h * w)
    with open(stem + ".lic", "rb") as f:
      info = bitstream.info(f.read())
    assert row["string_bytes"] == info["string_bytes"]
    assert list(info["string_bytes"]) == ["z", *(f"y{k}" for k in range(6))]  # 3 groups
    assert row["bpp-strings"] == 8 * sum(info["string_bytes"].values()) / (h * w)
    assert row["bpp-strings"] < row["bpp"]
    assert size == info["header_bytes"] + sum(info["string_bytes"].values()) + 4  # + the CRC


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


def test_round_trip_matches_forward_and_the_stream_decodes(photo_eval):
  codec = runner.load_codec(photo_eval["model"])  # the run's own codec (cached, compiled)
  for name, row in rows(photo_eval).items():
    assert row["roundtrip"] is True
    stem = os.path.join(photo_eval["saved"], os.path.splitext(name)[0])
    with open(stem + ".lic", "rb") as f:
      decoded = codec.decompress(f.read())
    np.testing.assert_array_equal(decoded, np.asarray(Image.open(stem + ".png")))
  assert photo_eval["json"]["models"][0]["averages"]["roundtrip"] is True


def test_times_exclude_the_compile(photo_eval):
  model = photo_eval["json"]["models"][0]
  # One padded shape: only the first image compiles (or loads its programs from the
  # cache, which takes seconds too), and its times leave that out: it codes about as
  # fast as the two after it.
  images = model["images"]
  assert [r["first_of_shape"] for r in images] == [True, False, False]
  seconds = [r["encoding_time"] + r["decoding_time"] for r in images]
  assert model["compile_time"] > 1.0
  assert seconds[0] < 2 * max(seconds[1:]) + 0.5 < model["compile_time"] + seconds[0]


def test_plot_has_anchors_and_the_curve(photo_eval):
  with Image.open(photo_eval["dir"] / "rd.png") as img:
    assert img.format == "PNG" and img.width > 800 and img.height > 400
  # The same call eval.py makes, returning the legend's labels.
  document = photo_eval["json"]
  curve = {"name": "mlicpp", **{k: document["results"][k] for k in ("bpp", "psnr-rgb",
                                                                     "ms-ssim-rgb")}}
  labels = plots.plot_rd([curve], anchors.load_all(), str(photo_eval["dir"] / "again.png"),
                         "title")
  assert labels == [f"{anchors.load(key)['name']}, Kodak" for key in anchors.CLASSIC] + [
      "MLIC++ (published), Kodak", "ELIC (published), Kodak"] + [
      f"{key} (CompressAI), Kodak" for key in anchors.ZOO + anchors.ZOO_VARIABLE_RATE] + [
      "mlicpp"]
  # With BD-rates (as eval.py draws them): each beside its label, the anchor marked.
  from lic_jax.evaluation import report
  bd = report.published_bd_rates("vtm")
  labels = plots.plot_rd([curve], anchors.load_all(), str(photo_eval["dir"] / "bd.png"),
                         "title", bd, "vtm")
  elic = bd["ELIC (published)"]
  assert labels[0] == "VTM (CompressAI), Kodak [BD-rate anchor]"
  assert (f"ELIC (published), Kodak [{elic['PSNR']['bd_rate']:+.1f}% / "
          f"{elic['MS-SSIM']['bd_rate']:+.1f}%]") in labels
  mlicpp = bd["MLIC++ (published)"]
  assert f"MLIC++ (published), Kodak [{mlicpp['PSNR']['bd_rate']:+.1f}% / n/a]" in labels
  assert labels[-1] == "mlicpp"  # no BD-rate off Kodak


def test_estimate_mode_agrees_with_the_coded_run(photo_eval, photos, capsys, tmp_path):
  status, out, _ = run_eval(capsys, "--dataset", photos, "--model", photo_eval["model"],
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


def test_table_on_stdout(photo_eval, photos, capsys):
  status, out, _ = run_eval(capsys, "--dataset", photos, "--model", photo_eval["model"],
                            "--no-check")
  assert status == 0
  for name in PHOTOS:
    assert name in out
  assert "average (3)" in out and "bpp(str)" in out and "compile" in out


# ---------------------------------------------------------------- clear errors

def test_missing_dataset(capsys, tmp_path):
  status, _, err = run_eval(capsys, "--dataset", tmp_path / "nope", "--model", tmp_path)
  assert_clean_error(status, err, "does not exist")


def test_empty_dataset(capsys, tmp_path):
  (tmp_path / "sub").mkdir()
  status, _, err = run_eval(capsys, "--dataset", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "no images in", "--recursive")


def test_non_image_files_are_named(capsys, tmp_path, photos):
  image_io.write_png(str(tmp_path / "fine.png"), np.zeros((8, 8, 3), np.uint8))
  (tmp_path / "notes.txt").write_text("not an image")
  with open(os.path.join(photos, "a_128x192.png"), "rb") as f:
    (tmp_path / "cut.png").write_bytes(f.read()[:500])  # a truncated PNG
  status, _, err = run_eval(capsys, "--dataset", tmp_path, "--model", tmp_path)
  assert_clean_error(status, err, "notes.txt", "cut.png", "not images")
  assert "fine.png" not in err


def test_refined_evaluation_round_trips(capsys, tmp_path, photos):
  """--refine: each image's latents refined before coding, the round trip checked
  against forward from those latents (the bundled model records its lambda)."""
  status, _, err = run_eval(capsys, "--dataset", photos, "--model", "default", "--qualities", 7,
                            "--refine", 20, "--json", tmp_path / "rd.json")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    model = json.load(f)["models"][0]
  assert model["refine_steps"] == 20 and model["name"] == "elic-vbr+refine20"
  assert [row["roundtrip"] for row in model["images"]] == [True] * len(PHOTOS)
  assert all(abs(row["bpp-estimate"] - row["bpp"]) < 0.1 * row["bpp"] + 0.05
             for row in model["images"])


def test_default_is_a_curve_beside_the_classic_codecs(capsys, tmp_path, photos):
  """--model default --qualities 3 7: the bundled variable-rate model at two
  qualities, one curve named "default"; --classic: JPEG, WebP, AVIF, JPEG XL, HEIF and
  JPEG 2000 per image at the smallest file of at least our size (the reported setting
  re-encoded with Pillow gives those bytes and that PSNR; the setting before it gives a
  smaller file than ours)."""
  status, out, err = run_eval(capsys, "--dataset", photos, "--model", "default", "--qualities",
                              3, 7, "--classic", "--json", tmp_path / "rd.json", "--plot",
                              tmp_path / "rd.png")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    document = json.load(f)
  models = document["models"]
  assert [(m["model"], m["quality"], m["name"]) for m in models] == [
      ("default", 3, "default"), ("default", 7, "default")]
  assert models[0]["averages"]["bpp"] < models[1]["averages"]["bpp"]
  assert models[0]["averages"]["psnr-rgb"] < models[1]["averages"]["psnr-rgb"]
  for model in models:
    for row in model["images"]:
      assert row["roundtrip"]
      image, _ = image_io.read_image(os.path.join(photos, row["image"]))
      for codec in classic.CODECS.values():
        setting = row[f"{codec.key}-setting"]
        assert row[f"{codec.key}-bytes"] >= row["bytes"]
        index = codec.settings.index(setting)
        chosen, previous = (pillow_file(image, codec, codec.settings[i]) if i >= 0 else None
                            for i in (index, index - 1))
        assert len(chosen) == row[f"{codec.key}-bytes"], codec.name
        # The setting before: too small, or no smaller (sizes are not always monotone).
        assert previous is None or not row["bytes"] <= len(previous) < len(chosen)
        decoded = np.asarray(Image.open(io.BytesIO(chosen)).convert("RGB"))
        assert row[f"{codec.key}-psnr-rgb"] == pytest.approx(
            metrics.psnr(metrics.mse_uint8(image, decoded), 255.0), abs=1e-9)
    for codec in classic.CODECS.values():
      assert model["averages"][f"{codec.key}-bpp"] == pytest.approx(
          np.mean([row[f"{codec.key}-bpp"] for row in model["images"]]))
  assert out.count("averages (gap: the codec's PSNR and MS-SSIM minus lic_jax's)") == 2
  avif = models[1]["averages"]
  assert (f"  AVIF       bpp {avif['avif-bpp']:.4f}  PSNR {avif['avif-psnr-rgb']:.3f}  MS-SSIM "
          f"{avif['avif-ms-ssim-rgb']:.5f}   gap {avif['avif-psnr-rgb'] - avif['psnr-rgb']:+.2f} dB"
          ) in out
  # Per image: a column per codec.
  assert "  image" in out and "JPEG XL" in out and "JPEG 2000" in out
  labels = [c for c in document["curves"]]
  assert [c["name"] for c in labels] == ["default"]
  assert os.path.getsize(tmp_path / "rd.png") > 0
  with pytest.raises(SystemExit):
    eval_cli.parse_args(["--dataset", photos, "--model", "default", "--classic", "--estimate"])


def test_a_classic_codec_not_installed_is_skipped_with_a_line(monkeypatch, capsys, tmp_path,
                                                               photos):
  monkeypatch.setitem(sys.modules, "pillow_jxl", None)
  status, out, err = run_eval(capsys, "--dataset", photos, "--model", "default", "--qualities",
                              5, "--classic", "--json", tmp_path / "rd.json")
  assert status == 0, err
  assert ("eval.py: note: JPEG XL: this codec needs pillow_jxl, which is not installed: pip "
          "install 'lic_jax[classic]' (from a checkout: pip install -e '.[classic]'); "
          "skipped") in err
  assert "Traceback" not in err
  with open(tmp_path / "rd.json") as f:
    averages = json.load(f)["models"][0]["averages"]
  assert "jpeg-xl-bpp" not in averages and "avif-bpp" in averages and "heif-bpp" in averages


def test_classic_codecs_by_name(capsys, tmp_path, photos):
  status, _, err = run_eval(capsys, "--dataset", photos, "--model", "default", "--qualities",
                            5, "--classic", "webp", "jpeg-2000", "--json", tmp_path / "rd.json")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    averages = json.load(f)["models"][0]["averages"]
  assert {key.rsplit("-bpp")[0] for key in averages if key.endswith("-bpp")} == {
      "webp", "jpeg-2000"}
  with pytest.raises(SystemExit):
    eval_cli.parse_args(["--dataset", photos, "--model", "default", "--classic", "png"])


def test_refine_needs_a_lambda_and_coded_mode(capsys, model_dirs, photos):
  model = model_dirs("mlicpp_small")  # converted: no training lambda recorded
  status, _, err = run_eval(capsys, "--dataset", photos, "--model", model, "--refine", 2)
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
  status, _, err = run_eval(capsys, "--dataset", photos, "--model", model)
  assert_clean_error(status, err, str(model))



def test_an_autoregressive_model_evaluates_like_any(model_dirs, photos, capsys, tmp_path):
  """cheng2020-anchor (whose forward differs from its decoding by design): the round
  trip is checked against the encoder's own reconstruction, and holds."""
  model = model_dirs("compressai/cheng2020_anchor_small")
  status, out, err = run_eval(capsys, "--dataset", photos, "--model", model,
                              "--json", tmp_path / "rd.json")
  assert status == 0, err
  assert "MISMATCH" not in out
  with open(tmp_path / "rd.json") as f:
    result = json.load(f)["models"][0]
  assert result["arch"] == "cheng2020-anchor"
  assert [row["roundtrip"] for row in result["images"]] == [True] * len(PHOTOS)


def test_progressive_curve_of_a_model_with_channel_groups(model_dirs, photos, capsys, tmp_path):
  """--progressive: per image and averaged, the file cut after each group (bytes of
  the header, z and the groups' strings), decoded; the last point is the whole file."""
  status, out, err = run_eval(capsys, "--dataset", photos, "--model", model_dirs("elic_small"),
                              "--progressive", "--json", tmp_path / "rd.json")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    model = json.load(f)["models"][0]
  for row in model["images"]:
    curve = row["progressive"]
    assert [p["groups"] for p in curve] == list(range(len(curve))) and len(curve) == 5
    assert curve[-1]["bytes"] == row["bytes"] and curve[-1]["psnr-rgb"] == row["psnr-rgb"]
    sizes = list(row["string_bytes"].values())
    assert [p["bytes"] for p in curve[:-1]] == [
        row["header_bytes"] + sum(sizes[:1 + 2 * k]) for k in range(4)]
  averaged = model["progressive"]
  assert averaged[-1]["bpp"] == pytest.approx(model["averages"]["bpp"])
  assert np.all(np.diff([p["bpp"] for p in averaged]) > 0)
  assert "progressive decoding (elic_small, averaged over the images)" in out
  with pytest.raises(SystemExit):
    eval_cli.parse_args(["--dataset", photos, "--model", "m", "--progressive", "--estimate"])
  assert "--progressive decodes parts of streams: it needs coded mode" in capsys.readouterr().err


def test_kodak_reports_bd_rates_against_vtm(monkeypatch, capsys, tmp_path, photos):
  """--kodak: each curve's BD-rate against VTM, PSNR and MS-SSIM, in the summary, the
  JSON and beside the classic codecs' curves (Kodak itself is not here: its checks
  are bypassed to run the report on three photos)."""
  from lic_jax.evaluation import datasets, report
  paths = sorted(os.path.join(photos, name) for name in os.listdir(photos))
  monkeypatch.setattr(datasets, "find_kodak", lambda folder: photos)
  monkeypatch.setattr(datasets, "verify_kodak", lambda folder: paths)
  status, out, err = run_eval(capsys, "--kodak", "--model", "default", "--classic",
                              "--json", tmp_path / "rd.json")
  assert status == 0, err
  with open(tmp_path / "rd.json") as f:
    document = json.load(f)
  bd = document["bd_rate"]
  assert set(bd) == {"default", *(f"{c.name} (at default's sizes)"
                                  for c in classic.CODECS.values())}
  assert document["anchor"] == "vtm"
  vtm = anchors.load("vtm")["results"]
  points = report.curve_points(document["models"])[0]
  for axis, key in (("PSNR", "psnr-rgb"), ("MS-SSIM", "ms-ssim-rgb")):
    db = (lambda v: v) if axis == "PSNR" else metrics.ms_ssim_db
    ours, theirs = [db(v) for v in points[key]], [db(v) for v in vtm[key]]
    if max(ours) <= min(theirs):  # small crops: below VTM's lowest Kodak PSNR
      assert bd["default"][axis]["bd_rate"] is None
      assert "do not overlap" in bd["default"][axis]["note"]
    else:
      assert bd["default"][axis]["bd_rate"] == pytest.approx(pchip_bd_rate(
          vtm["bpp"], theirs, points["bpp"], ours))
  assert bd["default"]["MS-SSIM"]["bd_rate"] is not None
  assert "BD-rate against VTM (CompressAI), Kodak (PCHIP" in out
  assert f"MS-SSIM {bd['default']['MS-SSIM']['bd_rate']:+.2f}%" in out

