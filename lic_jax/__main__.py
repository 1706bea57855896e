"""Command line: compress, decompress, inspect; and the quick-start demo.

    python -m lic_jax compress   --model DIR in.png out.lic
    python -m lic_jax decompress --model DIR out.lic rec.png
    python -m lic_jax info out.lic
    python -m lic_jax demo [--model DIR] [--image PATH] [--out-dir DIR]
"""
import argparse
import sys


def _compress(args):
  import lic_jax
  from lic_jax import image_io
  image, notes = image_io.read_image(args.input)
  for note in notes:
    print(f"note: {args.input}: {note}", file=sys.stderr)
  codec = lic_jax.load_model(args.model)
  data = codec.compress(image)
  image_io.atomic_write(args.output, data)
  h, w = image.shape[:2]
  print(f"{args.output}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp ({w}x{h})")


def _decompress(args):
  import lic_jax
  from lic_jax import image_io
  with open(args.input, "rb") as f:
    data = f.read()
  image = lic_jax.load_model(args.model).decompress(data)
  image_io.write_png(args.output, image)
  print(f"{args.output}: {image.shape[1]}x{image.shape[0]}")


def _info(args):
  from lic_jax import bitstream
  with open(args.input, "rb") as f:
    info = bitstream.info(f.read())
  for key, value in info.items():
    print(f"{key}: {value}")


def _demo(args):
  from lic_jax import demo
  demo.run(model=args.model, image=args.image, out_dir=args.out_dir)


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m lic_jax", description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  p = commands.add_parser("compress", help="image file -> .lic stream")
  p.add_argument("--model", required=True, help="model directory (convert.py / train.py)")
  p.add_argument("input", help="any image Pillow reads (PNG, JPEG, ...)")
  p.add_argument("output", help="stream to write")
  p.set_defaults(run=_compress)
  p = commands.add_parser("decompress", help=".lic stream -> PNG")
  p.add_argument("--model", required=True, help="the model directory that wrote the stream")
  p.add_argument("input")
  p.add_argument("output", help="PNG to write")
  p.set_defaults(run=_decompress)
  p = commands.add_parser("info", help="print a stream's header")
  p.add_argument("input")
  p.set_defaults(run=_info)
  p = commands.add_parser("demo", help="compress a bundled photo and compare with JPEG")
  p.add_argument("--model", help="model directory (default: the bundled default model)")
  p.add_argument("--image", help="image to code (default: the bundled held-out photo)")
  p.add_argument("--out-dir", default="demo_out", help="where outputs go (default demo_out)")
  p.set_defaults(run=_demo)
  args = parser.parse_args(argv)

  import lic_jax
  from lic_jax import bitstream, checkpoint, image_io
  lic_jax.enable_compilation_cache()
  try:
    args.run(args)
  except (bitstream.BitstreamError, checkpoint.ModelDirError, image_io.ImageError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except OSError as e:
    print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
