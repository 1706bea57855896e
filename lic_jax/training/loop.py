"""Rate-distortion training: `train_and_evaluate(config, workdir)`.

The loop itself: data, the trainer (model, state, compiled steps: `trainer`),
resume (`checkpointing`), then steps with logging, validation (`validation`) and
checkpoints, and the final model directory. A workdir holds:

  checkpoints/<step>/  best/  final/   see `checkpointing`
  metrics.jsonl  tensorboard/  train_config.json

Over 250 lines: the loop and what only it does (resume, preemption, primary-only
writes, the final model directory) read best in one place, top to bottom.
"""
import json
import math
import os
import signal
import statistics
import time

import jax
from jax.experimental import multihost_utils

from lic_jax.training import checkpointing as ckpt
from lic_jax.training import config as config_lib
from lic_jax.training import input_pipeline, sharding, trainer as trainer_lib, writers
from lic_jax.training import state as state_lib
from lic_jax.training.config import TrainingError
from lic_jax.training.validation import Validation


class _StopFlag:
  """Whether the loop stops after a step (it then saves a checkpoint and returns).

  One process: set by SIGTERM or SIGINT. Several: a stop must happen at the same step
  everywhere, or the others hang in the next collective. JAX's distributed runtime
  catches SIGTERM on any process (a TPU VM's maintenance notice) and its preemption
  sync has all processes agree on a step; checking it is a local read, no collective.
  """

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    if jax.process_count() == 1:
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

  def at(self, step):
    """Whether to stop after `step`; call it after every step, on every process."""
    if jax.process_count() > 1:
      self.requested = multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _on_primary(name, fn, manager):
  """Runs `fn` on process 0 alone; the others wait for it here, at a barrier with no
  deadline (a device all-gather), not at a later one that has one (orbax's, the
  distributed shutdown's). Checkpoint saves still in flight finish first: a newer
  orbax finalized one on process 0 while that process wrote a model directory,
  before the other process had written its part."""
  manager.wait_until_finished()
  if jax.process_index() == 0:
    fn()
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f"lic_jax:{name}")


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
  manager = ckpt.checkpoint_manager(workdir, config.keep_checkpoints)
  latest = manager.latest_step()
  if latest is not None and not config.resume:
    raise TrainingError(f"{workdir} already has checkpoints (latest: step {latest}); pass "
                        "--resume to continue them or choose an empty --workdir")
  trainer = trainer_lib.Trainer(config, mesh, say=say, abstract=latest is not None)
  arch, model_config = trainer.arch, trainer.model_config
  record = config_lib.config_record(config, arch, model_config)
  say(f"{arch} {model_config}: {state_lib.num_params(trainer.state.params):,} params; "
      f"{mesh.devices.size} device(s) ({jax.devices()[0].platform}), "
      f"{jax.process_count()} process(es); global batch {config.batch_size}")

  data_state, best_val = None, math.inf
  metric_writer = writers.MetricWriter(workdir, enabled=is_main)
  if latest is not None:
    trainer.state, meta = ckpt.restore_checkpoint(manager, latest, trainer.state, mesh)
    data_state, why = ckpt.data_position(meta)
    if why:
      say(f"warning: the checkpoint has no data position for this process ({why}); "
          "the data stream restarts, so this resume is not exact")
    best_val = meta.get("best_val_loss") or math.inf
    config_lib.warn_changed(meta.get("config", {}), config, say)
    metric_writer.truncate_after(latest)
    say(f"resumed {workdir} at step {latest}")
  elif config.resume:
    say(f"--resume: no checkpoint in {workdir} yet, starting at step 0")
  start_step = int(sharding.host_copy(trainer.state.step))
  if is_main:
    with open(os.path.join(workdir, "train_config.json"), "w") as f:
      json.dump(record, f, indent=2)
  if start_step < config.steps:
    trainer.compile_train()
  if validation is not None:
    trainer.compile_eval()

  def meta(step):
    return {"step": step, "best_val_loss": None if math.isinf(best_val) else best_val,
            "config": record}

  def write_model(name, step, val_metrics=None):
    # A variable-rate model records each level's lambda (Codec.lmbda_at).
    lmbda = config.lmbda if config.lambdas is None else list(config.lambdas)
    extra = {"trained_steps": step, "lambda": lmbda, "metric": config.metric}
    if val_metrics:
      extra["val"] = {k: float(v) for k, v in val_metrics.items()}
    ckpt.write_model_dir(os.path.join(workdir, name), arch, trainer.model,
                         trainer.state.params, extra)

  def validate(step):
    nonlocal best_val
    metrics = validation.run(trainer.eval_fn, trainer.state.params)
    metric_writer.write(step, "val", metrics)
    line = (f"val @ {step}: loss {metrics['loss']:.4f}  bpp {metrics['bpp']:.4f}  "
            f"PSNR {metrics['psnr']:.2f} dB")
    if metrics["loss"] < best_val:
      best_val = metrics["loss"]
      _on_primary(f"best-{step}", lambda: write_model(ckpt.BEST_DIR, step, metrics), manager)
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
    values = {k: float(v) for k, v in sharding.host_copy(device_metrics).items()}
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
      stopping = stop.at(step)
      at_val = validation is not None and config.val_every and step % config.val_every == 0
      at_ckpt = config.checkpoint_every and step % config.checkpoint_every == 0
      if not (at_val or at_ckpt or stopping or step == config.steps):
        continue
      finish_pending()
      paused = time.perf_counter()
      if at_val and step < config.steps:  # The last step's validation comes below.
        last_val = validate(step)
      if at_ckpt or stopping:
        saved_step = ckpt.save_checkpoint(manager, trainer.state, iterator.get_state(),
                                          meta(step))
      throughput.pause(time.perf_counter() - paused)
      if stopping and step < config.steps:
        say(f"stopped at step {step}; checkpoint saved, continue with --resume")
        stopped = True
        break

  console.close_bar()
  final_dir = os.path.join(workdir, ckpt.FINAL_DIR)
  if not stopped:
    if validation is not None:
      last_val = validate(step)
    if saved_step != step:
      ckpt.save_checkpoint(manager, trainer.state, iterator.get_state(), meta(step))
    _on_primary("final", lambda: write_model(ckpt.FINAL_DIR, step, last_val), manager)
    say(f"final model: {final_dir}")
  manager.wait_until_finished()
  manager.close()
  metric_writer.close()
  skipped = dict(pipeline.skips.items())
  if skipped:
    say(f"skipped {len(skipped)} unreadable training file(s): "
        + ", ".join(os.path.relpath(p, config.data) for p in list(skipped)[:5])
        + (" ..." if len(skipped) > 5 else ""))
  return {"step": step, "stopped": stopped, "workdir": workdir, "arch": arch,
          "model_config": model_config, "final_dir": None if stopped else final_dir,
          "best_dir": os.path.join(workdir, ckpt.BEST_DIR) if validation is not None else None,
          "best_val_loss": None if math.isinf(best_val) else best_val,
          "train": last_train, "val": last_val, "compile_seconds": trainer.compile_seconds,
          "skipped_files": skipped}
