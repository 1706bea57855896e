"""Data parallelism over every device of every host, the jit + Mesh way.

One `Mesh` with a single 'data' axis spans all devices (`jax.devices()` is global
once `jax.distributed` is up). Batches are split over 'data' along their first axis;
params and optimizer states are replicated. A jitted step with these shardings is
what pmap used to be: XLA inserts the gradient all-reduce where the mean over the
batch needs it.

Multi-host: each process runs the same program, reads its own shard of the file list
(`process_shard`) and hands its local rows to `global_batch`, which assembles the
global array without any host ever holding all of it.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"

# Env variables that ask for `jax.distributed.initialize()`: JAX's own coordinator
# variable, or LIC_JAX_DISTRIBUTED=1 for clusters JAX detects by itself (Cloud TPU
# pods, SLURM, Open MPI).
COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
OPT_IN_ENV = "LIC_JAX_DISTRIBUTED"


def initialize_distributed(environ=None):
  """Starts `jax.distributed` when the environment asks for it; returns whether it did.

  With JAX_COORDINATOR_ADDRESS set, JAX_NUM_PROCESSES and JAX_PROCESS_ID give the
  process count and this process's id (JAX reads the address itself). With
  LIC_JAX_DISTRIBUTED=1 alone, JAX detects the cluster. Must run before any other
  JAX call touches the devices.
  """
  environ = os.environ if environ is None else environ
  if not (environ.get(COORDINATOR_ENV) or environ.get(OPT_IN_ENV) == "1"):
    return False
  kwargs = {}
  if environ.get("JAX_NUM_PROCESSES"):
    kwargs["num_processes"] = int(environ["JAX_NUM_PROCESSES"])
  if environ.get("JAX_PROCESS_ID"):
    kwargs["process_id"] = int(environ["JAX_PROCESS_ID"])
  jax.distributed.initialize(**kwargs)
  return True


def make_mesh(devices=None):
  """A 1-D mesh over `devices` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh):
  """Every device holds the whole array (params, optimizer states, metrics)."""
  return NamedSharding(mesh, P())


def batch_sharded(mesh):
  """Split along the first (batch) axis over 'data'."""
  return NamedSharding(mesh, P(DATA_AXIS))


def process_shard(items, process_index=None, process_count=None):
  """This process's share of a list: every process_count-th item from its index."""
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  return items[index::count]


def local_batch_size(global_batch, mesh):
  """Rows each process feeds, checking that the batch splits over the devices."""
  devices = mesh.devices.size
  if global_batch % devices:
    raise ValueError(f"the batch size {global_batch} must be a multiple of the "
                     f"{devices} devices it is split over")
  return global_batch // jax.process_count()


def global_batch(local_rows, mesh):
  """This process's rows (numpy, (B_local, ...)) -> the global sharded jax.Array."""
  return jax.make_array_from_process_local_data(batch_sharded(mesh), local_rows)


def replicate(tree, mesh):
  """Puts a host pytree (the same on every process) on every device of the mesh.

  Built per device from the host copy, which works for meshes spanning hosts too.
  The result owns its device memory: on CPU, `device_put` can alias an aligned numpy
  buffer, and a train step that donates such an array frees memory numpy still owns
  (seen as a segfault on the first step after restoring a checkpoint).
  """
  sharding = replicated(mesh)

  def put(leaf):
    leaf = np.asarray(leaf)
    return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])
  return _owned_copy(jax.tree_util.tree_map(put, tree))


@jax.jit
def _owned_copy(tree):
  return jax.tree_util.tree_map(jnp.copy, tree)


def host_copy(tree):
  """Numpy copy of a replicated pytree (this process's first shard is the whole)."""
  return jax.tree_util.tree_map(lambda x: np.asarray(x.addressable_data(0)), tree)


def gather_json(value):
  """[value of process 0, value of process 1, ...] on every process, for small
  JSON-able values (a data iterator's position). A collective: every process calls it."""
  if jax.process_count() == 1:
    return [value]
  data = np.frombuffer(json.dumps(value).encode(), np.uint8)
  sizes = multihost_utils.process_allgather(np.array([data.size])).ravel()
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:data.size] = data
  rows = multihost_utils.process_allgather(padded)
  return [json.loads(bytes(row[:size])) for row, size in zip(rows, sizes)]
