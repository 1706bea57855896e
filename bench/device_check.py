"""What lic_jax computes on an accelerator, against this CPU: one script for a GPU (or
TPU) machine, written for an image with JAX, flax and numpy but no TensorFlow, torch or
network. Never part of CI.

    # here, on the CPU machine (torch, ../shared/reference): CPU references, 1-2 min,
    # and a wheelhouse of what the device image may lack (--wheels NAME==VERSION ...)
    .venv/bin/python bench/device_check.py prepare bench/device_check_data
    # on the device machine (the data folder carried along), at most ~8 min
    python bench/device_check.py run bench/device_check_data --out $OUT
    # back here: decode on this CPU the streams the device wrote
    .venv/bin/python bench/device_check.py decode-here bench/device_check_data --out OUT_DIR
    # the same end to end on this CPU
    JAX_PLATFORMS=cpu .venv/bin/python bench/device_check.py run bench/device_check_data --out /tmp/dc

`prepare` writes, per model (the reference fixtures of MLIC++, ELIC and the six
CompressAI zoo models, and the bundled default model): its weights and tables as
numpy files (no orbax or torch needed to read them; MLIC++'s and ELIC's rounded to
float16 so that everything fits the 64 MiB a device run may carry), the test images,
the CPU's forward outputs and the symbols and CDF indexes the CPU encoder codes, plus
the PyTorch reference outputs of the zoo fixtures.

`run` measures on the default JAX backend and writes `device_check.json` under --out:
  parity    forward x_hat and likelihoods: max |device - CPU| and |device - PyTorch|
  symbols   the encoder's symbols and CDF indexes on the device vs the CPU's, counted
            per model: each differing one is a stream this device encodes and a CPU
            cannot decode (it refuses it: see the decoding checks in
            lic_jax.bitstream). The coding itself stays with the CPU side; here a
            recording coder takes the symbols.
  stages    compress and decompress model-stage times (analysis, the entropy
            parameters of every coding step, synthesis) of full-size MLIC++, ELIC and
            mbt2018-mean q8 at 768x512, random weights; compile apart, median of 3
  codec     the whole compress and decompress of the same models and image, coded
            with the default coder (numba, on the device machine's CPU): first call
            and median of 3, and the streams, written to --out/streams for
            `decode-here` (the random weights are drawn again from their seed)
  train     the training step of the same models at 256x256, batch 8 and 32
On a CPU, `stages` and `train` use the `small` presets and batch 2 (marked in the
JSON), so that the whole run stays within the 8 minutes a device check may take.

Over 250 lines: one self-contained script per device run (prepare here, run there,
decode here), since a device run carries only what it is given.
"""
import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax.traverse_util import flatten_dict, unflatten_dict  # noqa: E402

FIXTURES = {"mlicpp": "mlicpp_small", "elic": "elic_small",
            **{name: f"compressai/{name.replace('-', '_')}_small" for name in (
                "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
                "cheng2020-anchor", "cheng2020-attn")}}
TIMED = {"mlicpp": "full", "elic": "full", "mbt2018-mean": "q8"}
# Weights stored as float16 (the models used here are those rounded weights), so that
# the data fits what a device run may carry (64 MiB): no parity against PyTorch for
# these, only against the CPU. The default model is float16 already.
HALF = ("mlicpp", "elic", "default")
CROPS = [(0, 0, 256, 384), (100, 150, 192, 256), (37, 91, 128, 192)]
# What the device image may lack, as wheels for its Python (3.12, x86-64), installed
# offline there: `run` codes with numba and trains with grain. The 'cuda' image
# has numba, flax, optax, orbax and Pillow already (see the device tool's KINDS.md).
WHEELS = ("grain==0.2.18", "array-record==0.8.6", "portpicker==1.6.0")


class RecordingCoder:
  """A stand-in for the range coder that keeps what it is given (no TensorFlow)."""
  name = "recording"

  def __init__(self):
    self.calls = []

  def encoder(self, tables):
    coder = self

    class Encoder:
      def encode(self, symbols, indexes):
        coder.calls.append((np.asarray(symbols).ravel(), np.asarray(indexes).ravel()))

      def finish(self):
        return b""
    return Encoder()


def coded_symbols(codec, image):
  """(symbols, indexes) the encoder codes for `image`, all streams, in coding order."""
  from lic_jax import latent
  recorder = RecordingCoder()
  latents = codec.latents(image)
  mode = latent.Encode(recorder, codec.stream_tables, codec.layout)
  codec.model.latent_codec.code(codec.stages, mode, latents["y"], latents=latents)
  return (np.concatenate([s for s, _ in recorder.calls]),
          np.concatenate([i for _, i in recorder.calls]))


def codec_from(folder):
  from lic_jax.codec import Codec
  with open(os.path.join(folder, "model.json")) as f:
    meta = json.load(f)
  params = unflatten_dict({k: v.astype(np.float32) for k, v in
                           np.load(os.path.join(folder, "params.npz")).items()}, sep="/")
  tables = dict(np.load(os.path.join(folder, "tables.npz")))
  return Codec(meta["arch"], meta["config"], params, tables, meta["model_hash"])


def prepare(data):
  import lic_jax
  from common import converted_fixture, reference_outputs
  from lic_jax import image_io, model_dir
  from lic_jax.codec import Codec
  photo, _ = image_io.read_image(os.path.join(REPO, "lic_jax", "assets", "holdout.png"))
  # Crops of the held-out photo, zero-padded to one array (each is cut out again).
  images = np.stack([np.pad(photo[t:t + h, l:l + w], ((0, 256 - h), (0, 384 - w), (0, 0)))
                     for t, l, h, w in CROPS])
  np.save(os.path.join(data, "images.npy"), images)
  models = {**FIXTURES, "default": "default"}
  for name, fixture in models.items():
    folder = os.path.join(data, name)
    os.makedirs(folder, exist_ok=True)
    if fixture == "default":
      loaded = lic_jax.load_model("default")
      arch, config, params, tables = (loaded.arch, loaded.config, jax.device_get(loaded.params),
                                      loaded.table_arrays)
    else:
      arch, config, params, tables = converted_fixture(fixture)
    dtype = np.float16 if name in HALF else np.float32
    params = jax.tree_util.tree_map(lambda p: np.asarray(p).astype(dtype), params)
    np.savez_compressed(os.path.join(folder, "params.npz"), **flatten_dict(params, sep="/"))
    params = jax.tree_util.tree_map(lambda p: p.astype(np.float32), params)
    codec = Codec(arch, config, params, tables,
                  model_dir.model_hash(arch, dataclasses.asdict(config), params))
    np.savez(os.path.join(folder, "tables.npz"), **codec.table_arrays)
    with open(os.path.join(folder, "model.json"), "w") as f:
      json.dump({"arch": codec.arch, "config": dataclasses.asdict(codec.config),
                 "model_hash": codec.model_hash}, f)
    expected = {}
    for k, (_, _, h, w) in enumerate(CROPS):
      symbols, indexes = coded_symbols(codec, images[k, :h, :w])
      expected[f"symbols{k}"], expected[f"indexes{k}"] = symbols, indexes
    if fixture != "default":
      ref = reference_outputs(fixture)
      x = ref["x"].transpose(0, 2, 3, 1)
      out = codec.forward(x)
      expected["x"] = x
      for key in ("x_hat", "y_likelihoods", "z_likelihoods"):
        if key in out:
          expected[f"cpu_{key}"] = np.asarray(out[key])
          if name not in HALF:
            expected[f"torch_{key}"] = ref[f"forward:{key}"].transpose(0, 2, 3, 1)
    np.savez(os.path.join(folder, "expected.npz"), **expected)
    print(f"prepared {name}", flush=True)


def timed(fn, runs=3):
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return {"first_s": round(first, 4), "median_s": round(statistics.median(times), 4)}


def random_codec(arch, preset):
  """A Codec of `arch` at `preset` with random weights drawn from seed 0 (the same on
  every machine: numpy's generator), its tables computed from them."""
  from lic_jax.codec import Codec
  from lic_jax.latent import tables as latent_tables
  from lic_jax.models import registry
  from common import random_params
  spec = registry.get(arch)
  model = spec.build(spec.make_config(preset))
  params = random_params(model)
  return Codec(arch, model.config, params, latent_tables.model_table_arrays(model, params),
               "0" * 16)


def codec_times(arch, preset, height, width, streams):
  """Whole compress and decompress (model stages and coding), and the stream, written
  to `streams`/<arch>_<preset>.lic."""
  from common import test_image
  codec, image = random_codec(arch, preset), test_image(height, width)
  data = codec.compress(image)
  os.makedirs(streams, exist_ok=True)
  with open(os.path.join(streams, f"{arch}_{preset}.lic"), "wb") as f:
    f.write(data)
  return {"coder": codec.coder.name, "bytes": len(data),
          "compress": timed(lambda: codec.compress(image)),
          "decompress": timed(lambda: codec.decompress(data))}


def decode_here(out):
  """Decodes on this machine the streams `run` wrote under `out`/streams: identical
  to this machine's own decode of its own encoding, refused, or wrong."""
  from common import test_image
  from lic_jax import bitstream
  report = {}
  folder = os.path.join(out, "streams")
  for name in sorted(os.listdir(folder)):
    arch, preset = name[:-len(".lic")].rsplit("_", 1)
    codec = random_codec(arch, preset)
    with open(os.path.join(folder, name), "rb") as f:
      data = f.read()
    info = bitstream.info(data)
    image = test_image(info["height"], info["width"])
    own = codec.decompress(codec.compress(image))
    try:
      outcome = "identical" if np.array_equal(codec.decompress(data), own) else "wrong"
    except bitstream.DecoderMismatchError:
      outcome = "refused"
    report[name] = outcome
    print(name, outcome, flush=True)
  with open(os.path.join(out, "decode_here.json"), "w") as f:
    json.dump(report, f, indent=1)


def wheelhouse(data, wheels):
  """Downloads `wheels` (NAME==VERSION) for the device's Python into data/wheels."""
  import subprocess
  folder = os.path.join(data, "wheels")
  os.makedirs(folder, exist_ok=True)
  platforms = [f"--platform=manylinux_2_{n}_x86_64" for n in (17, 27, 28)]
  subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                  "--only-binary=:all:", "--python-version=3.12", "--implementation=cp",
                  *platforms, "--platform=manylinux2014_x86_64", "-d", folder, *wheels],
                 check=True)
  size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
  print(f"wheelhouse: {len(os.listdir(folder))} wheels, {size / 2 ** 20:.1f} MiB "
        "(install there: pip install --no-index --no-deps --target /tmp/site DATA/wheels/*)")


def stage_times(arch, preset, height, width):
  from lic_jax import latent
  codec = random_codec(arch, preset)
  x = jax.numpy.asarray(np.random.default_rng(0).uniform(0, 1, (1, height, width, 3)),
                        jax.numpy.float32)
  latents = codec.stages.stage("analysis")(x)

  def entropy():
    mode = latent.Encode(RecordingCoder(), codec.stream_tables, codec.layout)
    z = codec.model.latent_codec.side_latents(codec.stages, latents)
    return codec.model.latent_codec.code(codec.stages, mode, latents,
                                         latents={"y": latents, **z})[0]
  y_hat = entropy()
  return {"analysis": timed(lambda: codec.stages.stage("analysis")(x)),
          "entropy_parameters_and_quantization": timed(entropy),
          "synthesis": timed(lambda: codec.stages.stage("synthesis")(y_hat))}


def train_times(arch, preset, batch, patch):
  from lic_jax.models import registry
  from lic_jax.training import TrainConfig, sharding
  from lic_jax.training import trainer as trainer_lib
  from common import random_params
  spec = registry.get(arch)
  config = TrainConfig(data="", steps=10 ** 6, arch=arch, size=preset, batch_size=batch,
                       patch_size=patch)
  mesh = sharding.make_mesh()
  trainer = trainer_lib.Trainer(config, mesh, params=random_params(spec.build(
      spec.make_config(preset))), say=lambda line: None)
  trainer.compile_train()
  images = sharding.global_batch(np.random.default_rng(0).integers(
      0, 256, (batch, patch, patch, 3), np.uint8), mesh)
  times = []
  for k in range(4):
    start = time.perf_counter()
    trainer.state, metrics = trainer.train_fn(trainer.state, images)
    jax.block_until_ready(metrics)
    if k:
      times.append(time.perf_counter() - start)
  return {"compile_s": round(trainer.compile_seconds["train_step"], 2),
          "step_median_s": round(statistics.median(times), 4)}


def run(data, out):
  start = time.perf_counter()
  backend = jax.default_backend()
  on_cpu = backend == "cpu"
  report = {"jax": jax.__version__, "backend": backend,
            "device": str(jax.devices()[0].device_kind), "python": platform.python_version(),
            "machine": platform.machine(), "parity": {}, "symbols": {}, "stages": {},
            "codec": {}, "train": {}, "scaled_down_for_cpu": on_cpu}
  images = np.load(os.path.join(data, "images.npy"))
  for name in [*FIXTURES, "default"]:
    folder = os.path.join(data, name)
    codec = codec_from(folder)
    expected = dict(np.load(os.path.join(folder, "expected.npz")))
    if "x" in expected:
      out_device = codec.forward(expected["x"])
      report["parity"][name] = {
          f"{key}_vs_{ref}": float(np.max(np.abs(np.asarray(out_device[key], np.float64)
                                                 - expected[f"{ref}_{key}"])))
          for key in ("x_hat", "y_likelihoods", "z_likelihoods")
          for ref in ("cpu", "torch") if f"{ref}_{key}" in expected}
    tally = {"images": len(CROPS), "symbols": 0, "differing_symbols": 0,
             "differing_indexes": 0, "streams_a_cpu_cannot_decode": 0}
    for k, (_, _, h, w) in enumerate(CROPS):
      symbols, indexes = coded_symbols(codec, images[k, :h, :w])
      bad_symbols = int(np.sum(symbols != expected[f"symbols{k}"]))
      bad_indexes = int(np.sum(indexes != expected[f"indexes{k}"]))
      tally["symbols"] += symbols.size
      tally["differing_symbols"] += bad_symbols
      tally["differing_indexes"] += bad_indexes
      tally["streams_a_cpu_cannot_decode"] += int(bad_symbols + bad_indexes > 0)
    report["symbols"][name] = tally
    print(name, report["parity"].get(name), report["symbols"][name], flush=True)
  height, width = (256, 384) if on_cpu else (512, 768)
  for arch, preset in TIMED.items():
    preset = "small" if on_cpu else preset
    report["stages"][f"{arch} {preset} {width}x{height}"] = stage_times(arch, preset, height,
                                                                       width)
    print(arch, report["stages"][f"{arch} {preset} {width}x{height}"], flush=True)
    key = f"{arch} {preset} {width}x{height}"
    report["codec"][key] = codec_times(arch, preset, height, width,
                                       os.path.join(out, "streams"))
    print(key, report["codec"][key], flush=True)
  for arch, preset in TIMED.items():
    preset = "small" if on_cpu else preset
    for batch in ((2,) if on_cpu else (8, 32)):
      patch = 128 if on_cpu else 256
      key = f"{arch} {preset} batch {batch} x {patch}x{patch}"
      report["train"][key] = train_times(arch, preset, batch, patch)
      print(key, report["train"][key], flush=True)
  report["seconds"] = round(time.perf_counter() - start, 1)
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "device_check.json"), "w") as f:
    json.dump(report, f, indent=1)
  print(f"wrote {os.path.join(out, 'device_check.json')} after {report['seconds']} s")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("command", choices=("prepare", "run", "decode-here"))
  parser.add_argument("data", help="the folder `prepare` writes and `run` reads")
  parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/device_check"))
  parser.add_argument("--wheels", nargs="*", default=WHEELS,
                      help=f"wheels for the device's Python (default: {' '.join(WHEELS)})")
  args = parser.parse_args(argv)
  if args.command == "prepare":
    os.makedirs(args.data, exist_ok=True)
    prepare(args.data)
    wheelhouse(args.data, args.wheels)
  elif args.command == "run":
    run(args.data, args.out)
  else:
    decode_here(args.out)


if __name__ == "__main__":
  main()
