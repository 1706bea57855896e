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

