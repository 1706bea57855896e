"""lic_jax.evaluation.report, bdrate and anchors: BD-rates of evaluated and
published curves (against the bjontegaard package's figure), and the published
anchors with their sources."""
import json
import sys

import numpy as np
import pytest

from conftest import REPO, reference_path
from lic_jax.evaluation import anchors, bdrate, report

sys.path.insert(0, REPO)
import eval as eval_cli  # noqa: E402  (the CLI at the repository root)

# bjontegaard 1.3.0: bd_rate(elic bpp, elic psnr, mlicpp bpp, mlicpp psnr, method="pchip",
# require_matching_points=False) on the anchor files, computed once in a scratch env.
MLICPP_VS_ELIC = -8.352406011541625


def pchip_bd_rate(anchor_rates, anchor_psnrs, test_rates, test_psnrs):
  """BD-rate written out with scipy alone (lic_jax's own implementation before it used
  the package): log10(rate) interpolated by PCHIP over PSNR on each curve, their
  mean gap over the common PSNR range."""
  from scipy.interpolate import PchipInterpolator
  curves = []
  for rates, psnrs in ((anchor_rates, anchor_psnrs), (test_rates, test_psnrs)):
    order = np.argsort(psnrs)
    curves.append((np.asarray(psnrs)[order], np.log10(np.asarray(rates)[order])))
  low = max(c[0][0] for c in curves)
  high = min(c[0][-1] for c in curves)
  areas = [PchipInterpolator(q, r).integrate(low, high) for q, r in curves]
  return (10 ** ((areas[1] - areas[0]) / (high - low)) - 1) * 100


def _points(name, results):
  return {"name": name, **results}


def test_bd_rate_of_an_evaluated_curve_in_the_report():
  models = [{"name": "c", "model": f"m{i}", "arch": "x", "model_hash": "0", "mode": "coded",
             "compile_time": 0.0, "images": [],
             "averages": {"bpp": bpp, "psnr-rgb": psnr, "ms-ssim-rgb": msssim,
                          "roundtrip": True}}
            for i, (bpp, psnr, msssim) in enumerate([(0.45, 34.9, 0.984), (0.2, 30.5, 0.96)])]
  curves = report.curves(models)
  assert [m["model"] for m in curves[0]["models"]] == ["m1", "m0"]  # sorted by bpp
  points = report.curve_points(models)
  assert points == [{"name": "c", "bpp": [0.2, 0.45], "psnr-rgb": [30.5, 34.9],
                     "ms-ssim-rgb": [0.96, 0.984]}]
  bd = report.bd_rates(points, "vtm", comparable=True)["c"]
  vtm = anchors.load("vtm")["results"]
  assert bd["anchor"] == "VTM (CompressAI)" and bd["interpolation"] == "pchip"
  assert bd["PSNR"]["bd_rate"] == pytest.approx(
      pchip_bd_rate(vtm["bpp"], vtm["psnr-rgb"], [0.2, 0.45], [30.5, 34.9]), abs=1e-9)
  db = lambda values: [-10 * np.log10(1 - v) for v in values]
  assert bd["MS-SSIM"]["bd_rate"] == pytest.approx(
      pchip_bd_rate(vtm["bpp"], db(vtm["ms-ssim-rgb"]), [0.2, 0.45], db([0.96, 0.984])),
      abs=1e-9)
  document = report.build(models, estimate=False, dataset={}, bd={"c": bd}, anchor_key="vtm",
                          environment={})
  assert document["results"]["bpp"] == [0.45, 0.2]
  summary = report.summary(document)
  assert "BD-rate against VTM (CompressAI), Kodak (PCHIP" in summary
  assert (f"  c: PSNR {bd['PSNR']['bd_rate']:+.2f}% (overlap "
          f"{100 * bd['PSNR']['overlap']:.0f}%); MS-SSIM {bd['MS-SSIM']['bd_rate']:+.2f}%"
          ) in summary
  json.loads(report.to_json(document))


@pytest.mark.parametrize("key", anchors.ZOO + anchors.PUBLISHED)
def test_bd_rates_against_vtm_match_the_package_and_scipy(key):
  """Must show: each published curve's BD-rate against VTM as lic_jax reports it (eval.py
  --published) is the bjontegaard package's figure on CompressAI's own files (well
  within 0.1 percentage point; the same arithmetic), and scipy's PCHIP written out."""
  import bjontegaard
  reported = report.published_bd_rates("vtm")[anchors.load(key)["name"]]
  vtm, test = anchors.load("vtm")["results"], anchors.load(key)["results"]
  package = bjontegaard.bd_rate(vtm["bpp"], vtm["psnr-rgb"], test["bpp"], test["psnr-rgb"],
                                method="pchip", require_matching_points=False, min_overlap=0)
  assert reported["PSNR"]["bd_rate"] == pytest.approx(package, abs=0.1)
  assert reported["PSNR"]["bd_rate"] == pytest.approx(
      pchip_bd_rate(vtm["bpp"], vtm["psnr-rgb"], test["bpp"], test["psnr-rgb"]), abs=1e-9)
  if "ms-ssim-rgb" in test:
    assert reported["MS-SSIM"]["bd_rate"] is not None
  else:  # MLIC++'s release gives PSNR only
    assert reported["MS-SSIM"] == {"bd_rate": None, "note": "no ms-ssim-rgb points"}


def test_vtm_ranks_the_classic_codecs_as_the_field_knows():
  """Against VTM intra: HEVC (HM, BPG) and AV1 cost more bits, JPEG 2000 and WebP
  about double, JPEG more still; ELIC and MLIC++ fewer."""
  bd = {name: entry["PSNR"]["bd_rate"] for name, entry in report.published_bd_rates("vtm").items()}
  assert 10 < bd["AV1 (CompressAI)"] < bd["BPG 4:4:4 (CompressAI)"] < bd["HM (CompressAI)"] < 40
  assert 60 < bd["WebP (CompressAI)"] < bd["JPEG 2000 (CompressAI)"] < bd["JPEG (CompressAI)"]
  assert bd["MLIC++ (published)"] < bd["ELIC (published)"] < 0


def test_published_table_on_the_command_line(capsys):
  assert eval_cli.main(["--published", "--anchor", "vtm"]) == 0
  out = capsys.readouterr().out
  table = report.published_bd_rates("vtm")
  elic = table["ELIC (published)"]
  assert (f"| ELIC (published) | {elic['PSNR']['bd_rate']:+.2f}% | "
          f"{elic['MS-SSIM']['bd_rate']:+.2f}% |") in out
  assert out.count("\n| ") == len(anchors.NAMES) - 1 + 1  # header row + every other curve


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


def test_without_the_package_the_figure_says_what_to_install(monkeypatch):
  monkeypatch.setitem(sys.modules, "bjontegaard", None)
  entry = report.published_bd_rates("vtm")["ELIC (published)"]["PSNR"]
  assert entry == {"bd_rate": None, "note": (
      "BD-rate needs bjontegaard, which is not installed: pip install 'lic_jax[bdrate]' "
      "(from a checkout: pip install -e '.[bdrate]')")}


def test_single_point_curve_has_no_bd_rate():
  point = {"name": "m", "bpp": [0.3], "psnr-rgb": [32.0]}
  entry = report.bd_rates([point], "vtm", comparable=True)["m"]
  assert entry["PSNR"]["bd_rate"] is None and "at least 2" in entry["PSNR"]["note"]
  assert entry["MS-SSIM"] == {"bd_rate": None, "note": "no ms-ssim-rgb points"}


def test_anchor_data_and_sources():
  design = [(0.1075, 29.161), (0.1747, 30.714), (0.2721, 32.335), (0.4129, 34.170),
            (0.5923, 35.816), (0.8025, 37.323)]  # the authors' release, rounded to 3 decimals
  mlicpp = anchors.load("mlicpp")
  np.testing.assert_allclose(list(zip(mlicpp["results"]["bpp"], mlicpp["results"]["psnr-rgb"])),
                             design, atol=5e-4)
  elic = anchors.load("elic")
  assert len(elic["results"]["bpp"]) == len(elic["results"]["psnr-rgb"]) == 10
  assert len(anchors.NAMES) == len(set(anchors.NAMES)) == 18
  assert anchors.DEFAULT == "vtm"
  for anchor in anchors.load_all():
    assert anchor["dataset"] == "kodak" and anchor["metric"] == "psnr-rgb"
    assert anchor["source"]["repository"].startswith("https://github.com/")
    assert len(anchor["source"]["commit"]) == 40
    results = anchor["results"]
    assert all(len(results[k]) == len(results["bpp"]) for k in results)
    assert np.all(np.diff(results["bpp"]) > 0)
    assert np.all(np.diff(results["psnr-rgb"]) > 0)


# CompressAI's results/image/kodak files at 869a9f5 (2025-06): first and last points,
# (bpp, PSNR), as that file lists them.
CLASSIC_ENDS = {"vtm": ("vtm.json", 8), "hm": ("hm.json", 8),
                "bpg": ("bpg_444_x265_ycbcr.json", 8), "av1": ("av1.json", 12),
                "jpeg2000": ("jpeg2000.json", 19), "webp": ("webp.json", 19),
                "jpeg": ("jpeg.json", 19)}


@pytest.mark.parametrize("key", anchors.CLASSIC)
def test_classic_anchors_are_compressais_codec_curves(key):
  anchor = anchors.load(key)
  file, points = CLASSIC_ENDS[key]
  assert anchor["key"] == key and anchor["name"].endswith("(CompressAI)")
  assert anchor["source"]["path"] == f"results/image/kodak/{file}"
  assert anchor["source"]["commit"] == "869a9f5d4126d015b7de8f203fe60ee9e1608193"
  assert set(anchor["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb"}
  assert len(anchor["results"]["bpp"]) == points
  # VTM's lowest point, as CompressAI's vtm.json lists it (bpp, PSNR, MS-SSIM).
  if key == "vtm":
    assert [anchor["results"][k][0] for k in ("bpp", "psnr-rgb", "ms-ssim-rgb")] == [
        0.04824490017361111, 26.14484539430146, 0.8606081604957581]


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


@pytest.mark.parametrize("key", anchors.ZOO_VARIABLE_RATE)
def test_variable_rate_zoo_anchors_are_compressais_published_curves(key):
  """Each holds the 16 rates of CompressAI's <key>-ans.json, in rising bpp and PSNR."""
  anchor = anchors.load(key)
  assert anchor["key"] == key and anchor["source"]["path"] == f"results/image/kodak/{key}-ans.json"
  with open(reference_path(f"compressai/kodak_results/{key}-ans.json")) as f:
    published = json.load(f)["results"]
  assert set(anchor["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb"}
  for name, values in anchor["results"].items():
    assert values == published[name] and len(values) == 16, name
    assert values == sorted(values), name


def test_every_registered_models_anchor_exists():
  from lic_jax.models import registry
  assert {spec.anchor for spec in registry.specs()} - {None} <= set(anchors.NAMES)


def test_bd_rate_against_a_zoo_anchor():
  """Any anchor key works for --anchor: CompressAI's mbt2018 against its own
  bmshj2018-hyperprior needs fewer bits, and MLIC++ fewer still."""
  hyperprior = anchors.load("bmshj2018-hyperprior")["results"]
  points = [_points(key, anchors.load(key)["results"]) for key in ("mbt2018", "mlicpp")]
  bd = report.bd_rates(points, "bmshj2018-hyperprior", comparable=True)
  assert bd["mbt2018"]["anchor"] == "bmshj2018-hyperprior (CompressAI)"
  assert bd["mlicpp"]["PSNR"]["bd_rate"] < bd["mbt2018"]["PSNR"]["bd_rate"] < 0
  mbt = anchors.load("mbt2018")["results"]
  assert bd["mbt2018"]["PSNR"]["bd_rate"] == pytest.approx(pchip_bd_rate(
      hyperprior["bpp"], hyperprior["psnr-rgb"], mbt["bpp"], mbt["psnr-rgb"]), abs=1e-9)
  assert eval_cli.parse_args(["--kodak", "--model", "m", "--anchor", "cheng2020-attn"]).anchor == (
      "cheng2020-attn")
  assert eval_cli.parse_args(["--kodak", "--model", "m"]).anchor == "vtm"
