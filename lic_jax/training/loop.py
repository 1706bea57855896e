"""Rate-distortion training: `train_and_evaluate(config, workdir)`.

One jitted step does what one iteration of the original's `train_one_epoch` does:
the training forward (uniform noise for the likelihoods, straight-through rounding
for y_hat and z_hat), the RD loss, a clipped Adam update of the main parameters, then
the aux loss at the updated density and an Adam update of the quantiles. The step is
compiled once ahead of time for a (global batch, patch) shape, sharded over a Mesh of
all devices (batch split, state replicated) with the state donated.

A workdir holds:
  checkpoints/<step>/  orbax: train state (params, both optimizer states, step, rng),
                       the data iterator position of every process, and metadata
  best/  final/        model directories for `lic_jax.load_model` (entropy tables
                       recomputed from the trained weights, like compressai's update())
  metrics.jsonl  tensorboard/  train_config.json
"""
import dataclasses
import json
import math
import os
import signal
import statistics
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from lic_jax import checkpoint, models
from lic_jax.entropy import factorized, gaussian, tables
from lic_jax import losses
from lic_jax.training import input_pipeline, sharding, writers
from lic_jax.training import state as state_lib


# --size: channel widths per arch. "small" halves the transforms (N 192 -> 96,
# M 320 -> 160); MLIC++ keeps slices of 32 channels (its global inter-slice attention
# has slice_ch * i / 32 heads), ELIC halves each of its uneven groups. The context and
# entropy-parameter nets have fixed widths in the original and stay as they are.
MODEL_SIZES = {
    "full": {
        "mlicpp": {"N": 192, "M": 320, "slice_num": 10},
        "mlicpp-old": {"N": 192, "M": 320, "slice_num": 10, "old": True},
        "elic": {"N": 192, "M": 320, "slice_widths": (16, 16, 32, 64, 192)},
    },
    "small": {
        "mlicpp": {"N": 96, "M": 160, "slice_num": 5},
        "mlicpp-old": {"N": 96, "M": 160, "slice_num": 5, "old": True},
        "elic": {"N": 96, "M": 160, "slice_widths": (8, 8, 16, 32, 96)},
    },
}

# Shape of the dummy input params are created with (params do not depend on it).
INIT_SHAPE = (1, 64, 64, 3)
CHECKPOINT_DIR, BEST_DIR, FINAL_DIR = "checkpoints", "best", "final"


class TrainingError(ValueError):
  """A setting or workdir that training cannot go on with; the message says why."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything a run depends on (train.py's flags). See train.py --help."""
  data: str
  steps: int
  arch: str | None = None          # None: the --init-from model's arch, else mlicpp
  size: str = "full"
  model_overrides: tuple = ()      # (key, value) pairs over the size's config
  val: str | None = None
  lmbda: float = 0.0130
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


# ---- model and state ------------------------------------------------------------

def resolve_model(config):
  """(arch, model config dict, params or None) from --arch/--size or --init-from."""
  if config.init_from:
    try:
      meta, params, _ = checkpoint.load(config.init_from)
    except checkpoint.ModelDirError as e:
      raise TrainingError(f"--init-from: {e}") from None
    if config.arch and config.arch != meta["arch"]:
      raise TrainingError(f"--arch {config.arch} does not match the --init-from model, "
                          f"which is {meta['arch']}; drop --arch or use another model")
    if config.model_overrides:
      raise TrainingError("--model-config cannot change an --init-from model's config")
    return meta["arch"], dict(meta["config"]), params
  arch = config.arch or "mlicpp"
  if arch not in models.ARCHS:
    raise TrainingError(f"unknown --arch {arch!r}; choose one of {', '.join(models.ARCHS)}")
  model_config = dict(MODEL_SIZES[config.size][arch])
  model_config.update(dict(config.model_overrides))
  return arch, model_config, None


def _init_fn(model):
  """key -> a fresh param tree of `model`."""
  return lambda key: model.init(key, jnp.zeros(INIT_SHAPE))["params"]


def param_shapes(model):
  """The param tree of `model` as ShapeDtypeStructs (nothing computed)."""
  return jax.eval_shape(_init_fn(model), jax.random.PRNGKey(0))


def init_params(model, mesh, seed, loaded=None):
  """Replicated params: fresh from `model.init`, or `loaded` (host arrays) after
  checking they have exactly the model's tree, shapes and dtypes."""
  if loaded is None:
    init = jax.jit(_init_fn(model), out_shardings=sharding.replicated(mesh))
    return init(jax.random.PRNGKey(seed))
  expected = param_shapes(model)
  want = {jax.tree_util.keystr(p): (x.shape, x.dtype)
          for p, x in jax.tree_util.tree_flatten_with_path(expected)[0]}
  have = {jax.tree_util.keystr(p): (np.shape(x), np.asarray(x).dtype)
          for p, x in jax.tree_util.tree_flatten_with_path(loaded)[0]}
  if want != have:
    diff = sorted(set(want.items()) ^ set(have.items()))[:5]
    raise TrainingError(f"--init-from params do not fit the model: {diff}")
  return sharding.replicate(jax.tree_util.tree_unflatten(
      jax.tree_util.tree_structure(expected),
      [np.asarray(x) for x in jax.tree_util.tree_leaves(loaded)]), mesh)


def model_tables(params):
  """CDF tables of a model dir, recomputed from the weights (compressai's update())."""
  z = tables.factorized_tables(params["entropy_bottleneck"])
  scale_table = gaussian.default_scale_table()
  y = tables.gaussian_tables(scale_table)
  return {"z_quantized_cdf": z.quantized_cdf, "z_cdf_length": z.cdf_length,
          "z_offset": z.offset, "y_quantized_cdf": y.quantized_cdf,
          "y_cdf_length": y.cdf_length, "y_offset": y.offset, "y_scale_table": scale_table}


def host_copy(tree):
  """Numpy copy of a replicated pytree (this process's first shard is the whole)."""
  return jax.tree_util.tree_map(lambda x: np.asarray(x.addressable_data(0)), tree)


# ---- steps ------------------------------------------------------------------------

def make_train_step(model, main_tx, aux_tx, schedule, lmbda, metric):
  """(state, uint8 images (B, P, P, 3)) -> (new state, dict of scalar metrics)."""

  def train_step(state, images):
    x = images.astype(jnp.float32) / 255.0
    rng, key = jax.random.split(state.rng)

    def loss_fn(params):
      out = model.apply({"params": params}, x, key)
      terms = losses.rate_distortion(out, x, lmbda, metric)
      return terms["loss"], terms

    (_, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = main_tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # As the original: the aux loss is taken after the main step, at the new density
    # (aux_loss stops gradients into the density, so only the quantiles get one).
    quantiles = state_lib.quantiles(params)
    aux, aux_grad = jax.value_and_grad(lambda q: factorized.aux_loss(
        state_lib.with_quantiles(params, q)["entropy_bottleneck"]))(quantiles)
    aux_update, aux_opt_state = aux_tx.update(aux_grad, state.aux_opt_state, quantiles)
    params = state_lib.with_quantiles(params, optax.apply_updates(quantiles, aux_update))
    grad_norm = jnp.linalg.norm(jax.flatten_util.ravel_pytree(grads)[0])
    metrics = dict(terms, aux_loss=aux, grad_norm=grad_norm, lr=schedule(state.step))
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              aux_opt_state=aux_opt_state, rng=rng)
    return new_state, metrics

  return train_step


def make_eval_step(model, lmbda, metric):
  """(params, uint8 images) -> per-image metrics (B,) in eval mode (rounding), and
  the aux loss. psnr is of the 8-bit reconstruction, as a decoded image."""

  def eval_step(params, images):
    x = images.astype(jnp.float32) / 255.0
    out = model.apply({"params": params}, x)
    terms = losses.per_image_terms(out, x, lmbda, metric)
    x8 = jnp.round(jnp.clip(out["x_hat"], 0.0, 1.0) * 255.0) / 255.0
    terms["psnr"] = losses.psnr(jnp.mean(jnp.square(x8 - x), axis=(1, 2, 3)))
    return terms, factorized.aux_loss(params["entropy_bottleneck"])

  return eval_step


def compile_step(fn, args, in_shardings, out_shardings, donate, name, say):
  """Ahead-of-time compiled `fn` for the shapes of `args` (which may be abstract);
  calling it with other shapes is an error instead of a silent recompile."""
  start = time.perf_counter()
  compiled = jax.jit(fn, in_shardings=in_shardings, out_shardings=out_shardings,
                     donate_argnums=donate).lower(*args).compile()
  seconds = time.perf_counter() - start
  say(f"compiled {name} for {_shapes(args[-1])} in {seconds:.1f} s")
  return compiled, seconds


def _shapes(x):
  return f"{tuple(x.shape)} {x.dtype}"


# ---- validation -------------------------------------------------------------------

class Validation:
  """The validation crops in global batches padded to the training batch size."""

  def __init__(self, images, paths, batch_size, mesh):
    self.paths = paths
    self.mesh = mesh
    self.batches = []
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      weight = np.zeros(batch_size, np.float32)
      weight[:len(chunk)] = 1
      pad = np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)
      self.batches.append((np.concatenate([chunk, pad]), weight))

  def run(self, eval_fn, params):
    """Mean of each per-image metric over the set, and the aux loss."""
    sums, total, aux = {}, 0.0, 0.0
    sharded = sharding.batch_sharded(self.mesh)
    for images, weight in self.batches:
      batch = jax.make_array_from_callback(images.shape, sharded, lambda i: images[i])
      terms, aux = eval_fn(params, batch)
      for name, values in host_copy(terms).items():
        sums[name] = sums.get(name, 0.0) + float(np.sum(values * weight))
      total += float(weight.sum())
    means = {name: value / total for name, value in sums.items()}
    means["aux_loss"] = float(host_copy(aux))
    return means


# ---- checkpoints ------------------------------------------------------------------

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
  host_state = host_copy(state)
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


def write_model_dir(directory, arch, model_config, params, extra):
  """A model directory for `lic_jax.load_model` (process 0 only)."""
  params = host_copy(params)
  checkpoint.save(directory, arch, model_config, params, model_tables(params),
                  extra=extra, overwrite=True)


# ---- the loop ---------------------------------------------------------------------

class _StopFlag:
  """Set by SIGTERM/SIGINT: the loop saves a checkpoint and returns."""

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    if jax.process_count() == 1:  # Multi-host: stopping one process alone would hang.
      for sig in (signal.SIGTERM, signal.SIGINT):
        try:
          self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # Not the main thread (e.g. called from a test runner).
          pass
    return self

  def _handle(self, signum, frame):
    if self.requested:  # A second signal: stop at once.
      raise KeyboardInterrupt
    self.requested = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


# Compiled steps of this process by everything their program depends on, so that a
# second run with the same settings (a resume in a notebook, the tests) reuses them.
_COMPILED = {}


class Trainer:
  """A run's model, optimizers, train state and compiled steps on a mesh.

  params: host params to start from (default: --init-from, else a fresh init).
  abstract: only the state's shapes (`state` holds ShapeDtypeStructs), for a state
  that a checkpoint restore will fill; saves compiling the init.
  """

  def __init__(self, config, mesh, params=None, say=print, abstract=False):
    if config.metric not in losses.METRICS:
      raise TrainingError(f"--metric must be one of {losses.METRICS}")
    if config.patch_size % 64:
      raise TrainingError(f"--patch-size must be a multiple of 64 (the latent z is at "
                          f"1/64), not {config.patch_size}")
    self.config, self.mesh, self.say = config, mesh, say
    self.arch, self.model_config, loaded = resolve_model(config)
    self.model = models.build(self.arch, self.model_config)
    self.opt_config = state_lib.OptimizerConfig(
        lr=config.lr, milestones=config.milestones(), clip_norm=config.clip_norm,
        aux_lr=config.aux_lr)
    self.replicated = sharding.replicated(mesh)
    self.batch_sharding = sharding.batch_sharded(mesh)
    if abstract:
      params = param_shapes(self.model)
    elif params is None:
      params = init_params(self.model, mesh, config.seed, loaded)
    else:
      params = sharding.replicate(params, mesh)
    self.main_tx, self.aux_tx = state_lib.optimizers(self.opt_config, params)
    create = jax.jit(lambda p, key: state_lib.create(p, self.main_tx, self.aux_tx, key),
                     out_shardings=self.replicated)
    key = jax.random.PRNGKey(config.seed + 1)
    self.state = jax.eval_shape(create, params, key) if abstract else create(params, key)
    self.train_fn = self.eval_fn = None
    self.compile_seconds = {}

  def batch_spec(self):
    """The global uint8 batch the steps take (shape, dtype, sharding)."""
    c = self.config
    return jax.ShapeDtypeStruct((c.batch_size, c.patch_size, c.patch_size, 3), jnp.uint8,
                                sharding=self.batch_sharding)

  def _compile(self, name, make, args, out_shardings, donate):
    c = self.config
    key = (name, self.arch, json.dumps(self.model_config, sort_keys=True, default=list),
           self.opt_config, c.lmbda, c.metric, c.batch_size, c.patch_size,
           tuple(d.id for d in self.mesh.devices.flat), jax.process_count())
    if key in _COMPILED:
      self.say(f"reusing the compiled {name}")
      self.compile_seconds[name] = 0.0
      return _COMPILED[key]
    compiled, self.compile_seconds[name] = compile_step(
        make(), args, (self.replicated, self.batch_sharding), out_shardings, donate,
        name.replace("_", " "), self.say)
    _COMPILED[key] = compiled
    return compiled

  def compile_train(self):
    """Compiles the train step; `self.train_fn(state, batch) -> (state, metrics)`
    then donates the state it is given."""
    self.train_fn = self._compile(
        "train_step", lambda: make_train_step(
            self.model, self.main_tx, self.aux_tx, state_lib.learning_rate(self.opt_config),
            self.config.lmbda, self.config.metric),
        (self.state, self.batch_spec()), (self.replicated, self.replicated), 0)

  def compile_eval(self):
    self.eval_fn = self._compile(
        "eval_step", lambda: make_eval_step(self.model, self.config.lmbda, self.config.metric),
        (self.state.params, self.batch_spec()), self.replicated, ())

  def step(self, local_images):
    """One training step on this process's rows; returns the metrics (on device)."""
    self.state, metrics = self.train_fn(self.state, sharding.global_batch(local_images,
                                                                          self.mesh))
    return metrics


class _Throughput:
  """Mean train metrics and images/s over the steps since the last log line.

  Time spent validating and checkpointing is left out (`pause`).
  """

  def __init__(self, batch_size):
    self.batch_size = batch_size
    self.values = []
    self.start = time.perf_counter()
    self.paused = 0.0

  def add(self, values):
    self.values.append(values)

  def pause(self, seconds):
    self.paused += seconds

  def flush(self):
    elapsed = time.perf_counter() - self.start - self.paused
    means = {k: statistics.fmean(v[k] for v in self.values) for k in self.values[0]}
    means["images_per_s"] = len(self.values) * self.batch_size / max(elapsed, 1e-9)
    self.values, self.start, self.paused = [], time.perf_counter(), 0.0
    return means


def train_and_evaluate(config, workdir, devices=None):
  """Trains per `config` in `workdir` and returns a summary dict (steps, dirs, the
  last train and validation metrics, compile seconds, skipped files).

  devices: the mesh's devices (default: all of them).
  """
  workdir = os.path.abspath(workdir)
  is_main = jax.process_index() == 0
  mesh = sharding.make_mesh(devices)
  try:
    local_batch = sharding.local_batch_size(config.batch_size, mesh)
  except ValueError as e:
    raise TrainingError(str(e)) from None
  console = writers.Console(enabled=is_main)
  say = console.say

  # Data first: a bad folder fails in seconds, before any compilation.
  pipeline = input_pipeline.TrainPipeline(
      config.data, config.patch_size, local_batch, seed=config.seed,
      num_threads=config.data_threads, flip=config.flip,
      process_index=jax.process_index(), process_count=jax.process_count())
  say(pipeline.summary())
  validation = None
  if config.val:
    images, paths, skips = input_pipeline.load_validation(config.val, config.patch_size)
    validation = Validation(images, paths, config.batch_size, mesh)
    say(f"{len(paths)} validation images under {config.val} (centre {config.patch_size} px "
        "crops)" + (f", {skips.count} unreadable (skipped)" if skips.count else ""))

  os.makedirs(workdir, exist_ok=True)
  manager = checkpoint_manager(workdir, config.keep_checkpoints)
  latest = manager.latest_step()
  if latest is not None and not config.resume:
    raise TrainingError(f"{workdir} already has checkpoints (latest: step {latest}); pass "
                        "--resume to continue them or choose an empty --workdir")
  trainer = Trainer(config, mesh, say=say, abstract=latest is not None)
  arch, model_config = trainer.arch, trainer.model_config
  say(f"{arch} {model_config}: {state_lib.num_params(trainer.state.params):,} params; "
      f"{mesh.devices.size} device(s) ({jax.devices()[0].platform}), "
      f"{jax.process_count()} process(es); global batch {config.batch_size}")

  data_state, best_val = None, math.inf
  metric_writer = writers.MetricWriter(workdir, enabled=is_main)
  if latest is not None:
    trainer.state, data_state, meta = restore_checkpoint(manager, latest, trainer.state,
                                                         mesh)
    best_val = meta.get("best_val_loss") or math.inf
    _warn_changed(meta.get("config", {}), config, say)
    metric_writer.truncate_after(latest)
    say(f"resumed {workdir} at step {latest}")
  elif config.resume:
    say(f"--resume: no checkpoint in {workdir} yet, starting at step 0")
  start_step = int(host_copy(trainer.state.step))
  if is_main:
    with open(os.path.join(workdir, "train_config.json"), "w") as f:
      json.dump(_config_record(config, arch, model_config), f, indent=2)
  if start_step < config.steps:
    trainer.compile_train()
  if validation is not None:
    trainer.compile_eval()

  def meta(step):
    return {"step": step, "best_val_loss": None if math.isinf(best_val) else best_val,
            "config": _config_record(config, arch, model_config)}

  def model_extra(step, val_metrics=None):
    extra = {"trained_steps": step, "lambda": config.lmbda, "metric": config.metric}
    if val_metrics:
      extra["val"] = {k: float(v) for k, v in val_metrics.items()}
    return extra

  def validate(step):
    nonlocal best_val
    metrics = validation.run(trainer.eval_fn, trainer.state.params)
    metric_writer.write(step, "val", metrics)
    line = (f"val @ {step}: loss {metrics['loss']:.4f}  bpp {metrics['bpp']:.4f}  "
            f"PSNR {metrics['psnr']:.2f} dB")
    if metrics["loss"] < best_val:
      best_val = metrics["loss"]
      if is_main:
        write_model_dir(os.path.join(workdir, BEST_DIR), arch, model_config,
                        trainer.state.params, model_extra(step, metrics))
      line += "  (best so far, saved)"
    say(line)
    return metrics

  iterator = pipeline.iterator(data_state)
  console.open_bar(config.steps, start_step)
  step, last_train, last_val, pending = start_step, {}, None, None
  saved_step = latest
  throughput = _Throughput(config.batch_size)
  stopped = False

  def finish_pending():
    """Logs the previous step's metrics; called after the next step is dispatched,
    so fetching them does not leave the devices idle."""
    nonlocal pending, last_train
    done_step, device_metrics = pending
    pending = None
    values = {k: float(v) for k, v in host_copy(device_metrics).items()}
    throughput.add(values)
    if done_step % config.log_every == 0 or done_step == config.steps:
      last_train = throughput.flush()
      metric_writer.write(done_step, "train", last_train)
    console.update(1, loss=values["loss"], bpp=values["bpp"], psnr=values["psnr"],
                   aux=values["aux_loss"],
                   **({"img/s": last_train["images_per_s"]} if last_train else {}))

  with _StopFlag() as stop:
    while step < config.steps:
      metrics = trainer.step(next(iterator))
      step += 1
      if pending is not None:
        finish_pending()
      pending = (step, metrics)
      at_val = validation is not None and config.val_every and step % config.val_every == 0
      at_ckpt = config.checkpoint_every and step % config.checkpoint_every == 0
      if not (at_val or at_ckpt or stop.requested or step == config.steps):
        continue
      finish_pending()
      paused = time.perf_counter()
      if at_val and step < config.steps:  # The last step's validation comes below.
        last_val = validate(step)
      if at_ckpt or stop.requested:
        saved_step = save_checkpoint(manager, trainer.state, iterator.get_state(), meta(step))
      throughput.pause(time.perf_counter() - paused)
      if stop.requested and step < config.steps:
        say(f"stopped at step {step}; checkpoint saved, continue with --resume")
        stopped = True
        break

  console.close_bar()
  if not stopped:
    if validation is not None:
      last_val = validate(step)
    if saved_step != step:
      save_checkpoint(manager, trainer.state, iterator.get_state(), meta(step))
    if is_main:
      write_model_dir(os.path.join(workdir, FINAL_DIR), arch, model_config,
                      trainer.state.params, model_extra(step, last_val))
      say(f"final model: {os.path.join(workdir, FINAL_DIR)}")
  manager.wait_until_finished()
  manager.close()
  metric_writer.close()
  skipped = dict(pipeline.skips.items())
  if skipped:
    say(f"skipped {len(skipped)} unreadable training file(s): "
        + ", ".join(os.path.relpath(p, config.data) for p in list(skipped)[:5])
        + (" ..." if len(skipped) > 5 else ""))
  return {"step": step, "stopped": stopped, "workdir": workdir, "arch": arch,
          "model_config": model_config,
          "final_dir": None if stopped else os.path.join(workdir, FINAL_DIR),
          "best_dir": os.path.join(workdir, BEST_DIR) if validation is not None else None,
          "best_val_loss": None if math.isinf(best_val) else best_val,
          "train": last_train, "val": last_val, "compile_seconds": trainer.compile_seconds,
          "skipped_files": skipped}


def _config_record(config, arch, model_config):
  record = dataclasses.asdict(config)
  record.update(arch=arch, model_config=model_config,
                lr_milestones=list(config.milestones()))
  return record


# Settings whose change on --resume means the run is no longer the one checkpointed.
_RESUME_KEYS = ("arch", "model_config", "lmbda", "metric", "batch_size", "patch_size", "lr",
                "aux_lr", "clip_norm", "lr_milestones", "seed", "data")


def _warn_changed(saved, config, say):
  current = _config_record(config, saved.get("arch"), saved.get("model_config"))
  changed = [k for k in _RESUME_KEYS
             if k in saved and json.dumps(saved[k]) != json.dumps(current.get(k))]
  if changed:
    say("warning: --resume with changed settings: " + ", ".join(
        f"{k} {saved[k]} -> {current.get(k)}" for k in changed))
