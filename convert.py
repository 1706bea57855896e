"""Convert a released PyTorch MLIC++ / ELIC checkpoint into a lic_jax model directory.

    python convert.py mlicpp.pth.tar [--out DIR] [--arch auto|mlicpp|mlicpp-old|elic]

Needs torch (pip install '.[convert]'); the checkpoint is read with
torch.load(weights_only=True), which never runs pickled code.
"""
import argparse
import os
import sys


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("checkpoint", help="a .pth / .pth.tar file: {'state_dict': ...} or a "
                      "bare state dict, keys with or without a 'module.' prefix")
  parser.add_argument("--out", help="output directory (default: the checkpoint's name "
                      "without extension, beside it)")
  parser.add_argument("--arch", default="auto",
                      choices=("auto", "mlicpp", "mlicpp-old", "elic"),
                      help="model class; auto-detected from the keys by default")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace --out if it exists")
  args = parser.parse_args(argv)

  from lic_jax import checkpoint, convert
  out = args.out or os.path.join(
      os.path.dirname(os.path.abspath(args.checkpoint)),
      os.path.basename(args.checkpoint).split(".pth")[0] + "_lic_jax")
  try:
    state_dict = convert.load_torch_state_dict(args.checkpoint)
    arch, config, params, tables = convert.convert_state_dict(state_dict, args.arch)
    meta = checkpoint.save(out, arch, config, params, tables, overwrite=args.overwrite,
                           extra={"source": os.path.basename(args.checkpoint)})
  except (convert.ConversionError, checkpoint.ModelDirError) as e:
    print(f"convert.py: error: {e}", file=sys.stderr)
    return 1
  print(f"arch:       {arch}")
  print(f"config:     {meta['config']}")
  print(f"parameters: {meta['num_params']:,}")
  print(f"model hash: {meta['model_hash']}")
  print(f"written:    {os.path.abspath(out)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
