"""Command line: compress, decompress, inspect; and the quick-start demo.

    python -m lic_jax compress   --model DIR [--quality Q] [--refine STEPS] in.png out.lic
    python -m lic_jax decompress --model DIR [--groups K | --max-bytes N] out.lic rec.png
    python -m lic_jax preview    --model DIR [--groups K] [--scale S] out.lic small.png
    python -m lic_jax info out.lic
    python -m lic_jax demo [--model DIR] [--qualities Q ...] [--image PATH] [--out-dir DIR]
                           [--refine STEPS]

compress, decompress and demo take --coder NAME, the entropy coder implementation
(`lic_jax.coder`); every one writes and reads the same streams.
"""
import argparse
import sys


class UsageError(Exception):
  """An argument the command cannot use; reported in one line."""


def _compress(args):
  import lic_jax
  from lic_jax import image_io
  image, notes = image_io.read_image(args.input)
  for note in notes:
    print(f"note: {args.input}: {note}", file=sys.stderr)
  codec = lic_jax.load_model(args.model, args.coder)
  try:
    data = codec.compress(image, quality=args.quality, refine_steps=args.refine,
                          lmbda=args.lmbda)
  except ValueError as e:  # a quality out of range, --refine without a lambda, ...
    raise UsageError(str(e)) from None
  image_io.atomic_write(args.output, data)
  h, w = image.shape[:2]
  rate = "" if codec.qualities is None else (
      f", quality {codec.default_quality if args.quality is None else args.quality:g}")
  print(f"{args.output}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp ({w}x{h}{rate})")


def _decompress(args):
  import warnings
  import lic_jax
  from lic_jax import image_io
  with open(args.input, "rb") as f:
    data = f.read()
  model = lic_jax.load_model(args.model, args.coder)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
      image = model.decompress(data, max_pixels=args.max_pixels, groups=args.groups,
                               max_bytes=args.max_bytes, complete=args.complete)
    except ValueError as e:  # a part of a stream, of a model without channel groups
      raise UsageError(str(e)) from None
  for warning in caught:
    print(f"warning: {warning.message}", file=sys.stderr)
  image_io.write_png(args.output, image)
  print(f"{args.output}: {image.shape[1]}x{image.shape[0]}")


def _preview(args):
  import time
  import lic_jax
  from lic_jax import image_io
  with open(args.input, "rb") as f:
    data = f.read()
  model = lic_jax.load_model(args.model, args.coder)
  start = time.perf_counter()
  try:
    image = model.preview(data, groups=args.groups, scale=args.scale)
  except ValueError as e:
    raise UsageError(str(e)) from None
  seconds = time.perf_counter() - start
  image_io.write_png(args.output, image)
  print(f"{args.output}: {image.shape[1]}x{image.shape[0]} preview ({seconds:.2f} s)")


def _info(args):
  from lic_jax import bitstream, coder
  with open(args.input, "rb") as f:
    info = bitstream.info(f.read(), prefix=True)
  readers = coder.available() if info["coder"] in coder.formats() else []
  info["readable_here_by"] = ", ".join(readers) or "none (install a coder of its format)"
  for key, value in info.items():
    if key == "string_bytes":  # one line per entropy-coded string, in file order
      for name, size in value.items():
        print(f"string {name}: {size} bytes")
    else:
      print(f"{key}: {value}")


def _demo(args):
  from lic_jax import demo
  try:
    demo.run(model=args.model, image=args.image, out_dir=args.out_dir,
             refine_steps=args.refine, coder=args.coder, qualities=args.qualities)
  except ValueError as e:  # --qualities out of range, or for a model of one rate
    raise UsageError(str(e)) from None


def _steps(text):
  value = int(text)
  if value < 0:
    raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
  return value


def _add_coder(parser):
  from lic_jax import coder
  parser.add_argument("--coder", choices=list(coder.IMPLEMENTATIONS),
                      help="entropy coder implementation; all write the same streams "
                      f"(installed here: {', '.join(coder.available()) or 'none'}; "
                      "default: the first)")


def _stream_to_png(parser, run):
  """The arguments a command that decodes a stream to a PNG ends with."""
  _add_coder(parser)
  parser.add_argument("input")
  parser.add_argument("output", help="PNG to write")
  parser.set_defaults(run=run)


def main(argv=None):
  from lic_jax.bitstream import MAX_PIXELS
  from lic_jax.demo import CURVE_POINTS
  parser = argparse.ArgumentParser(prog="python -m lic_jax", description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  p = commands.add_parser("compress", help="image file -> .lic stream")
  p.add_argument("--model", required=True, help="model directory (convert.py / train.py), "
                 "or the bundled model: default")
  p.add_argument("--quality", type=float, metavar="Q",
                 help="the rate of a variable-rate model (the default model, CompressAI's "
                 "*-vbr): from 1 (smallest files) to its number of levels (CompressAI's: "
                 "8, their zoo qualities' lambdas; the default model's: 9), any value "
                 "between (default: the model's own)")
  p.add_argument("--refine", type=_steps, default=0, metavar="STEPS",
                 help="refine the latents for this image by STEPS gradient steps first: "
                 "smaller and better, slower to encode; any decoder reads it (default: 0)")
  p.add_argument("--lambda", dest="lmbda", type=float,
                 help="rate-distortion lambda of --refine (default: the model's training one)")
  _add_coder(p)
  p.add_argument("input", help="any image Pillow reads (PNG, JPEG, ...)")
  p.add_argument("output", help="stream to write")
  p.set_defaults(run=_compress)
  p = commands.add_parser("decompress", help=".lic stream -> PNG")
  p.add_argument("--model", required=True, help="the model directory that wrote the stream "
                 "(or default); a variable-rate stream records its rate")
  p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                 help=f"refuse streams of larger images (default: {MAX_PIXELS})")
  part = p.add_mutually_exclusive_group()
  part.add_argument("--groups", type=_steps, metavar="K",
                    help="decode the first K channel groups only (models with channel "
                    "groups); the rest is what the entropy model predicts")
  part.add_argument("--max-bytes", type=_steps, metavar="N",
                    help="decode the groups that the first N bytes of the file hold")
  part.add_argument("--complete", action="store_true",
                    help="refuse a file cut short (default: decode the groups it holds, "
                    "with a warning)")
  _stream_to_png(p, _decompress)
  p = commands.add_parser("preview", help="a quick, coarse picture from a stream's first "
                          "groups, at a lower resolution (models with channel groups)")
  p.add_argument("--model", required=True, help="the model directory that wrote the stream")
  p.add_argument("--groups", type=_steps, default=1, metavar="K",
                 help="channel groups to decode (default 1); the others are predicted")
  p.add_argument("--scale", type=int, default=4, choices=(1, 2, 4),
                 help="decode on a grid S times coarser: the decoded groups averaged over "
                 "S x S blocks, the others predicted there, the synthesis on it; a picture S "
                 "times smaller on each side (default 4)")
  _stream_to_png(p, _preview)
  p = commands.add_parser("info", help="print a stream's header: model, coder, size, "
                          "bytes of each string")
  p.add_argument("input")
  p.set_defaults(run=_info)
  p = commands.add_parser("demo", help="code a bundled photo along the default model's "
                          "curve; compare with JPEG, WebP, AVIF, JPEG XL, HEIF and JPEG 2000 "
                          "at the same sizes")
  p.add_argument("--model", help="model directory (default: the bundled model, default)")
  p.add_argument("--qualities", type=float, nargs="+", metavar="Q",
                 help=f"a variable-rate model's qualities to code at (default: "
                 f"{CURVE_POINTS} over its range)")
  p.add_argument("--image", help="image to code (default: the bundled held-out photo)")
  p.add_argument("--out-dir", default="demo_out", help="where outputs go (default demo_out)")
  p.add_argument("--refine", type=_steps, default=0, metavar="STEPS",
                 help="encode with latent refinement of STEPS steps: smaller and better, "
                 "slower (default: 0, the plain encoder)")
  _add_coder(p)
  p.set_defaults(run=_demo)
  args = parser.parse_args(argv)

  import lic_jax
  from lic_jax import bitstream, coder, image_io, model_dir
  lic_jax.enable_compilation_cache()
  try:
    args.run(args)
  except (bitstream.BitstreamError, model_dir.ModelDirError, image_io.ImageError,
          coder.CoderUnavailableError, UsageError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except OSError as e:
    print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
