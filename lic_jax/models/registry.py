"""The model registry: each model family describes itself in one file.

A family's module (a file in `lic_jax/models/`, or a user's own module) calls
`register(ModelSpec(...))` once per architecture name. Everything else (convert.py,
train.py, eval.py, bench/, `lic_jax.load_model`, the tests) finds models here, so a
new model needs no edit outside its own file:

    registry.register(registry.ModelSpec(
        name="my-model", config=MyConfig, module=MyModel,
        presets={"full": {...}, "small": {...}, "test-small": {...}}))

The files of `lic_jax/models/` are imported on the first lookup, and so are the
modules named in $LIC_JAX_MODELS (comma-separated, importable names): that is how
the command lines (convert.py, train.py, eval.py, `python -m lic_jax`) see a user's
own models. A model directory also records the module that defines its model, and
`get(name, module=...)` imports it when the name is not registered yet.
"""
import dataclasses
import importlib
import os
import pkgutil
from typing import Any, Callable, Mapping

# Not model families.
_INFRASTRUCTURE = ("registry", "base", "zoo")


class UnknownModelError(ValueError):
  """No model of that name is registered."""


@dataclasses.dataclass(frozen=True)
class Converter:
  """How a PyTorch state dict of this architecture becomes lic_jax params.

  recognize: normalized state dict -> True when its keys are this architecture's.
  infer_config: normalized state dict -> the config (from tensor shapes).
  signature: keys that identify the architecture, named in error messages.
  rename: source key -> lic_jax key (e.g. another release's module names), or None.
  constants: (key, config) -> the value a constant buffer must hold, or None if the
    key is not such a buffer (checked, not converted); the common ones (GDN
    pedestals, bounds, the bottleneck's target) are known to lic_jax.conversion.
  table_arrays: state-dict key -> the table array it holds in the model directory
    (`lic_jax.latent.tables`).
  prepare: state dict -> the state dict to convert (after renames), for values that
    need more than a layout change (e.g. masking a masked conv's weight), or None.
  """
  recognize: Callable[[Mapping], bool]
  infer_config: Callable[[Mapping], Any]
  signature: tuple = ()
  rename: Callable[[str], str] | None = None
  constants: Callable[[str, Any], Any] | None = None
  table_arrays: Mapping[str, str] = dataclasses.field(
      default_factory=lambda: dict(HYPERPRIOR_TABLE_ARRAYS))
  prepare: Callable[[Mapping], Mapping] | None = None


# The usual buffers: the bottleneck codes z, the Gaussian conditional y.
HYPERPRIOR_TABLE_ARRAYS = {
    "entropy_bottleneck._quantized_cdf": "z_quantized_cdf",
    "entropy_bottleneck._cdf_length": "z_cdf_length",
    "entropy_bottleneck._offset": "z_offset",
    "gaussian_conditional._quantized_cdf": "y_quantized_cdf",
    "gaussian_conditional._cdf_length": "y_cdf_length",
    "gaussian_conditional._offset": "y_offset",
    "gaussian_conditional.scale_table": "y_scale_table",
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """One architecture.

  name: what convert.py, train.py --arch and model directories call it (the zoo's
    names for CompressAI's models).
  config: a frozen dataclass; module: the Flax module, built as module(config).
  presets: named configs (dicts of config fields): "full" (the published size),
    "small" (a cheaper training size), "test-small" (the reference fixtures' size),
    and for zoo models "q1".."q8", the zoo's config at each quality.
  converter: how to read PyTorch state dicts (None: no released checkpoints).
  anchor: the key of its published Kodak curve in `lic_jax.evaluation.anchors`.
  description: one line for tables and --help.
  """
  name: str
  config: type
  module: type
  presets: Mapping[str, Mapping] = dataclasses.field(default_factory=dict)
  converter: Converter | None = None
  anchor: str | None = None
  description: str = ""

  def make_config(self, preset=None, **overrides):
    """The config of `preset` (default: "full") with fields overridden."""
    preset = preset or "full"
    if preset not in self.presets:
      raise UnknownModelError(f"{self.name} has no preset {preset!r}; it has "
                              f"{', '.join(self.presets)}")
    return self.config(**{**self.presets[preset], **overrides})

  def build(self, config):
    """The Flax module for `config` (the dataclass or a dict of its fields)."""
    if isinstance(config, Mapping):
      config = self.config(**config)
    return self.module(config)

  def zoo_qualities(self, config):
    """The zoo qualities ("q<k>" presets) whose config equals `config`."""
    return [int(name[1:]) for name, fields in self.presets.items()
            if name[:1] == "q" and name[1:].isdigit() and self.config(**fields) == config]


_SPECS = {}
_discovered = False


def register(spec):
  """Adds `spec`; a name can be registered again only with an equal spec (reloads)."""
  old = _SPECS.get(spec.name)
  if old is not None and (old.module.__qualname__, old.config.__qualname__) != (
      spec.module.__qualname__, spec.config.__qualname__):
    raise ValueError(f"a model named {spec.name!r} is already registered "
                     f"({old.module.__module__}.{old.module.__qualname__})")
  _SPECS[spec.name] = spec
  return spec


def _discover():
  global _discovered
  if _discovered:
    return
  _discovered = True
  package = importlib.import_module("lic_jax.models")
  for info in pkgutil.iter_modules(package.__path__):
    if info.name not in _INFRASTRUCTURE and not info.name.startswith("_"):
      importlib.import_module(f"lic_jax.models.{info.name}")
  for module in filter(None, os.environ.get("LIC_JAX_MODELS", "").split(",")):
    _import_user_module(module.strip())


def _import_user_module(module):
  try:
    importlib.import_module(module)
  except ImportError as e:
    raise UnknownModelError(f"cannot import the model module {module!r} ({e}); put it on "
                            "PYTHONPATH or fix $LIC_JAX_MODELS") from e


def get(name, module=None):
  """The spec registered as `name`; `module` (where its model is defined, as a model
  directory records it) is imported first if the name is not registered."""
  _discover()
  if name not in _SPECS and module:
    _import_user_module(module)
  if name not in _SPECS:
    raise UnknownModelError(f"unknown model {name!r}; registered: {', '.join(names())}. A "
                            "model of your own: import its module first, or name it in "
                            "$LIC_JAX_MODELS")
  return _SPECS[name]


def names():
  """All registered names, sorted."""
  _discover()
  return sorted(_SPECS)


def specs():
  """All registered specs, by name."""
  return [get(name) for name in names()]


def build(name, config):
  """The Flax module of model `name` with `config` (dataclass or dict)."""
  return get(name).build(config)
