"""Forward time of a full-size model on one 768x512 image (compile shown separately).

    python bench/forward.py [--arch mlicpp] [--runs 5]

Reports the staged evaluation forward (`Codec.forward`, the path that shares its
compiled stages with compress/decompress) and the single-jit forward (the training
graph without noise). PyTorch reference on 2 CPU cores: MLIC++ 3.75 s, ELIC 3.10 s.
"""
import argparse

import jax

from common import machine, peak_rss_gib, random_codec, test_image, timed


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--arch", default="mlicpp", help="any registered model name")
  parser.add_argument("--preset", default="full",
                      help="the model's preset: full, small, or a zoo quality q1..q8")
  parser.add_argument("--runs", type=int, default=5)
  args = parser.parse_args()
  codec = random_codec(args.arch, args.preset)
  x = jax.numpy.asarray(test_image()[None] / 255.0, jax.numpy.float32)
  print(f"{args.arch} {args.preset} ({codec.config}), 1x512x768x3, {machine()}")
  first, median, times = timed(lambda: codec.forward(x)["x_hat"], args.runs)
  print(f"staged forward:     compile+run {first:.2f} s, then median {median:.3f} s "
        f"of {args.runs} ({', '.join(f'{t:.3f}' for t in times)})")
  fused = jax.jit(lambda p, x: codec.model.apply({"params": p}, x)["x_hat"])
  first, median, times = timed(lambda: fused(codec.params, x), args.runs)
  print(f"single-jit forward: compile+run {first:.2f} s, then median {median:.3f} s "
        f"of {args.runs} ({', '.join(f'{t:.3f}' for t in times)})")
  print(f"peak RSS {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
  main()
