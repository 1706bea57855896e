"""The converter: full-size key coverage, accepted key variants, clear errors."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, converted, reference_path, state_dict
from lic_jax import conversion
from lic_jax.models import registry


def manifest_state_dict(name):
  """A state dict with the manifest's shapes: zero-cost broadcast zeros, and the
  values the converter checks for the architecture's constant buffers."""
  with open(reference_path(name)) as f:
    manifest = json.load(f)
  spec = registry.get("mlicpp")
  config = spec.make_config("full")
  out = {}
  for key, entry in manifest["state_dict"].items():
    constant = conversion._expected_buffer(key, config, spec.converter)
    if constant is not None:
      out[key] = constant.astype(entry["dtype"])
    else:
      out[key] = np.broadcast_to(np.zeros((), entry["dtype"]), entry["shape"])
  return manifest, out


@pytest.mark.parametrize("name,arch,old", [("mlicpp_keys.json", "mlicpp", False),
                                           ("mlicpp_old_keys.json", "mlicpp-old", True)])
def test_full_size_manifest_maps_onto_full_size_model(name, arch, old):
  manifest, sd = manifest_state_dict(name)
  got_arch, config, params, tables = conversion.convert_state_dict(sd)
  assert got_arch == arch
  assert (config.N, config.M, config.slice_num, config.old) == (192, 320, 10, old)
  n_params = sum(np.size(p) for p in jax.tree_util.tree_leaves(params))
  # Every float parameter of the manifest lands in params; the rest are buffers.
  manifest_params = sum(e["numel"] for e in manifest["state_dict"].values()
                        if e["kind"] == "parameter")
  assert n_params == manifest_params == manifest["num_parameters_total"]
  assert tables["y_quantized_cdf"].shape == (64, 3133)


def test_key_variants_are_accepted():
  """`module.` prefixes and compressai >= 1.2.5 entropy-bottleneck names convert to
  the same parameters as the released names."""
  sd = state_dict("mlicpp_old_small")
  renamed = {}
  for key, value in sd.items():
    for old, new in (("._matrix", ".matrices."), ("._bias", ".biases."),
                     ("._factor", ".factors.")):
      if key.startswith("entropy_bottleneck" + old):
        key = key.replace(old, new)
    renamed["module." + key] = value
  _, _, params, _ = conversion.convert_state_dict(renamed)
  _, _, reference, _ = converted("mlicpp_old_small")
  leaves = jax.tree_util.tree_leaves
  assert all(np.array_equal(a, b) for a, b in zip(leaves(params), leaves(reference)))


def test_mixed_key_styles_are_refused_with_the_keys_named():
  sd = state_dict("mlicpp_old_small")
  sd["entropy_bottleneck.matrices.1"] = sd.pop("entropy_bottleneck._matrix1")
  with pytest.raises(conversion.ConversionError, match="mix styles") as error:
    conversion.convert_state_dict(sd)
  assert "entropy_bottleneck.matrices.1" in str(error.value)
  assert "compressai <= 1.2.4: entropy_bottleneck._bias0" in str(error.value)


def test_every_registered_converter_is_found_by_the_registry():
  """Auto-detection tries every registered model; each fixture is recognised by
  exactly its own (the recognisers are disjoint on these files)."""
  for name, arch in (("mlicpp_small", "mlicpp"), ("mlicpp_old_small", "mlicpp-old"),
                     ("elic_small", "elic")):
    sd = conversion.normalize_keys(state_dict(name))
    assert [spec.name for spec in registry.specs()
            if spec.converter and spec.converter.recognize(sd)] == [arch]


def test_missing_and_extra_keys_are_named():
  sd = state_dict("mlicpp_small")
  del sd["local_context.1.proj.bias"]
  sd["g_a.analysis_transform.9.weight"] = np.zeros((3, 3, 3, 3), np.float32)
  with pytest.raises(conversion.ConversionError) as error:
    conversion.convert_state_dict(sd)
  message = str(error.value)
  assert "g_a.analysis_transform.9.weight" in message
  assert "local_context_1/proj/bias" in message


def test_wrong_arch_is_refused():
  with pytest.raises(conversion.ConversionError, match="mlicpp"):
    conversion.convert_state_dict(state_dict("mlicpp_small"), arch="mlicpp-old")


def _run_cli(*args):
  return subprocess.run([sys.executable, os.path.join(REPO, "convert.py"), *args],
                        capture_output=True, text=True, timeout=300)


def test_cli_converts_and_reports(tmp_path):
  out = tmp_path / "m"
  result = _run_cli(reference_path("mlicpp_old_small.pth.tar"), "--out", str(out))
  assert result.returncode == 0, result.stderr
  assert "mlicpp-old" in result.stdout and "parameters:" in result.stdout
  meta = json.loads((out / "lic_jax.json").read_text())
  assert meta["arch"] == "mlicpp-old" and meta["config"]["M"] == 64


def _truncated_copy(tmp_path):
  data = open(reference_path("mlicpp_old_small.pth.tar"), "rb").read()
  path = tmp_path / "truncated.pth.tar"
  path.write_bytes(data[: len(data) // 2])
  return path


def _edited_copy(tmp_path):
  import torch
  sd = {k: torch.from_numpy(np.array(v)) for k, v in state_dict("mlicpp_old_small").items()}
  del sd["h_a.reduction.0.bias"]
  sd["h_a.reduction.10.bias"] = torch.zeros(3)
  path = tmp_path / "edited.pth.tar"
  torch.save({"epoch": 1, "state_dict": sd}, path)
  return path


@pytest.mark.parametrize("make_input,expected", [
    (lambda tmp: tmp / "missing.pth.tar", "no such file"),
    (lambda tmp: (tmp / "notes.txt").write_text("not a checkpoint") and tmp / "notes.txt",
     "not a readable PyTorch checkpoint"),
    (_truncated_copy, "not a readable PyTorch checkpoint"),
    pytest.param(_edited_copy, "h_a.reduction.10.bias", marks=pytest.mark.torch),
])
def test_cli_bad_input_fails_clearly_and_writes_nothing(tmp_path, make_input, expected):
  path = make_input(tmp_path)
  out = tmp_path / "out"
  result = _run_cli(str(path), "--out", str(out))
  assert result.returncode == 1
  assert expected in result.stderr
  assert "Traceback" not in result.stderr
  assert not out.exists()
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".lic_jax-")]


def test_cli_elic_checkpoint_as_mlicpp_fails_clearly(tmp_path):
  out = tmp_path / "out"
  result = _run_cli(reference_path("elic_small.pth.tar"), "--out", str(out), "--arch", "mlicpp")
  assert result.returncode == 1 and "elic" in result.stderr.lower()
  assert "Traceback" not in result.stderr and not out.exists()
