"""A workdir's checkpoints (orbax, for --resume) and model directories (best/, final/).

  checkpoints/<step>/  the train state (params, both optimizer states, step, rng), and
                       the run's record with the data position of every process
  best/  final/        model directories for `lic_jax.load_model`, with CDF tables
                       recomputed from the trained weights (compressai's update())
"""
import os

import jax
import numpy as np

from lic_jax import model_dir
from lic_jax.latent import tables as latent_tables
from lic_jax.training import sharding

CHECKPOINT_DIR, BEST_DIR, FINAL_DIR = "checkpoints", "best", "final"


def checkpoint_manager(workdir, keep):
  import orbax.checkpoint as ocp
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.join(workdir, CHECKPOINT_DIR), options=options,
                               item_names=("state", "meta"))


def save_checkpoint(manager, state, data_state, meta):
  """Saves (async) a host copy of the replicated state and `meta` with the data
  position of every process; returns the step. Every process calls it.

  The state goes through orbax as numpy: it is replicated, so process 0's copy is the
  whole of it (and orbax 0.11's jax.Array path needs a newer jax than 0.5). The data
  positions are gathered into the meta JSON, which process 0 writes: per-process files
  (grain's orbax handler) raced with the commit of the step on newer orbax, which
  finalized it on process 0 before process 1 had written its file.
  """
  import orbax.checkpoint as ocp
  host_state = sharding.host_copy(state)
  step = int(host_state.step)
  meta = dict(meta, data_positions=sharding.gather_json(data_state))
  manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(host_state),
                                             meta=ocp.args.JsonSave(meta)))
  return step


def restore_checkpoint(manager, step, state, mesh):
  """(state replicated on `mesh`, meta) of checkpoint `step`; `state` gives the tree
  structure, shapes and dtypes."""
  import orbax.checkpoint as ocp
  target = jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), state)
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
  return sharding.replicate(restored["state"], mesh), restored["meta"]


def data_position(meta):
  """This process's data iterator position in a checkpoint's meta, or (None, why)
  when the checkpoint cannot give it: written by another number of processes (each
  reads its own share of the files, so the stream depends on the count) or by an
  older lic_jax (positions in per-process files)."""
  positions = meta.get("data_positions")
  if positions is None:
    return None, "it was written by an older lic_jax, which kept them elsewhere"
  if len(positions) != jax.process_count():
    return None, (f"it was written by {len(positions)} process(es) and this run has "
                  f"{jax.process_count()}; every process reads its own share of the files")
  return positions[jax.process_index()], None


def write_model_dir(directory, arch, model, params, extra):
  """A model directory for `lic_jax.load_model` (process 0 only); `model` is the
  Flax module, whose config is stored."""
  params = sharding.host_copy(params)
  tables = latent_tables.model_table_arrays(model, params)
  model_dir.save(directory, arch, model.config, params, tables, extra=extra, overwrite=True)
