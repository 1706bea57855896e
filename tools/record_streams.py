"""Records the streams tests/test_default_model.py holds every later lic_jax to: the
bundled photo coded by the default model at a few qualities (tests/data/streams),
with each stream's size and the PSNR and sha256 of the image it decodes to now. Run it
when the default model changes (its old streams then no longer decode).

    .venv/bin/python tools/record_streams.py [--qualities 3 7]
"""
import argparse
import hashlib
import json
import os
import subprocess

import lic_jax
from lic_jax import bitstream, image_io, metrics
from lic_jax.demo import DEFAULT_IMAGE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "tests", "data", "streams")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--qualities", type=float, nargs="+", default=[3, 7])
  args = parser.parse_args(argv)
  codec = lic_jax.load_model("default")
  image, _ = image_io.read_image(DEFAULT_IMAGE)
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
  streams = {}
  for old in os.listdir(FOLDER):
    os.remove(os.path.join(FOLDER, old))
  for quality in args.qualities:
    data = codec.compress(image, quality=quality)
    decoded = codec.decompress(data)
    name = f"default_q{quality:g}_holdout.lic"
    image_io.atomic_write(os.path.join(FOLDER, name), data)
    streams[name] = {"bytes": len(data), "format_version": bitstream.info(data)["format_version"],
                     "psnr_vs_holdout": metrics.psnr(metrics.mse_uint8(image, decoded), 255),
                     "decoded_sha256": hashlib.sha256(decoded.tobytes()).hexdigest()}
  record = {"written_by": f"tools/record_streams.py, lic_jax on top of commit {commit} (the "
                          f"default model {codec.model_hash}), coder {codec.coder.name}. "
                          "psnr_vs_holdout: the decoded image's PSNR against "
                          "lic_jax/assets/holdout.png (XLA's default CPU flags; its sha256 "
                          "then: decoded_sha256)",
            "streams": streams}
  with open(os.path.join(FOLDER, "streams.json"), "w") as f:
    json.dump(record, f, indent=1)
    f.write("\n")
  print(json.dumps(streams, indent=1))


if __name__ == "__main__":
  main()
