"""CompressAI's own compress / decompress times for bmshj2018-factorized,
bmshj2018-hyperprior, mbt2018-mean, mbt2018, cheng2020-anchor and cheng2020-attn at a zoo
quality (default each arch's highest: q8, N=192, M=320; cheng2020 q6, N=M=192), the
PyTorch peer of `bench/codec.py --arch ... --preset q8`.

Runs in a THROWAWAY venv, not in the project's (compressai is not a lic_jax dependency,
and its code is only a read-only reference):

    python3.11 -m venv /tmp/cai
    /tmp/cai/bin/pip install compressai==1.2.8 'numpy<2' Pillow scipy scikit-image
    /tmp/cai/bin/python bench/compressai_codec.py [--runs 5] [--arch NAME ...] [--quality Q]

The zoo's weights are not reachable here: weights are seeded random, calibrated as the
reference fixtures were (compressai_heldback.calibrate) on the image itself so that
rates are of the right order; --save-weights writes them for lic_jax's side
(`bench/codec.py --weights`), so both code the same image with the same weights. The
image is --image resized to 768x512, or bench/common.py's test_image (smooth random),
re-implemented with numpy. 2 torch threads; a warm-up call, then the median of --runs
calls of compress and of decompress, each timed alone. One JSON line per arch.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.filterwarnings("ignore", category=FutureWarning)

import compressai  # noqa: E402
from compressai.zoo.image import cfgs  # noqa: E402

from compressai_heldback import ARCHS, build, zoo_key_style  # noqa: E402


def test_image(height=512, width=768, seed=0):
  """bench/common.py's test_image: a smooth random 8-bit RGB image (uint8, (H, W, 3))."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (height // 32 + 1, width // 32 + 1, 3))
  image = np.kron(coarse, np.ones((32, 32, 1)))[:height, :width]
  return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def timed(fn, runs):
  """(warm-up seconds, median seconds of `runs` later calls, the last result)."""
  start = time.perf_counter()
  result = fn()
  first = time.perf_counter() - start
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
  return first, statistics.median(times), result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--arch", nargs="*", default=list(ARCHS), choices=list(ARCHS))
  parser.add_argument("--quality", type=int,
                      help="zoo quality: N, M from its cfgs; default each arch's highest")
  parser.add_argument("--runs", type=int, default=5)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--height", type=int, default=512)
  parser.add_argument("--width", type=int, default=768)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--image", help="a photo, resized to width x height with Pillow's "
                      "Lanczos as bench/common.py's photo() does (default: test_image)")
  parser.add_argument("--save-weights", metavar="DIR",
                      help="write each calibrated model as DIR/<arch>-q<quality>.pth.tar (the "
                      "zoo's key style), for bench/codec.py --weights: the same weights")
  args = parser.parse_args(argv)
  qualities = {arch: max(cfgs[arch]) if args.quality is None else args.quality
               for arch in args.arch}
  for arch, quality in qualities.items():
    if quality not in cfgs[arch]:
      parser.error(f"{arch} has zoo qualities {sorted(cfgs[arch])}, not {quality}")
  torch.set_num_threads(args.threads)
  if args.image:
    with Image.open(args.image) as source:
      image = np.asarray(source.convert("RGB").resize((args.width, args.height), Image.LANCZOS))
  else:
    image = test_image(args.height, args.width)
  x = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
  for arch in args.arch:
    config = cfgs[arch][qualities[arch]]
    n, m = config if len(config) == 2 else config * 2  # cheng2020: (N,), M = N
    model, factors = build(arch, n, m, args.seed, x)
    if args.save_weights:
      os.makedirs(args.save_weights, exist_ok=True)
      torch.save(zoo_key_style(model.state_dict()),
                 os.path.join(args.save_weights, f"{arch}-q{qualities[arch]}.pth.tar"))
    with torch.inference_mode():
      enc_first, enc_s, enc = timed(lambda: model.compress(x), args.runs)
      dec_first, dec_s, dec = timed(lambda: model.decompress(enc["strings"], enc["shape"]),
                                    args.runs)
    nbytes = sum(len(s[0]) for s in enc["strings"])
    x_hat = dec["x_hat"].clamp(0, 1)
    mse = torch.mean((torch.round(x_hat * 255) - torch.round(x * 255)) ** 2).item()
    print(json.dumps({
        "arch": arch, "quality": qualities[arch], "N": n, "M": m,
        "image": f"{args.width}x{args.height}",
        "compress_s": round(enc_s, 4), "decompress_s": round(dec_s, 4),
        "compress_first_s": round(enc_first, 4), "decompress_first_s": round(dec_first, 4),
        "runs": args.runs, "bytes": nbytes,
        "bpp": round(8 * nbytes / (args.height * args.width), 4),
        "psnr_8bit": round(10 * np.log10(255 ** 2 / mse), 2) if mse else None,
        "calibration": {k: round(v, 4) for k, v in factors.items()},
        "compressai": compressai.__version__, "torch": torch.__version__, "numpy": np.__version__,
        "threads": torch.get_num_threads(), "cpus_visible": os.cpu_count(),
        "cpu": platform.processor() or platform.machine()}), flush=True)


if __name__ == "__main__":
  main()
