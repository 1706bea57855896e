"""A workdir's checkpoints (orbax, for --resume) and model directories (best/, final/).

  checkpoints/<step>/  the train state (params, both optimizer states, step, rng), the
                       data iterator position of every process, and the run's record
  best/  final/        model directories for `lic_jax.load_model`, with CDF tables
                       recomputed from the trained weights (compressai's update())
"""
import os

import jax
import numpy as np

from lic_jax import checkpoint
from lic_jax.latent import base as latent_base
from lic_jax.training import input_pipeline, sharding

CHECKPOINT_DIR, BEST_DIR, FINAL_DIR = "checkpoints", "best", "final"


def checkpoint_manager(workdir, keep):
  import orbax.checkpoint as ocp
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.join(workdir, CHECKPOINT_DIR), options=options,
                               item_names=("state", "data", "meta"))


def save_checkpoint(manager, state, data_state, meta):
  """Saves (async) a host copy of the replicated state, the data position of this
  process and `meta`; returns the step.

  The state goes through orbax as numpy: it is replicated, so process 0's copy is the
  whole of it (and orbax 0.11's jax.Array path needs a newer jax than 0.5).
  """
  import grain.python as grain
  import orbax.checkpoint as ocp
  host_state = sharding.host_copy(state)
  step = int(host_state.step)
  manager.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(host_state),
      data=grain.PyGrainCheckpointSave(input_pipeline.DataPosition(data_state)),
      meta=ocp.args.JsonSave(meta)))
  return step


def restore_checkpoint(manager, step, state, mesh):
  """(state replicated on `mesh`, data position, meta) of checkpoint `step`; `state`
  gives the tree structure, shapes and dtypes."""
  import grain.python as grain
  import orbax.checkpoint as ocp
  target = jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), state)
  position = input_pipeline.DataPosition()
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target),
      data=grain.PyGrainCheckpointRestore(position),
      meta=ocp.args.JsonRestore()))
  return sharding.replicate(restored["state"], mesh), position.state, restored["meta"]


def model_tables(model, params):
  """The CDF tables of a model directory, from the model's latent codec and the
  weights (compressai's update()): one set per stream the model codes."""
  return latent_base.to_arrays(model.latent_codec.tables(params))


def write_model_dir(directory, arch, model, params, extra):
  """A model directory for `lic_jax.load_model` (process 0 only); `model` is the
  Flax module, whose config is stored."""
  params = sharding.host_copy(params)
  checkpoint.save(directory, arch, model.config, params, model_tables(model, params),
                  extra=extra, overwrite=True)
