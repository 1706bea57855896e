"""Training speed: the jitted train step (steps/s, images/s) and the input pipeline.

    python bench/train_step.py                       # small and full MLIC++, batch 8, 256 px
    python bench/train_step.py --sizes small --steps 5 --arch elic
    python bench/train_step.py --pipeline-only

The step is timed on one fixed device-resident batch (so only the step is measured):
compile time apart, then the median of --steps steps after --warmup steps, each
waited for. Params are random, drawn on the host from the init's shapes (speed does
not depend on their values; this skips compiling the init, minutes for the full model
on CPU). On CPU the full-size step takes tens of seconds: keep --steps small there.

The pipeline is timed on synthetic 768x512 PNGs (Kodak-sized), decoded and cropped
by --threads threads, after its first batch.
"""
import argparse
import os
import statistics
import tempfile
import time

from common import machine, random_params, test_image  # noqa: E402  (adds the repo to sys.path)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lic_jax.models import registry  # noqa: E402
from lic_jax.training import TrainConfig, input_pipeline, sharding  # noqa: E402
from lic_jax.training import trainer as trainer_lib  # noqa: E402


def bench_step(arch, size, batch, patch, steps, warmup):
  spec = registry.get(arch)
  model_config = spec.make_config(size)
  config = TrainConfig(data="", steps=1_000_000, arch=arch, size=size, batch_size=batch,
                       patch_size=patch)
  mesh = sharding.make_mesh()
  params = random_params(spec.build(model_config))
  trainer = trainer_lib.Trainer(config, mesh, params=params, say=lambda line: None)
  trainer.compile_train()
  images = np.stack([test_image(patch, patch, seed=i) for i in range(batch)])
  images = sharding.global_batch(images, mesh)
  times = []
  for k in range(warmup + steps):
    start = time.perf_counter()
    trainer.state, metrics = trainer.train_fn(trainer.state, images)
    jax.block_until_ready(metrics)
    if k >= warmup:
      times.append(time.perf_counter() - start)
  median = statistics.median(times)
  print(f"{arch} {size} {model_config}: batch {batch} x {patch}x{patch}: compile "
        f"{trainer.compile_seconds['train_step']:.1f} s; step median {median:.3f} s over "
        f"{steps} (min {min(times):.3f}, max {max(times):.3f}) -> {1 / median:.3f} steps/s, "
        f"{batch / median:.2f} images/s", flush=True)


def bench_pipeline(batch, patch, threads, batches, num_images=32):
  with tempfile.TemporaryDirectory() as folder:
    from PIL import Image
    for i in range(num_images):
      Image.fromarray(test_image(512, 768, seed=i)).save(os.path.join(folder, f"{i:03d}.png"))
    pipeline = input_pipeline.TrainPipeline(folder, patch, batch, seed=0, num_threads=threads)
    iterator = pipeline.iterator()
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
      next(iterator)
    seconds = time.perf_counter() - start
  print(f"input pipeline: {threads} threads, 768x512 PNG -> {patch}x{patch} crops, batch "
        f"{batch}: {batches * batch / seconds:.1f} images/s ({batches} batches in "
        f"{seconds:.2f} s)", flush=True)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--arch", default="mlicpp", choices=registry.names())
  p.add_argument("--sizes", nargs="+", default=["small", "full"],
                 help="presets of --arch (full, small, test-small, q1..q8 for zoo models)")
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--patch", type=int, default=256)
  p.add_argument("--steps", type=int, default=5, help="timed steps per size")
  p.add_argument("--warmup", type=int, default=1, help="untimed steps after compiling")
  p.add_argument("--threads", type=int, default=2, help="pipeline decoding threads")
  p.add_argument("--pipeline-batches", type=int, default=16)
  p.add_argument("--pipeline-only", action="store_true")
  args = p.parse_args(argv)
  unknown = [size for size in args.sizes if size not in registry.get(args.arch).presets]
  if unknown:
    p.error(f"{args.arch} has no preset {', '.join(unknown)}; it has "
            f"{', '.join(registry.get(args.arch).presets)}")
  print(machine(), flush=True)
  bench_pipeline(args.batch, args.patch, args.threads, args.pipeline_batches)
  if not args.pipeline_only:
    for size in args.sizes:
      bench_step(args.arch, size, args.batch, args.patch, args.steps, args.warmup)


if __name__ == "__main__":
  main()
