"""Where training metrics go: a JSONL file, TensorBoard event files, a tqdm bar.

TensorBoard events are written with the `tensorboard` package's record writer and
protos (a core dependency, pure Python) to a plain file. Its EventFileWriter
would open the file through `tf.io.gfile`, which imports TensorFlow when it is
installed; training never imports TensorFlow (only `lic_jax.coder.tfc_ops` does:
docs/design.md).
Only process 0 writes.
"""
import json
import math
import os
import socket
import time


class EventFile:
  """A TensorBoard event file (TFRecord of `Event` protos), flushed on every write."""

  def __init__(self, logdir):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
    self._records = RecordWriter(open(os.path.join(logdir, name), "wb"))
    self.add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

  def add(self, event):
    self._records.write(event.SerializeToString())
    self._records.flush()

  def close(self):
    self._records.close()


class MetricWriter:
  """Scalars to `<workdir>/metrics.jsonl` (one object per line: step, split, values)
  and to TensorBoard under `<workdir>/tensorboard` as `<split>/<name>`."""

  def __init__(self, workdir, enabled=True):
    self.enabled = enabled
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self._events = None
    if enabled:
      self._events = EventFile(os.path.join(workdir, "tensorboard"))

  def truncate_after(self, step):
    """Drops JSONL lines logged after `step`: on resume those steps run again."""
    if not self.enabled or not os.path.exists(self.jsonl_path):
      return
    with open(self.jsonl_path) as f:
      lines = [line for line in f if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
      with open(self.jsonl_path, "w") as f:
        f.writelines(kept)

  def write(self, step, split, values):
    if not self.enabled:
      return
    values = {k: float(v) for k, v in values.items()}
    record = {"step": int(step), "split": split, "time": round(time.time(), 3)}
    record.update({k: (v if math.isfinite(v) else str(v)) for k, v in values.items()})
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(record) + "\n")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=f"{split}/{name}", simple_value=value)
        for name, value in values.items()])
    self._events.add(event_pb2.Event(wall_time=time.time(), step=int(step),
                                           summary=summary))

  def close(self):
    if self._events is not None:
      self._events.close()
      self._events = None


def read_jsonl(path, split=None):
  """The records of a metrics.jsonl, optionally of one split."""
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r for r in records if split is None or r["split"] == split]


class Console:
  """Lines and a tqdm progress bar on process 0; silent on the others.

  While the bar is open, lines go through tqdm so that they do not break it.
  """

  def __init__(self, enabled=True):
    self.enabled = enabled
    self._bar = None

  def say(self, line):
    if not self.enabled:
      return
    if self._bar is not None:
      self._bar.write(line)
    else:
      print(line, flush=True)

  def open_bar(self, total, initial):
    if self.enabled:
      from tqdm import tqdm
      self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                       mininterval=1.0, smoothing=0.1)

  def update(self, n=1, **metrics):
    if self._bar is None:
      return
    if metrics:
      self._bar.set_postfix({k: _short(v) for k, v in metrics.items()}, refresh=False)
    self._bar.update(n)

  def close_bar(self):
    if self._bar is not None:
      self._bar.close()
      self._bar = None


def _short(value):
  return f"{value:.4g}" if isinstance(value, float) else value
