"""Convert a PyTorch checkpoint (MLIC++, ELIC, CompressAI's zoo, any registered model)
into a lic_jax model directory.

    python convert.py CKPT [--out DIR] [--arch auto|NAME]

Needs no torch: the checkpoint (either torch.save format) is read by
lic_jax.torch_checkpoint, which turns tensors into numpy arrays and refuses anything
else in the pickle, so no code from the file runs.
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
                      help="a registered model name (the README's models table); "
                      "auto-detected from the keys and shapes by default")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace --out if it exists")
  args = parser.parse_args(argv)

  from lic_jax import conversion, model_dir
  from lic_jax.models import registry
  out = args.out or os.path.join(
      os.path.dirname(os.path.abspath(args.checkpoint)),
      os.path.basename(args.checkpoint).split(".pth")[0] + "_lic_jax")
  try:
    state_dict = conversion.load_torch_state_dict(args.checkpoint)
    arch, config, params, tables = conversion.convert_state_dict(state_dict, args.arch)
    extra = {"source": os.path.basename(args.checkpoint)}
    qualities = registry.get(arch).zoo_qualities(config)
    if qualities:  # the zoo's configs repeat across qualities: the shapes tell a range
      extra["zoo"] = {"name": arch, "qualities": qualities}
    meta = model_dir.save(out, arch, config, params, tables, overwrite=args.overwrite,
                           extra=extra)
  except (conversion.ConversionError, model_dir.ModelDirError) as e:
    print(f"convert.py: error: {e}", file=sys.stderr)
    return 1
  print(f"arch:       {arch}")
  print(f"config:     {meta['config']}")
  if "zoo" in meta:
    print(f"zoo:        {arch}, quality {' or '.join(map(str, meta['zoo']['qualities']))}")
  print(f"parameters: {meta['num_params']:,}")
  print(f"model hash: {meta['model_hash']}")
  print(f"written:    {os.path.abspath(out)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
