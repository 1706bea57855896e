"""Training with several processes, as on several hosts: two train.py processes on
127.0.0.1 (one CPU device each) finish with a loadable model,
resume exactly and stop together when one of them gets SIGTERM; one process with two
devices resumes exactly too.

Every process has a deadline; when one fails, the others are killed (they would wait
for it in a collective) and the stderr tails of all are shown. The runs are shared:
the uninterrupted 8-step run is the reference of the resume checks. The tiny
hyperprior model compiles in seconds. Marked `multiprocess` (deselect with
-m 'not multiprocess' where processes may not open loopback ports).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import REPO
from test_training import make_folder, synthetic_image

pytestmark = pytest.mark.multiprocess

# Explicit LR milestones: a run of 4 steps then has the schedule of a run of 8.
ARGS = ["--arch", "bmshj2018-hyperprior", "--size", "test-small", "--patch-size", "64",
        "--batch-size", "4", "--lr-milestones", "6 7", "--data-threads", "1"]
STEPS, HALF = 8, 4
DEADLINE = 240  # Seconds for one run (compiling and 8 steps take ~20 s on 2 cores).


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(**extra):
  # Gloo CPU collectives are JAX's default once jax.distributed is up (0.5 and later).
  env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return env


class Run:
  """train.py started as processes 0..count-1 of one distributed run (count 1: a plain
  process), output to files under `logs`."""

  def __init__(self, args, logs, count=2, command=None, env=None):
    os.makedirs(logs, exist_ok=True)
    self.logs = [(os.path.join(logs, f"{i}.out"), os.path.join(logs, f"{i}.err"))
                 for i in range(count)]
    port = _free_port()
    self.procs = []
    for i, (out, err) in enumerate(self.logs):
      extra = ({"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                "JAX_NUM_PROCESSES": str(count), "JAX_PROCESS_ID": str(i)} if count > 1 else {})
      with open(out, "w") as stdout, open(err, "w") as stderr:
        self.procs.append(subprocess.Popen(
            command or [sys.executable, os.path.join(REPO, "train.py"), *args],
            env={**_env(**extra), **(env or {})}, stdout=stdout, stderr=stderr))
    self.deadline = time.monotonic() + DEADLINE

  def stdout(self, i=0):
    with open(self.logs[i][0]) as f:
      return f.read()

  def fail(self, why):
    """Kills what still runs and fails with every process's exit code and stderr."""
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    report = [why]
    for i, (proc, (_, err)) in enumerate(zip(self.procs, self.logs)):
      with open(err) as f:
        report.append(f"--- process {i} (exit {proc.returncode}), stderr tail:\n"
                      + f.read()[-3000:])
    pytest.fail("\n".join(report))

  def check(self):
    """Fails if a process died with an error or the deadline has passed."""
    codes = [p.poll() for p in self.procs]
    if any(c not in (None, 0) for c in codes):
      time.sleep(3)  # Let the others say what they saw.
      self.fail(f"a process failed: exit codes {[p.poll() for p in self.procs]}")
    if time.monotonic() > self.deadline:
      self.fail(f"timed out after {DEADLINE} s")

  def wait(self):
    """Waits until every process has exited 0."""
    while any(p.poll() is None for p in self.procs):
      self.check()
      time.sleep(0.2)
    self.check()


def train(args, logs, **kwargs):
  run = Run(args, logs, **kwargs)
  run.wait()
  return run


def x_hat(model_dir):
  import lic_jax
  x = synthetic_image(64, 64, 99)[None].astype(np.float32) / 255
  return np.asarray(lic_jax.load_model(str(model_dir)).forward(x)["x_hat"])


def trained_steps(model_dir):
  with open(os.path.join(model_dir, "lic_jax.json")) as f:
    return json.load(f)["trained_steps"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  root = tmp_path_factory.mktemp("mp_data")
  return {"train": make_folder(root / "train", 4), "val": make_folder(root / "val", 2, seed=50),
          "root": root}


@pytest.fixture(scope="module")
def reference(data):
  """8 uninterrupted steps with 2 processes, validating at 4 and 8 (best/ is written
  by process 0 alone, the others wait)."""
  workdir = data["root"] / "reference"
  run = train([*ARGS, "--data", data["train"], "--workdir", str(workdir), "--steps", str(STEPS),
               "--val", data["val"], "--val-every", str(HALF)], data["root"] / "logs_reference")
  return {"workdir": workdir, "run": run}


def test_two_processes_finish_with_a_loadable_model(reference):
  workdir = reference["workdir"]
  assert "2 process(es)" in reference["run"].stdout()
  assert trained_steps(workdir / "final") == STEPS
  assert trained_steps(workdir / "best") in (HALF, STEPS)
  out = x_hat(workdir / "final")
  assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()


def test_the_two_process_model_compresses(reference):
  import lic_jax
  codec = lic_jax.load_model(str(reference["workdir"] / "final"))
  image = synthetic_image(64, 96, 7)
  assert codec.decompress(codec.compress(image)).shape == image.shape


def test_two_process_resume_is_exact(reference, data):
  workdir = data["root"] / "resumed"
  args = [*ARGS, "--data", data["train"], "--workdir", str(workdir)]
  train([*args, "--steps", str(HALF)], data["root"] / "logs_half")
  run = train([*args, "--steps", str(STEPS), "--resume"], data["root"] / "logs_resume")
  assert f"resumed {workdir} at step {HALF}" in run.stdout()
  assert trained_steps(workdir / "final") == STEPS
  diff = np.abs(x_hat(workdir / "final") - x_hat(reference["workdir"] / "final")).max()
  print(f"2 processes: max |x_hat(resumed) - x_hat(uninterrupted)| = {diff:.2e}")
  assert diff <= 1e-5


# train.py's main three times in one process: the runs share its compiled step.
_RUNS_IN_ONE_PROCESS = textwrap.dedent("""
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("train_cli", sys.argv[1])
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    for argv in json.loads(sys.argv[2]):
      status = train.main(argv)
      if status:
        sys.exit(status)
""")


def test_one_process_two_devices_resume_is_exact(data):
  straight, resumed = data["root"] / "1p_straight", data["root"] / "1p_resumed"
  runs = [[*ARGS, "--data", data["train"], "--workdir", str(workdir), *extra]
          for workdir, extra in ((straight, ["--steps", str(STEPS)]),
                                 (resumed, ["--steps", str(HALF)]),
                                 (resumed, ["--steps", str(STEPS), "--resume"]))]
  flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
  run = train(None, data["root"] / "logs_1p", count=1, env={"XLA_FLAGS": flags},
              command=[sys.executable, "-c", _RUNS_IN_ONE_PROCESS,
                       os.path.join(REPO, "train.py"), json.dumps(runs)])
  assert "2 device(s) (cpu), 1 process(es)" in run.stdout()
  assert f"resumed {resumed} at step {HALF}" in run.stdout()
  diff = np.abs(x_hat(resumed / "final") - x_hat(straight / "final")).max()
  print(f"1 process, 2 devices: max |x_hat(resumed) - x_hat(uninterrupted)| = {diff:.2e}")
  assert diff <= 1e-5


def test_sigterm_to_one_process_stops_both_at_the_same_step(data):
  """As a TPU VM's maintenance notice: SIGTERM to process 1 alone; both save the same
  step and exit 0, and --resume continues from it to the end."""
  workdir = data["root"] / "preempted"
  args = [*ARGS, "--data", data["train"], "--workdir", str(workdir)]
  run = Run([*args, "--steps", "1000", "--log-every", "1"], data["root"] / "logs_sigterm")
  metrics = workdir / "metrics.jsonl"
  while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
    run.check()
    if any(p.poll() is not None for p in run.procs):
      run.fail("a process ended before the signal")
    time.sleep(0.1)
  run.procs[1].send_signal(signal.SIGTERM)
  run.wait()
  steps = os.listdir(workdir / "checkpoints")
  assert len(steps) == 1, steps
  stop = int(steps[0])
  assert f"stopped at step {stop}; checkpoint saved" in run.stdout()
  # Both processes' data positions, at the step both stopped at.
  with open(workdir / "checkpoints" / steps[0] / "meta" / "metadata") as f:
    positions = json.load(f)["data_positions"]
  assert len(positions) == 2 and all(positions), positions
  assert not (workdir / "final").exists()
  print(f"SIGTERM to process 1: both exited 0, saved step {stop}")
  resumed = train([*args, "--steps", str(stop + 2), "--resume"], data["root"] / "logs_resumed")
  assert f"resumed {workdir} at step {stop}" in resumed.stdout()
  assert trained_steps(workdir / "final") == stop + 2
