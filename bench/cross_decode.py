"""Streams encoded under one XLA CPU configuration, decoded under others: do decoders
on other CPUs, thread counts or XLA runtimes reproduce the encoder's entropy
parameters, and when they do not, do they refuse (DecoderMismatchError) rather than
decode a wrong image?

    .venv/bin/python bench/cross_decode.py [--images 4] [--out /tmp/cross_decode]

Every model family, at the size of its reference fixture (../shared/reference; the
bundled default model as it is): MLIC++ (both classes), ELIC, the six CompressAI zoo
architectures and `default`. Images: crops of lic_jax/assets/holdout.png of several
sizes. One process encodes everything in the baseline configuration (this machine's
ISA, all threads, lic_jax's runtime choice) and records what it decodes itself; one
process per configuration then decodes every stream and counts, per family:
identical, within +-1 of 255 (a symbol flip that stayed small), refused (a
BitstreamError, the decoder-mismatch one or another), wrong (anything else). Each
process is a fresh interpreter with its own XLA_FLAGS.
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# name -> reference fixture (or "default")
MODELS = {
    "mlicpp": "mlicpp_small", "mlicpp-old": "mlicpp_old_small", "elic": "elic_small",
    "bmshj2018-factorized": "compressai/bmshj2018_factorized_small",
    "bmshj2018-hyperprior": "compressai/bmshj2018_hyperprior_small",
    "mbt2018-mean": "compressai/mbt2018_mean_small", "mbt2018": "compressai/mbt2018_small",
    "cheng2020-anchor": "compressai/cheng2020_anchor_small",
    "cheng2020-attn": "compressai/cheng2020_attn_small", "default": "default",
}
# configuration -> (environment, CPU list for taskset or None)
CONFIGS = {
    "baseline": ({}, None),
    "ISA SSE4_2": ({"XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"}, None),
    "ISA AVX": ({"XLA_FLAGS": "--xla_cpu_max_isa=AVX"}, None),
    "ISA AVX2": ({"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}, None),
    "1 thread": ({"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}, "0"),
    "classic runtime everywhere": ({"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"}, None),
    "thunk runtime everywhere": ({"CROSS_DECODE_THUNK_ONLY": "1"}, None),
}
# (top, left, height, width) crops of the 600x400 held-out photo
CROPS = [(0, 0, 400, 600), (37, 91, 256, 384), (120, 200, 190, 260), (11, 303, 128, 192),
         (200, 13, 171, 333), (64, 64, 300, 300)]


def load(fixture):
  import lic_jax
  from common import converted_fixture
  from lic_jax import model_dir
  from lic_jax.codec import Codec
  if fixture == "default":
    return lic_jax.load_model("default")
  arch, config, params, tables = converted_fixture(fixture)
  import dataclasses
  return Codec(arch, config, params, tables,
               model_dir.model_hash(arch, dataclasses.asdict(config), params))


def images(count):
  from lic_jax import image_io
  photo, _ = image_io.read_image(os.path.join(REPO, "lic_jax", "assets", "holdout.png"))
  return {f"crop{k}": photo[t:t + h, l:l + w] for k, (t, l, h, w) in enumerate(CROPS[:count])}


def encode(out, count):
  import numpy as np
  for name, fixture in MODELS.items():
    codec = load(fixture)
    os.makedirs(os.path.join(out, name), exist_ok=True)
    for image_name, image in images(count).items():
      data = codec.compress(image)
      stem = os.path.join(out, name, image_name)
      with open(stem + ".lic", "wb") as f:
        f.write(data)
      np.save(stem + ".npy", codec.decompress(data))
    print(f"encoded {name}", flush=True)


def decode(out, count):
  import numpy as np
  from lic_jax import bitstream, stages
  if os.environ.get("CROSS_DECODE_THUNK_ONLY"):
    stages.TRANSFORM_OPTIONS.clear()  # The transforms too on the default runtime.
  counts = {}
  for name, fixture in MODELS.items():
    codec = load(fixture)
    tally = dict(identical=0, within_1=0, refused=0, wrong=0, mismatch_messages=0)
    for image_name in images(count):
      stem = os.path.join(out, name, image_name)
      with open(stem + ".lic", "rb") as f:
        data = f.read()
      try:
        decoded = codec.decompress(data)
      except bitstream.BitstreamError as e:
        tally["refused"] += 1
        tally["mismatch_messages"] += isinstance(e, bitstream.DecoderMismatchError)
        continue
      difference = np.abs(decoded.astype(int) - np.load(stem + ".npy")).max()
      tally["identical" if difference == 0 else "within_1" if difference <= 1 else "wrong"] += 1
    counts[name] = tally
  print(json.dumps(counts))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="/tmp/cross_decode")
  parser.add_argument("--images", type=int, default=4, help=f"crops per model (<= {len(CROPS)})")
  parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
  parser.add_argument("--worker", choices=("encode", "decode"), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker == "encode":
    return encode(args.out, args.images)
  if args.worker == "decode":
    return decode(args.out, args.images)

  def run(worker, config):
    env, cpus = CONFIGS[config]
    command = [sys.executable, os.path.abspath(__file__), "--worker", worker,
               "--out", args.out, "--images", str(args.images)]
    if cpus is not None:
      command = ["taskset", "-c", cpus] + command
    environment = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    environment["JAX_PLATFORMS"] = "cpu"
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    result = subprocess.run(command, env={**environment, **env}, capture_output=True,
                            text=True, check=False)
    if result.returncode:
      sys.exit(f"{worker} under {config} failed:\n{result.stderr[-3000:]}")
    return result.stdout

  run("encode", "baseline")
  table = {}
  for config in args.configs:
    table[config] = json.loads(run("decode", config).strip().splitlines()[-1])
    print(config, json.dumps(table[config]), flush=True)
  with open(os.path.join(args.out, "table.json"), "w") as f:
    json.dump(table, f, indent=1)
  print("\n| family | " + " | ".join(args.configs) + " |")
  print("|---" * (len(args.configs) + 1) + "|")
  for name in MODELS:
    cells = []
    for config in args.configs:
      t = table[config][name]
      cells.append(f"{t['identical']} / {t['within_1']} / {t['refused']} / {t['wrong']}")
    print(f"| {name} | " + " | ".join(cells) + " |")
  print("\ncells: identical / within +-1 / refused / wrong, "
        f"{args.images} images per family")


if __name__ == "__main__":
  main()
