"""PyTorch state dicts -> lic_jax parameters, through each model's converter rules.

A state-dict key names a module path and a tensor. The module path maps to the Flax
path by one rule, a numeric index joins its parent (`g_a.analysis_transform.0.conv1`
-> `g_a/analysis_transform_0/conv1`), because lic_jax's modules are named after the
PyTorch ones. The tensor maps by `_convert_tensor`, which is also where every layout
change happens (PyTorch OIHW / (out, in) -> Flax HWIO / (in, out)).

Which model a state dict is, and its config, each registered model says
(`lic_jax.models.registry.Converter`); so does a model's own key renames and
constant buffers. Buffers that are constants of the architecture (GDN pedestals,
lower bounds, the bottleneck's target, ...) are checked against the values lic_jax
assumes, and the compressai CDF tables are carried over as they are. Every key must
be used and every parameter filled; anything else is a `ConversionError` naming the
keys.

Three key styles of compressai's EntropyBottleneck are read: <= 1.2.4
(`_matrix0`), >= 1.2.5 (`matrices.0`) and the zoo's published files (`_matrices.0`).
"""
import math
import re

import jax
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from lic_jax import torch_checkpoint
from lic_jax.entropy import factorized, gaussian
from lic_jax.latent import tables as latent_tables
from lic_jax.models import registry


class ConversionError(ValueError):
  """The checkpoint cannot be converted; the message says why and what to do."""


# The entropy bottleneck's density parameters in the three key styles; the first is
# the one lic_jax converts from.
_EB_STYLES = {
    "compressai <= 1.2.4": re.compile(r"^entropy_bottleneck\._(matrix|bias|factor)(\d+)$"),
    "compressai >= 1.2.5": re.compile(r"^entropy_bottleneck\.(matrices|biases|factors)\.(\d+)$"),
    "CompressAI zoo files": re.compile(
        r"^entropy_bottleneck\._(matrices|biases|factors)\.(\d+)$"),
}
_EB_SINGULAR = {"matrices": "matrix", "biases": "bias", "factors": "factor"}

_PEDESTAL = (2.0 ** -18) ** 2


def _expected_buffer(key, config, converter):
  """The value a constant buffer must hold, or None if `key` is not one."""
  if converter.constants is not None:
    value = converter.constants(key, config)
    if value is not None:
      return value
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
  eb = _EB_STYLES["compressai <= 1.2.4"].match(key)
  if eb:
    return ("entropy_bottleneck", f"{eb.group(1)}_{eb.group(2)}"), value
  module, _, name = key.rpartition(".")
  path = flax_path(module) if module else ()  # e.g. a variable-rate model's `Gain`
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
  """Strips a DataParallel `module.` prefix and renames the entropy bottleneck's keys
  to the compressai <= 1.2.4 style. A file mixing key styles is refused."""
  out, styles = {}, {}
  for key, value in state_dict.items():
    if key.startswith("module."):
      key = key[len("module."):]
    for style, pattern in _EB_STYLES.items():
      match = pattern.match(key)
      if match:
        styles.setdefault(style, []).append(key)
        name = _EB_SINGULAR.get(match.group(1), match.group(1))
        key = f"entropy_bottleneck._{name}{match.group(2)}"
    if key in out:
      raise ConversionError(f"two checkpoint keys both mean {key!r}")
    out[key] = value
  if len(styles) > 1:
    raise ConversionError(
        "the entropy bottleneck's keys mix styles; a checkpoint is written in one: "
        + "; ".join(f"{style}: {', '.join(sorted(keys)[:3])}" for style, keys in styles.items()))
  return out


def detect_arch(state_dict):
  """The name of the one registered model whose converter recognizes the keys."""
  found = [spec.name for spec in registry.specs()
           if spec.converter is not None and spec.converter.recognize(state_dict)]
  if len(found) == 1:
    return found[0]
  if found:
    raise ConversionError(f"the keys fit several models ({', '.join(found)}); pass --arch")
  expected = "; ".join(f"{spec.name}: {', '.join(spec.converter.signature)}"
                       for spec in registry.specs() if spec.converter is not None)
  raise ConversionError("the state dict is none of the registered models; each one's "
                        f"identifying keys: {expected}")


def infer_config(arch, state_dict):
  """The config of `arch` from the tensor shapes, by its converter's rule."""
  try:
    return registry.get(arch).converter.infer_config(state_dict)
  except (KeyError, ValueError, IndexError, AttributeError) as e:
    raise ConversionError(f"cannot infer the {arch} config from the checkpoint: missing or "
                          f"malformed {e}") from e


def convert_state_dict(state_dict, arch="auto"):
  """numpy state dict -> (arch, config, params, tables). Strict: see module doc."""
  state_dict = normalize_keys(state_dict)
  if arch == "auto":
    arch = detect_arch(state_dict)
  else:
    try:
      spec = registry.get(arch)
    except registry.UnknownModelError as e:
      raise ConversionError(str(e)) from None
    if spec.converter is None:
      raise ConversionError(f"{arch} has no converter rules (no released checkpoints)")
    if not spec.converter.recognize(state_dict):
      try:
        what = f"they are {detect_arch(state_dict)}'s"
      except ConversionError:
        missing = [k for k in spec.converter.signature if k not in state_dict]
        what = f"{arch}'s {', '.join(missing or spec.converter.signature)} do not fit"
      raise ConversionError(
          f"--arch {arch} was asked for, but the keys are not {arch}'s: {what} (the "
          f"checkpoint's modules: {_describe(state_dict)}); drop --arch to detect it")
  spec = registry.get(arch)
  converter = spec.converter
  if converter.rename is not None:
    state_dict = {converter.rename(k): v for k, v in state_dict.items()}
  if converter.prepare is not None:
    state_dict = converter.prepare(state_dict)
  config = infer_config(arch, state_dict)
  model = spec.build(config)
  expected = flatten_dict(jax.eval_shape(model.init, jax.random.PRNGKey(0),
                                         np.zeros((1, 64, 64, 3), np.float32))["params"])

  params, tables, unused, bad_values = {}, {}, [], []
  for key, value in state_dict.items():
    if key in converter.table_arrays:
      if np.size(value):  # stored empty (tables that depend on the rate): computed below
        tables[converter.table_arrays[key]] = value
      continue
    constant = _expected_buffer(key, config, converter)
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
  absent_tables = sorted(k for k in converter.table_arrays if k not in state_dict)
  if absent_tables:
    problems.append("missing entropy-coder buffers: " + ", ".join(absent_tables))
  if problems:
    raise ConversionError("cannot convert this checkpoint:\n  " + "\n  ".join(problems))
  params = unflatten_dict(params)
  if any(f"{stream}_quantized_cdf" not in tables for stream in model.latent_codec.streams()):
    # The tables of a stream that the file does not store are computed from the weights.
    tables = {**latent_tables.model_table_arrays(model, params), **tables}
  return arch, config, params, tables


def _describe(state_dict):
  """The first few top-level module names of a state dict, for error messages."""
  heads = sorted({k.split(".")[0] for k in state_dict})
  return ", ".join(heads[:8]) + (", ..." if len(heads) > 8 else "")


def load_torch_state_dict(path):
  """Reads a .pth/.pth.tar without torch (`lic_jax.torch_checkpoint`, which runs no
  code from the file): released dict format ({'state_dict': ...}) or a bare state
  dict. Returns {key: numpy array}."""
  try:
    obj = torch_checkpoint.read(path)
  except FileNotFoundError:
    raise ConversionError(f"{path}: no such file")
  except OSError as e:
    raise ConversionError(f"{path} cannot be read: {e.strerror or e}") from e
  except torch_checkpoint.CheckpointError as e:
    raise ConversionError(str(e)) from e
  if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
    obj = obj["state_dict"]
  if not isinstance(obj, dict) or not obj or not all(
      isinstance(v, np.ndarray) for v in obj.values()):
    raise ConversionError(f"{path} holds no state dict (expected a dict of tensors, "
                          "or {'state_dict': ...} as in the released files)")
  return dict(obj.items())
