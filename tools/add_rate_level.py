"""Adds a level of rate above the top of a variable-rate model directory: its lambda
appended to the model's ladder, its gain the top gain times the ladder's last ratio of
gains (so the new level starts where the trained gains were heading), every other
weight as it is. Then train.py --init-from the result with the longer --lambdas.

    .venv/bin/python tools/add_rate_level.py RUN/final OUT --lambda 0.308
"""
import argparse
import dataclasses

import numpy as np

from lic_jax import model_dir
from lic_jax.latent.tables import model_table_arrays
from lic_jax.models import registry


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("source", help="a variable-rate model directory")
  parser.add_argument("target", help="model directory to write (replaced if it exists)")
  parser.add_argument("--lambda", dest="lmbda", type=float, required=True,
                      help="the new top level's lambda (above the model's last)")
  args = parser.parse_args(argv)
  meta, params, _ = model_dir.load(args.source)
  levels = model_dir.levels(meta)
  lambdas = meta.get("lambda")
  if levels is None or not isinstance(lambdas, list) or len(lambdas) != levels:
    parser.error(f"{args.source} is not a variable-rate model with its ladder of lambdas")
  if args.lmbda <= lambdas[-1]:
    parser.error(f"--lambda {args.lmbda} must be above the top level's {lambdas[-1]}")
  gains = np.abs(params["Gain"])
  params = dict(params, Gain=np.append(gains, gains[-1] ** 2 / gains[-2]).astype(np.float32))
  config = dict(meta["config"], levels=levels + 1)
  model = registry.build(meta["arch"], config)
  extra = model_dir.extra_fields(meta)
  extra["lambda"] = lambdas + [args.lmbda]
  saved = model_dir.save(args.target, meta["arch"], dataclasses.asdict(model.config), params,
                         model_table_arrays(model, params), extra=extra, overwrite=True)
  print(f"{args.target}: {saved['config']['levels']} levels, gains "
        f"{np.round(params['Gain'], 3).tolist()}")


if __name__ == "__main__":
  main()
