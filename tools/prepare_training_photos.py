"""Training photos for a default model: BSDS500's train and test images and ImageNet's
1,000 class samples, checked and downscaled, as PNGs. Never Kodak, Tecnick or CLIC;
never committed (they are not ours to redistribute).

    .venv/bin/python tools/prepare_training_photos.py --out data/photos

Sources, both for non-commercial research use only:
  BSDS500 (Arbeláez et al., Berkeley; "for non-commercial research and educational
    purposes"), from github.com/Sisso16/ssn_pytorch, BSR/BSDS500/data/images/train
    and test: 400 JPEGs, 481x321. images/val is left out: it is the BSD100/BSD68
    benchmark.
  ImageNet samples (one image per ILSVRC class; ImageNet's terms: non-commercial
    research and education), from github.com/EliSchwartz/imagenet-sample-images.
Both are cloned (shallow) when GitHub is reachable; offline the script says so and
stops. --bsds and --imagenet take local clones instead.

--heldout DIR also writes BSDS500's 100 `val` photos there, as PNGs at their own size
(481x321, checked like the others but not downscaled): the held-out set on which the
default model is judged (docs/default_model/TRAINING_LOG.md); never train on it.

Kept: RGB photos (not grayscale: channels that differ by less than 2 levels on
average), encoded at JPEG quality ~75 or better (judged by the luminance quantization
table), whose short side is at least --scale x --min-side. Each is downscaled by
--scale (Pillow's box filter, which averages the JPEG blocking away, as MLIC++'s data
preparation does) and written as PNG; `manifest.csv` lists every source file with
what was done and why.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

BSDS_URL = "https://github.com/Sisso16/ssn_pytorch"
IMAGENET_URL = "https://github.com/EliSchwartz/imagenet-sample-images"
# The standard JPEG luminance table scaled for quality 75 (libjpeg) averages 29.0; a
# file whose table averages more than this was saved at a lower quality.
MAX_LUMA_TABLE_MEAN = 29.5


def clone(url, into, *paths):
  """A shallow clone of url (or a local repository) into `into`, with only `paths`
  checked out; exits clearly if that fails (offline)."""
  for command in (["git", "clone", "--quiet", "--no-checkout", "--depth", "1", url, into],
                  ["git", "-C", into, "checkout", "--quiet", "HEAD", "--", *paths]):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode:
      sys.exit(f"prepare_training_photos: cannot get {url}: {result.stderr.strip()}\n"
               "This step needs GitHub (it downloads the photos); run it where GitHub is "
               "reachable, or pass local clones with --bsds / --imagenet.")
  return into


def verdict(path, scale, min_side):
  """(kept image or None, reason)."""
  try:
    with Image.open(path) as image:
      image.load()
      tables = getattr(image, "quantization", None) or {}
      if image.mode != "RGB":
        return None, f"mode {image.mode}"
      rgb = np.asarray(image, np.int16)
  except OSError as e:
    return None, f"unreadable: {e}"
  if tables and np.mean(tables[0]) > MAX_LUMA_TABLE_MEAN:
    return None, f"low JPEG quality (luma table mean {np.mean(tables[0]):.1f})"
  if np.mean(np.abs(np.diff(rgb, axis=-1))) < 2:
    return None, "grayscale"
  height, width = rgb.shape[:2]
  if min(height, width) < scale * min_side:
    return None, f"small ({width}x{height})"
  small = Image.fromarray(rgb.astype(np.uint8)).resize(
      (width // scale, height // scale), Image.BOX)
  return small, f"downscaled {width}x{height} -> {small.width}x{small.height}"


def write_heldout(folder, out):
  """BSDS500's val photos as PNGs at their own size (RGB ones only)."""
  os.makedirs(out, exist_ok=True)
  written = 0
  for name in sorted(os.listdir(folder)):
    if not name.lower().endswith(".jpg"):
      continue
    with Image.open(os.path.join(folder, name)) as image:
      if image.mode != "RGB":
        continue
      image.save(os.path.join(out, f"bsds_val_{os.path.splitext(name)[0]}.png"))
      written += 1
  print(f"{written} held-out photos (BSDS500 val, not downscaled) written to {out}")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="folder for the PNGs (created)")
  parser.add_argument("--bsds", default=BSDS_URL, help="BSDS500 repository (URL or path)")
  parser.add_argument("--imagenet", default=IMAGENET_URL,
                      help="ImageNet samples repository (URL or path)")
  parser.add_argument("--heldout", metavar="DIR",
                      help="also write BSDS500's val photos (not for training) to DIR")
  parser.add_argument("--scale", type=int, default=2, help="downscaling factor (>= 2)")
  parser.add_argument("--min-side", type=int, default=128,
                      help="the short side a photo must keep after downscaling")
  args = parser.parse_args(argv)
  if args.scale < 2:
    parser.error("--scale must be at least 2: downscaling removes the JPEG artefacts")
  rows, kept = [], 0
  with tempfile.TemporaryDirectory() as scratch:
    splits = {split: f"BSR/BSDS500/data/images/{split}" for split in ("train", "test")}
    val = "BSR/BSDS500/data/images/val"
    bsds = clone(args.bsds, os.path.join(scratch, "bsds"), *splits.values(),
                 *([val] if args.heldout else []))
    if args.heldout:
      write_heldout(os.path.join(bsds, val), args.heldout)
    imagenet = clone(args.imagenet, os.path.join(scratch, "imagenet"), ".")
    sources = []
    for split, subfolder in splits.items():
      folder = os.path.join(bsds, subfolder)
      sources += [(f"bsds_{split}", os.path.join(folder, name))
                  for name in sorted(os.listdir(folder)) if name.lower().endswith(".jpg")]
    sources += [("imagenet", os.path.join(imagenet, name)) for name in sorted(os.listdir(imagenet))
                if name.lower().endswith((".jpg", ".jpeg"))]
    if not sources:
      sys.exit("prepare_training_photos: no photos found in the clones")
    os.makedirs(args.out, exist_ok=True)
    for prefix, path in sources:
      image, reason = verdict(path, args.scale, args.min_side)
      stem = f"{prefix}_{os.path.splitext(os.path.basename(path))[0]}"
      if image is not None:
        image.save(os.path.join(args.out, stem + ".png"))
        kept += 1
      rows.append((prefix, os.path.basename(path), "kept" if image is not None else "dropped",
                   reason))
  with open(os.path.join(args.out, "manifest.csv"), "w", newline="") as f:
    csv.writer(f).writerows([("source", "file", "outcome", "reason"), *rows])
  dropped = {}
  for _, _, outcome, reason in rows:
    if outcome == "dropped":
      key = reason.split(" (")[0].split(":")[0]
      dropped[key] = dropped.get(key, 0) + 1
  print(f"{kept} of {len(rows)} photos written to {args.out} (downscaled by {args.scale}); "
        f"dropped: {dropped or 'none'}")


if __name__ == "__main__":
  main()
