"""Preview and partial decoding against the full decode, 768x512: `Codec.preview`
(the first group, then a grid 2x or 4x coarser for the rest and the synthesis) and
`decompress(groups=1)`, alternated with `decompress`; first calls (compiles) apart,
medians of --runs.

    python bench/preview.py [--arch elic --arch mlicpp] [--runs 5]

Always the bundled default on the demo photo (resized to 768x512); --arch adds a
full-size model with random weights on the same photo.
"""
import argparse
import os
import statistics
import time

from common import REPO, machine, photo, random_codec


def measure(name, codec, image, runs):
  data = codec.compress(image)
  ops = {"decompress": lambda: codec.decompress(data),
         "decompress --groups 1": lambda: codec.decompress(data, groups=1),
         "preview (scale 2)": lambda: codec.preview(data, scale=2),
         "preview (scale 4)": lambda: codec.preview(data, scale=4)}
  first = {}
  for op, fn in ops.items():  # compiles
    start = time.perf_counter()
    fn()
    first[op] = time.perf_counter() - start
  times = {op: [] for op in ops}
  for _ in range(runs):
    for op, fn in ops.items():
      start = time.perf_counter()
      fn()
      times[op].append(time.perf_counter() - start)
  full = statistics.median(times["decompress"])
  print(f"{name}: {len(data)} bytes; {machine()}")
  for op, values in times.items():
    median = statistics.median(values)
    print(f"  {op:<22} median {median:.3f} s ({median / full:.0%} of the full decode), "
          f"first call {first[op]:.2f} s")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--arch", action="append", default=[])
  parser.add_argument("--runs", type=int, default=5)
  args = parser.parse_args()
  import lic_jax
  image = photo(os.path.join(REPO, "lic_jax", "assets", "holdout.png"))
  measure("default", lic_jax.load_model("default"), image, args.runs)
  for arch in args.arch:
    measure(f"{arch} full (random weights)", random_codec(arch), image, args.runs)


if __name__ == "__main__":
  main()
