"""Altered payloads behind a valid checksum, as an encoder bug or a crafted file gives
them: how many decode to a wrong image with the decoding checks (format 3), and
without them (the same streams rewritten as format 2)?

    .venv/bin/python bench/payload_mutations.py [--mutations 600] [--model default]

The held-out photo (lic_jax/assets/holdout.png, 600x400) coded with the model; each
mutation XORs one random byte of the coded strings with a random non-zero value and
seals the container again (CRC recomputed). Every mutated stream is decoded twice:
as it is, and without its checks. Outcomes: the right image, refused (a
BitstreamError), or a wrong image.
"""
import argparse
import collections
import dataclasses
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

import lic_jax  # noqa: E402
from lic_jax import bitstream, image_io  # noqa: E402


def outcome(codec, data, right):
  try:
    decoded = codec.decompress(data)
  except bitstream.BitstreamError:
    return "refused"
  return "right" if np.array_equal(decoded, right) else "wrong"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--mutations", type=int, default=600)
  parser.add_argument("--model", default="default")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  codec = lic_jax.load_model(args.model)
  image, _ = image_io.read_image(os.path.join(REPO, "lic_jax", "assets", "holdout.png"))
  data = codec.compress(image)
  right = codec.decompress(data)
  stream = bitstream.Stream.from_bytes(data)
  names = list(stream.strings)
  sizes = np.array([len(stream.strings[n]) for n in names])
  rng = np.random.default_rng(args.seed)
  tally = {"with checks": collections.Counter(), "without checks": collections.Counter()}
  for _ in range(args.mutations):
    position = int(rng.integers(sizes.sum()))
    k = int(np.searchsorted(np.cumsum(sizes), position, side="right"))
    name, offset = names[k], position - int(sizes[:k].sum())
    string = bytearray(stream.strings[name])
    string[offset] ^= int(rng.integers(1, 256))
    mutated = dataclasses.replace(stream, strings={**stream.strings, name: bytes(string)})
    tally["with checks"][outcome(codec, mutated.to_bytes(), right)] += 1
    tally["without checks"][outcome(codec, mutated.to_bytes(version=2), right)] += 1
  print(f"{args.model}, holdout.png: {len(data)} bytes, strings "
        f"{dict(zip(names, sizes.tolist()))}, {args.mutations} one-byte payload mutations "
        "under a valid CRC:")
  for what, counts in tally.items():
    print(f"  {what}: {counts['wrong']} wrong images, {counts['refused']} refused, "
          f"{counts['right']} right")


if __name__ == "__main__":
  main()
