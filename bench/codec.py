"""Compress and decompress time and peak memory of a full-size model, 768x512 image.

    python bench/codec.py [--arch NAME] [--preset full|q8|...] [--runs 5] [--op both|compress|decompress]
    python bench/codec.py --model default --image lic_jax/assets/holdout.png

First call (compile + run) shown apart from the median of `--runs` later calls. Run
one --op per process to read each operation's own peak RSS. Peak RSS is counted, as
the PyTorch anchor did, from after the first (compiling) call: compiling is a one-off
per image shape, kept in the persistent cache. PyTorch anchor (another, faster
machine; see BENCHMARKS.md): MLIC++ 2.06 s / 2.57 s at 1.6 GiB; ELIC 1.54 / 1.64 s.
"""
import argparse

from common import (converted_codec, machine, peak_rss_gib, photo, random_codec, reset_peak_rss,
                    rss_gib, test_image, timed)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--arch", default="mlicpp", help="any registered model name")
  parser.add_argument("--preset", default="full",
                      help="the model's preset: full, small, or a zoo quality q1..q8")
  parser.add_argument("--runs", type=int, default=5)
  parser.add_argument("--op", default="both", choices=("both", "compress", "decompress"))
  parser.add_argument("--weights", help="a PyTorch checkpoint to convert instead of random "
                      "weights (--arch and --preset then come from it), e.g. the calibrated "
                      "weights bench/compressai_codec.py --save-weights wrote")
  parser.add_argument("--model", help="a lic_jax model directory or bundled name (e.g. "
                      "default) instead of random weights")
  parser.add_argument("--image", help="a photo, resized to 768x512 (default: a synthetic "
                      "smooth random image)")
  args = parser.parse_args()
  if args.model:
    import lic_jax
    codec = lic_jax.load_model(args.model)
  else:
    codec = (converted_codec(args.weights) if args.weights
             else random_codec(args.arch, args.preset))
  image = photo(args.image) if args.image else test_image()
  trained = args.weights or args.model
  what = trained or f"{args.arch} {args.preset}, random weights"
  print(f"{what} ({codec.arch} {codec.config}), 768x512 image "
        f"{args.image or '(synthetic)'}, {machine()}")
  print(f"RSS after load {rss_gib():.2f} GiB")
  data = codec.compress(image)
  print(f"stream {len(data)} bytes = {8 * len(data) / image[..., 0].size:.3f} bpp"
        + ("" if trained else
           " (random weights: far more symbols than a trained model writes)"))
  ops = {"compress": lambda: codec.compress(image), "decompress": lambda: codec.decompress(data)}
  for name in (ops if args.op == "both" else [args.op]):
    first, median, times = timed(ops[name], args.runs, before_runs=reset_peak_rss)
    print(f"{name:<10}: first call {first:.2f} s, then median {median:.3f} s of {args.runs} "
          f"({', '.join(f'{t:.3f}' for t in times)}); peak RSS over those runs "
          f"{peak_rss_gib():.2f} GiB")
  print(f"RSS now {rss_gib():.2f} GiB")


if __name__ == "__main__":
  main()
