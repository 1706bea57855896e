"""A run's settings (`TrainConfig`, train.py's flags) and the model they name.

The model comes from the registry: `arch` is any registered name, `size` any preset
of its spec ("full", "small", "test-small", a zoo quality "q3", ...), and
`model_overrides` change fields of that preset. Or `init_from` names a model
directory, whose arch, config and weights are used; with an `arch` of its own, its
weights start that model where their names and shapes fit (a variable-rate model from
a fixed-rate one: `lambdas`, `lic_jax.models.base.VariableRateModel`).
"""
import dataclasses
import json

from lic_jax import model_dir
from lic_jax.models import registry

DEFAULT_ARCH = "mlicpp"


class TrainingError(ValueError):
  """A setting or workdir that training cannot go on with; the message says why."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything a run depends on (train.py's flags). See train.py --help."""
  data: str
  steps: int
  arch: str | None = None          # None: the --init-from model's arch, else DEFAULT_ARCH
  size: str = "full"               # A preset of the arch's spec.
  model_overrides: tuple = ()      # (key, value) pairs over the preset's config
  val: str | None = None
  lmbda: float = 0.0130
  lambdas: tuple | None = None     # a variable-rate model's, one per level (its qualities)
  level_balance: float = 0.0       # with lambdas: the power of trainer.level_weights
  metric: str = "mse"
  batch_size: int = 8
  patch_size: int = 256
  lr: float = 1e-4
  aux_lr: float = 1e-3
  clip_norm: float = 1.0
  lr_milestones: tuple | None = None  # None: 75% and 90% of steps
  seed: int = 0
  checkpoint_every: int = 5000
  val_every: int = 5000
  log_every: int = 100
  keep_checkpoints: int = 3
  resume: bool = False
  init_from: str | None = None
  data_threads: int | None = None
  flip: bool = True

  def milestones(self):
    if self.lr_milestones is not None:
      return tuple(int(m) for m in self.lr_milestones)
    return (round(0.75 * self.steps), round(0.9 * self.steps))


def model_spec(arch):
  """The registry's spec of `arch`, or a TrainingError naming the registered ones."""
  try:
    return registry.get(arch)
  except registry.UnknownModelError:
    raise TrainingError(f"unknown --arch {arch!r}; choose one of "
                        f"{', '.join(registry.names())}") from None


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
  """arch and config dict (every field of the arch's config, as a model directory
  stores it); params: the --init-from weights or None; lmbda: the lambda they were
  trained for, if recorded."""
  arch: str
  config: dict
  params: dict | None = None
  lmbda: float | list | None = None


def resolve_model(config):
  """The model a run trains (`ResolvedModel`), from --arch/--size or --init-from."""
  if config.init_from:
    try:
      meta, params, _ = model_dir.load(config.init_from)
    except model_dir.ModelDirError as e:
      raise TrainingError(f"--init-from: {e}") from None
    if config.arch and config.arch != meta["arch"]:
      return _started_from(config, meta, params)
    if config.model_overrides:
      raise TrainingError("--model-config cannot change an --init-from model's config")
    return ResolvedModel(meta["arch"], dict(meta["config"]), params, meta.get("lambda"))
  arch = config.arch or DEFAULT_ARCH
  spec = model_spec(arch)
  if config.size not in spec.presets:
    raise TrainingError(f"--size {config.size!r} is not a preset of {arch}; choose one of "
                        f"{', '.join(spec.presets)}")
  try:
    model_config = spec.make_config(config.size, **dict(config.model_overrides))
  except (TypeError, ValueError) as e:  # A field the config lacks, or a bad value.
    raise TrainingError(f"--model-config does not fit {arch}'s config: {e}") from None
  return ResolvedModel(arch, dataclasses.asdict(model_config))


def _started_from(config, meta, params):
  """Another arch started from an --init-from model (a variable-rate model from a
  fixed-rate one): the init model's config fields, the arch's defaults for the rest,
  --model-config over both; its weights where they fit (`trainer.init_params`)."""
  spec = model_spec(config.arch)
  fields = {f.name for f in dataclasses.fields(spec.config)}
  if not set(meta["config"]) <= fields:
    raise TrainingError(f"--arch {config.arch} cannot start from the --init-from model, "
                        f"which is {meta['arch']}: its config {sorted(meta['config'])} does "
                        f"not fit {config.arch}'s {sorted(fields)}")
  try:
    model_config = spec.config(**{**meta["config"], **dict(config.model_overrides)})
  except (TypeError, ValueError) as e:
    raise TrainingError(f"--model-config does not fit {config.arch}'s config: {e}") from None
  return ResolvedModel(config.arch, dataclasses.asdict(model_config), params, meta.get("lambda"))


def config_record(config, arch, model_config):
  """The run's settings as stored in train_config.json and every checkpoint."""
  record = dataclasses.asdict(config)
  record.update(arch=arch, model_config=model_config,
                lr_milestones=list(config.milestones()))
  return record


# Settings whose change on --resume means the run is no longer the one checkpointed.
_RESUME_KEYS = ("arch", "model_config", "lmbda", "lambdas", "level_balance", "metric",
                "batch_size", "patch_size", "lr", "aux_lr", "clip_norm", "lr_milestones", "seed",
                "data")


def warn_changed(saved, config, say):
  """Says which settings differ from `saved` (a checkpoint's record) on --resume."""
  current = config_record(config, saved.get("arch"), saved.get("model_config"))
  changed = [k for k in _RESUME_KEYS
             if k in saved and json.dumps(saved[k]) != json.dumps(current.get(k))]
  if changed:
    say("warning: --resume with changed settings: " + ", ".join(
        f"{k} {saved[k]} -> {current.get(k)}" for k in changed))
