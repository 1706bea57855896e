"""Released PyTorch checkpoints -> lic_jax parameters.

A state-dict key names a module path and a tensor. The module path maps to the Flax
path by one rule, a numeric index joins its parent (`g_a.analysis_transform.0.conv1`
-> `g_a/analysis_transform_0/conv1`), because lic_jax's modules are named after the
PyTorch ones. The tensor maps by the table below, which is also where every layout
change happens (PyTorch OIHW / (out, in) -> Flax HWIO / (in, out)).

Buffers that are constants of the architecture (GDN pedestals, lower bounds, the
relative position index, ...) are checked against the values lic_jax assumes, and
the compressai CDF tables are carried over as they are. Every key must be used and
every parameter filled; anything else is a `ConversionError` naming the keys.
"""
import math
import re

import jax
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from lic_jax import models
from lic_jax.entropy import factorized, gaussian
from lic_jax.nn.attention import relative_position_index

ARCHS = ("mlicpp", "mlicpp-old", "elic")


class ConversionError(ValueError):
  """The checkpoint cannot be converted; the message says why and what to do."""


# compressai >= 1.2.5 names of the entropy bottleneck's density parameters.
_EB_NEW_NAMES = re.compile(r"^entropy_bottleneck\.(matrices|biases|factors)\.(\d+)$")
_EB_OLD_NAMES = re.compile(r"^entropy_bottleneck\._(matrix|bias|factor)(\d+)$")
_EB_SINGULAR = {"matrices": "matrix", "biases": "bias", "factors": "factor"}

# CDF tables carried to the model directory as they are: state-dict key -> table name.
TABLE_KEYS = {
    "entropy_bottleneck._quantized_cdf": "z_quantized_cdf",
    "entropy_bottleneck._cdf_length": "z_cdf_length",
    "entropy_bottleneck._offset": "z_offset",
    "gaussian_conditional._quantized_cdf": "y_quantized_cdf",
    "gaussian_conditional._cdf_length": "y_cdf_length",
    "gaussian_conditional._offset": "y_offset",
    "gaussian_conditional.scale_table": "y_scale_table",
}

_PEDESTAL = (2.0 ** -18) ** 2


def _expected_buffer(key, config):
  """The value a constant buffer must hold, or None if `key` is not one."""
  if key.endswith("beta_reparam.pedestal") or key.endswith("gamma_reparam.pedestal"):
    return np.array([_PEDESTAL])
  if key.endswith("beta_reparam.lower_bound.bound"):
    return np.array([math.sqrt(1e-6 + _PEDESTAL)])
  if key.endswith("gamma_reparam.lower_bound.bound"):
    return np.array([math.sqrt(_PEDESTAL)])
  if key.endswith("likelihood_lower_bound.bound"):
    return np.array([gaussian.LIKELIHOOD_BOUND])
  if key in ("gaussian_conditional.lower_bound_scale.bound", "gaussian_conditional.scale_bound"):
    return np.array([gaussian.SCALE_BOUND])
  if key == "entropy_bottleneck.target":
    target = math.log(2 / factorized.TAIL_MASS - 1)
    return np.array([-target, 0.0, target])
  if key.endswith("relative_position_index"):
    return relative_position_index(config.window)
  return None


def flax_path(module_path):
  """'g_a.analysis_transform.0.conv1' -> ('g_a', 'analysis_transform_0', 'conv1')."""
  out = []
  for token in module_path.split("."):
    if token.isdigit() and out:
      out[-1] = f"{out[-1]}_{token}"
    else:
      out.append(token)
  return tuple(out)


def _convert_tensor(key, value):
  """(flax path, array) for a parameter tensor, with the layout change it needs."""
  eb = _EB_OLD_NAMES.match(key)
  if eb:
    return ("entropy_bottleneck", f"{eb.group(1)}_{eb.group(2)}"), value
  module, _, name = key.rpartition(".")
  path = flax_path(module)
  # Conv2d: OIHW -> HWIO. ConvTranspose2d (ELIC's g_s, h_s): (in, out, kh, kw) ->
  # (kh, kw, out, in), what Flax's ConvTranspose(transpose_kernel=True) holds (it
  # flips the kernel itself), so both take the same permutation.
  if name == "weight" and value.ndim == 4:
    return path + ("kernel",), value.transpose(2, 3, 1, 0)
  if name == "weight" and value.ndim == 2:     # Linear: (out, in) -> (in, out)
    return path + ("kernel",), value.T
  if name == "weight" and value.ndim == 1:     # LayerNorm
    return path + ("scale",), value
  # bias, GDN beta/gamma (kept reparametrised), EB quantiles, the position bias table.
  return path + (name,), value


def normalize_keys(state_dict):
  """Strips a DataParallel `module.` prefix and renames compressai >= 1.2.5 entropy
  bottleneck keys to the <= 1.2.4 names of the released files."""
  out = {}
  for key, value in state_dict.items():
    if key.startswith("module."):
      key = key[len("module."):]
    match = _EB_NEW_NAMES.match(key)
    if match:
      key = f"entropy_bottleneck._{_EB_SINGULAR[match.group(1)]}{match.group(2)}"
    out[key] = value
  return out


def detect_arch(state_dict):
  """'mlicpp', 'mlicpp-old' or 'elic' from which keys exist.

  ELIC's local context is a plain conv (`local_context.0.weight`) and its g_a ends in
  a conv at index 13; MLIC++'s local context is attention (`...qkv_proj`), its g_a ends
  at index 6.
  """
  if "local_context.0.weight" in state_dict and (
      "g_a.analysis_transform.13.weight" in state_dict):
    return "elic"
  if "g_a.analysis_transform.6.weight" not in state_dict or (
      "local_context.0.qkv_proj.weight" not in state_dict):
    raise ConversionError("the state dict has neither the MLIC++ layout (g_a.analysis_transform"
                          ".6.weight, local_context.0.qkv_proj.weight) nor the ELIC layout "
                          "(g_a.analysis_transform.13.weight, local_context.0.weight)")
  return "mlicpp-old" if "g_s.synthesis_transform.0.skip.weight" in state_dict else "mlicpp"


def infer_config(arch, state_dict):
  """The config from tensor shapes. MLIC++: N, M, slice_num, window, heads; ELIC: N, M
  and the slice widths (the input channels of each `local_context.{i}` conv)."""
  try:
    slice_num = 1 + max(int(m.group(1)) for m in
                        (re.match(r"local_context\.(\d+)\.", k) for k in state_dict) if m)
    if arch == "elic":
      # ELIC's `quant` is a training choice not stored in the weights; 'ste' is the
      # released models' setting.
      return models.ELICConfig(
          N=int(state_dict["g_a.analysis_transform.0.weight"].shape[0]),
          M=int(state_dict["g_a.analysis_transform.13.weight"].shape[0]),
          slice_widths=tuple(int(state_dict[f"local_context.{i}.weight"].shape[1])
                             for i in range(slice_num)))
    table = state_dict["local_context.0.relative_position_table"]
    return models.MLICPlusPlusConfig(
        N=int(state_dict["g_a.analysis_transform.0.conv1.weight"].shape[0]),
        M=int(state_dict["g_a.analysis_transform.6.weight"].shape[0]),
        slice_num=slice_num,
        old=arch == "mlicpp-old",
        window=int(round((math.sqrt(table.shape[0]) + 1) / 2)),
        local_heads=int(table.shape[1]))
  except (KeyError, ValueError, IndexError) as e:
    raise ConversionError(f"cannot infer the {arch} config from the checkpoint: missing or "
                          f"malformed {e}") from e


def convert_state_dict(state_dict, arch="auto"):
  """numpy state dict -> (arch, config, params, tables). Strict: see module doc."""
  state_dict = normalize_keys(state_dict)
  detected = detect_arch(state_dict)
  if arch == "auto":
    arch = detected
  elif arch != detected:
    raise ConversionError(f"--arch {arch} was asked for, but the keys are those of {detected}")
  config = infer_config(arch, state_dict)
  model = models.build(arch, config)
  expected = flatten_dict(jax.eval_shape(model.init, jax.random.PRNGKey(0),
                                         np.zeros((1, 64, 64, 3), np.float32))["params"])

  params, tables, unused, bad_values = {}, {}, [], []
  for key, value in state_dict.items():
    if key in TABLE_KEYS:
      tables[TABLE_KEYS[key]] = value
      continue
    constant = _expected_buffer(key, config)
    if constant is not None:
      if value.shape != constant.shape or not np.allclose(value, constant, rtol=1e-6, atol=0):
        bad_values.append(key)
      continue
    path, array = _convert_tensor(key, value)
    if path not in expected:
      unused.append(key)
      continue
    if array.shape != tuple(expected[path].shape):
      bad_values.append(f"{key} (shape {tuple(value.shape)}, lic_jax expects "
                        f"{tuple(expected[path].shape)} as {'/'.join(path)})")
      continue
    params[path] = np.asarray(array, np.float32)

  missing = sorted("/".join(p) for p in expected if p not in params)
  problems = []
  if unused:
    problems.append(f"{len(unused)} checkpoint key(s) have no place in {arch}: "
                    + ", ".join(sorted(unused)))
  if missing:
    problems.append(f"{len(missing)} {arch} parameter(s) are not in the checkpoint: "
                    + ", ".join(missing))
  if bad_values:
    problems.append("unexpected shapes or constant values: " + ", ".join(bad_values))
  absent_tables = sorted(k for k, v in TABLE_KEYS.items() if v not in tables)
  if absent_tables:
    problems.append("missing entropy-coder buffers: " + ", ".join(absent_tables))
  if problems:
    raise ConversionError("cannot convert this checkpoint:\n  " + "\n  ".join(problems))
  return arch, config, unflatten_dict(params), tables


def load_torch_state_dict(path):
  """Reads a .pth/.pth.tar with torch.load(weights_only=True): released dict format
  ({'state_dict': ...}) or a bare state dict. Returns {key: numpy array}."""
  try:
    import torch
  except ImportError as e:
    raise ConversionError("reading PyTorch checkpoints needs torch: "
                          "pip install 'lic_jax[convert]'") from e
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except FileNotFoundError:
    raise ConversionError(f"{path}: no such file")
  except Exception as e:  # torch raises many types for a bad file.
    raise ConversionError(f"{path} is not a readable PyTorch checkpoint "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e
  if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
    obj = obj["state_dict"]
  if not isinstance(obj, dict) or not obj or not all(
      isinstance(v, torch.Tensor) for v in obj.values()):
    raise ConversionError(f"{path} holds no state dict (expected a dict of tensors, "
                          "or {'state_dict': ...} as in the released files)")
  return {k: v.detach().cpu().numpy() for k, v in obj.items()}
