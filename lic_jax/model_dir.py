"""A model directory: an orbax checkpoint of the parameters and CDF tables, plus a
small JSON (`lic_jax.json`) with the arch, its config and the format version.

Written by convert.py and train.py, read by `lic_jax.load_model`. Directories are
written under a temporary name and renamed when complete, so an interrupted write
never leaves something that looks like a model.

The bundled model is named: "default" is lic_jax/assets/default, a variable-rate
model (every rate, through `quality`). Pass "./default" for a folder of that name.
Weights may be stored as
float16 to keep a directory small; they are loaded as float32, and `model_hash` is
that of the float32 weights as loaded.
"""
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile

import jax
import numpy as np

FORMAT_VERSION = 1
META_FILE = "lic_jax.json"
ARRAYS_DIR = "arrays"
_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
BUNDLED = {"default": os.path.join(_ASSETS, "default")}


class ModelDirError(ValueError):
  """A model directory is missing, incomplete or of an unknown format."""


def model_hash(arch, config, params):
  """16 hex digits identifying arch, config and every weight, in a stable order."""
  digest = hashlib.sha256()
  digest.update(json.dumps({"arch": arch, "config": config}, sort_keys=True).encode())
  for path, leaf in sorted(jax.tree_util.tree_flatten_with_path(params)[0],
                           key=lambda item: jax.tree_util.keystr(item[0])):
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
  return digest.hexdigest()[:16]


def save(directory, arch, config, params, tables, extra=None, overwrite=False):
  """Writes a model directory atomically, from the calling process alone; returns its
  metadata dict."""
  import orbax.checkpoint as ocp
  directory = os.path.abspath(directory)
  if os.path.exists(directory) and os.listdir(directory) and not overwrite:
    raise ModelDirError(f"{directory} exists and is not empty; choose another --out "
                        "or remove it first")
  config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
  params = jax.tree_util.tree_map(np.asarray, params)
  from lic_jax.models import registry
  meta = {"format_version": FORMAT_VERSION, "arch": arch, "config": config,
          # Where the model is defined, so that loading imports a user's own model.
          "module": registry.get(arch).module.__module__,
          "model_hash": model_hash(arch, config, params),
          "num_params": int(sum(np.size(p) for p in jax.tree_util.tree_leaves(params))),
          **(extra or {})}
  parent = os.path.dirname(directory)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".lic_jax-", dir=parent)
  try:
    # This process alone writes: with jax.distributed up, orbax's default checkpointer
    # waits at barriers for every process, and train.py writes from process 0 only.
    alone = ocp.options.MultiprocessingOptions(primary_host=jax.process_index(),
                                               active_processes={jax.process_index()})
    checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(multiprocessing_options=alone),
                                    multiprocessing_options=alone)
    checkpointer.save(os.path.join(staging, ARRAYS_DIR),
                      {"params": params, "tables": {k: np.asarray(v) for k, v in tables.items()}})
    with open(os.path.join(staging, META_FILE), "w") as f:
      json.dump(meta, f, indent=2)
    if os.path.exists(directory):
      shutil.rmtree(directory)
    os.rename(staging, directory)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return meta


def extra_fields(meta):
  """The fields of `meta` a rewritten model directory keeps (lambdas, trained steps,
  ...), passed to `save` as `extra`: all but those it derives from arch, config and
  weights."""
  return {k: v for k, v in meta.items()
          if k not in ("format_version", "arch", "config", "model_hash", "num_params")}


def resolve(directory):
  """The folder a model name stands for: a bundled model's, or the name itself."""
  return BUNDLED.get(directory, directory)


def levels(meta):
  """A variable-rate model's number of quality levels (from its metadata), or None
  for a model of one rate."""
  from lic_jax.models import registry
  from lic_jax.models.base import VariableRateModel
  module = registry.get(meta["arch"], meta.get("module")).module
  return meta["config"]["levels"] if issubclass(module, VariableRateModel) else None


def read_meta(directory):
  """The metadata dict of a model directory, or ModelDirError saying what is wrong."""
  directory = resolve(directory)
  path = os.path.join(directory, META_FILE)
  if not os.path.isdir(directory):
    raise ModelDirError(f"model directory {directory!r} does not exist; create one with "
                        "`python convert.py CKPT --out DIR` or train.py")
  try:
    with open(path) as f:
      meta = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ModelDirError(f"{directory!r} is not a lic_jax model directory ({META_FILE}: {e})")
  if meta.get("format_version") != FORMAT_VERSION:
    raise ModelDirError(f"{directory!r} has format version {meta.get('format_version')}, "
                        f"this lic_jax reads version {FORMAT_VERSION}")
  return meta


def load(directory):
  """(meta, params, tables) of a model directory, arrays as numpy (float16 weights
  come back as float32)."""
  import orbax.checkpoint as ocp
  directory = os.path.abspath(resolve(directory))
  meta = read_meta(directory)
  try:
    tree = ocp.PyTreeCheckpointer().restore(os.path.join(directory, ARRAYS_DIR))
  except Exception as e:  # orbax raises many types; all mean "not readable".
    raise ModelDirError(f"cannot read the arrays of {directory!r}: {e}") from e
  tree = jax.tree_util.tree_map(np.asarray, tree)
  params = jax.tree_util.tree_map(
      lambda a: a.astype(np.float32) if a.dtype == np.float16 else a, tree["params"])
  return meta, params, tree.get("tables", {})
