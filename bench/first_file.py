"""Time to the first file: fresh processes that load a model and code one photo, with
an empty compilation cache (a size never compiled) and with a warm one, and eval.py
on a folder of photos of several sizes; beside a peer's command (the PyTorch
original), the two alternated in one sitting.

    python bench/first_file.py --model DIR --image photo.png [--folder DIR] [--rounds 2] \\
        [--before CHECKOUT] \\
        [--peer-compress 'CMD {image}'] [--peer-decompress 'CMD'] [--peer-eval 'CMD {folder}']

Each lic_jax run is `python -m lic_jax compress|decompress` (or eval.py) in a new
process, timed from its start to its exit (imports, loading the weights, compiling,
coding, writing the file); "cold" runs get a new empty $LIC_JAX_CACHE, "warm" runs
one that a run before filled. --before times the same commands run from another
checkout of lic_jax (the code before a change; same Python). A peer command is
timed the same way ({image}, {folder} and {stream} are filled in). Prints each run
and the medians.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command, env=None, cwd=REPO):
  """(wall seconds, the command's output); raises if it fails."""
  start = time.perf_counter()
  result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                          shell=isinstance(command, str))
  seconds = time.perf_counter() - start
  if result.returncode:
    raise RuntimeError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
  return seconds, result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def with_cache(directory):
  return dict(os.environ, LIC_JAX_CACHE=directory)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--image", required=True)
  parser.add_argument("--folder", help="photos of several sizes for eval.py")
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--before", metavar="CHECKOUT",
                      help="another checkout of lic_jax to time beside this one")
  parser.add_argument("--peer-compress")
  parser.add_argument("--peer-decompress")
  parser.add_argument("--peer-eval")
  args = parser.parse_args()
  work = tempfile.mkdtemp(prefix="first_file_")
  stream = os.path.join(work, "out.lic")
  lic = [sys.executable, "-m", "lic_jax"]
  jobs = {
      "compress": lic + ["compress", "--model", args.model, args.image, stream],
      "decompress": lic + ["decompress", "--model", args.model, stream,
                           os.path.join(work, "out.png")],
  }
  if args.folder:
    jobs["eval"] = [sys.executable, "eval.py", "--dataset", args.folder, "--model", args.model,
                    "--no-progress"]
  peers = {"compress": args.peer_compress, "decompress": args.peer_decompress,
           "eval": args.peer_eval}
  fill = lambda command: command.format(image=shlex.quote(args.image), stream=stream,
                                        folder=shlex.quote(args.folder or ""))
  times = {}
  print(f"model {args.model}, image {args.image}, folder {args.folder}; {os.cpu_count()} cores")
  # `python -m lic_jax` and eval.py import lic_jax from the folder they run in.
  checkouts = ([("before", os.path.abspath(args.before))] if args.before else []) + [
      ("lic_jax", REPO)]
  for round_ in range(args.rounds):
    for job, command in jobs.items():
      for who, checkout in checkouts:
        cold = tempfile.mkdtemp(dir=work)
        for label, cache in ((f"{job} cold", cold), (f"{job} warm", cold)):
          seconds, line = run(command, with_cache(cache), cwd=checkout)
          times.setdefault(f"{who} {label}", []).append(seconds)
          print(f"round {round_ + 1}  {who:<7} {label:<16} {seconds:7.2f} s   {line}",
                flush=True)
      if peers.get(job):
        seconds, line = run(fill(peers[job]))
        times.setdefault(f"peer {job}", []).append(seconds)
        print(f"round {round_ + 1}  peer    {job:<16} {seconds:7.2f} s   {line}", flush=True)
  print("medians:")
  for label, values in times.items():
    runs = ", ".join(f"{v:.2f}" for v in values)
    print(f"  {label:<24} {statistics.median(values):7.2f} s  ({runs})")


if __name__ == "__main__":
  main()
