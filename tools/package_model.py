"""Packages a trained model directory for shipping: float16 weights (half the size; they
load as float32), CDF tables recomputed from the rounded weights, and the stream hash of
the weights as loaded (float32 of the float16 values).

    .venv/bin/python tools/package_model.py RUN/final lic_jax/assets/default --default-quality 5
"""
import argparse

import jax
import numpy as np

from lic_jax import model_dir
from lic_jax.models import registry
from lic_jax.latent.tables import model_table_arrays


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("source", help="model directory (train.py's final/ or best/)")
  parser.add_argument("target", help="model directory to write (replaced if it exists)")
  parser.add_argument("--default-quality", type=float,
                      help="a variable-rate model's quality where none is given")
  args = parser.parse_args(argv)
  meta, params, _ = model_dir.load(args.source)
  half = jax.tree_util.tree_map(lambda a: a.astype(np.float16), params)
  model = registry.build(meta["arch"], meta["config"])
  tables = model_table_arrays(model, jax.tree_util.tree_map(lambda a: a.astype(np.float32), half))
  extra = model_dir.extra_fields(meta)
  extra.update(weights_dtype="float16", made_by="tools/make_default_model.sh")
  if args.default_quality is not None:
    extra["default_quality"] = args.default_quality
  saved = model_dir.save(args.target, meta["arch"], meta["config"], half, tables, extra=extra,
                          overwrite=True)
  print(f"{args.target}: {saved['arch']} {saved['num_params']} params, "
        f"hash {saved['model_hash']}")


if __name__ == "__main__":
  main()
