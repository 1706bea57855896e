"""Rate-distortion training of a registered model, data-parallel over all devices, resumable.

    python train.py --arch mlicpp --data DIR --val DIR --lambda 0.0130 \\
        --batch-size 32 --patch-size 256 --steps 2000000 --workdir runs/q4

--arch is any registered model (MLIC++, ELIC, the CompressAI zoo's), --size any of its
presets: "full" (the published size), "small" (cheaper, for experiments), "test-small"
(tiny), and for zoo models "q1".."q8" (the zoo's config at each quality).

The run is resumable (`--resume`), writes `WORKDIR/final` (and `WORKDIR/best` with
--val), model directories that `lic_jax.load_model` and `python -m lic_jax compress
--model DIR` read. Multi-host: start the same command on every host with
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID set (or
LIC_JAX_DISTRIBUTED=1 on clusters JAX detects itself: Cloud TPU, SLURM, Open MPI).
SIGTERM to any one process (a TPU VM's maintenance event) has all of them save the
same step and exit 0; start them again with --resume.
"""
import argparse
import json
import os
import sys


def _milestones(text):
  try:
    return tuple(int(float(m)) for m in text.replace(",", " ").split())
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected step numbers like '750000 900000', got {text!r}")


def _lambdas(text):
  try:
    values = tuple(float(v) for v in text.replace(",", " ").split())
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected lambdas like '0.0067 0.013 0.025', got {text!r}")
  if len(values) < 2 or any(v <= 0 for v in values):
    raise argparse.ArgumentTypeError("a variable-rate model needs two lambdas or more, all > 0")
  return values


def _arch_names():
  from lic_jax.models import registry  # Imports the model files, not a JAX backend.
  return registry.names()


def _check_size(p, args):
  """--size must be a preset of the arch (unless --init-from fixes the config)."""
  from lic_jax.models import registry
  from lic_jax.training.config import DEFAULT_ARCH
  if args.init_from:
    return
  arch = args.arch or DEFAULT_ARCH
  presets = registry.get(arch).presets
  if args.size not in presets:
    p.error(f"--size {args.size!r} is not a preset of {arch}; choose one of "
            f"{', '.join(presets)}")


def _model_config(text):
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise argparse.ArgumentTypeError(f"not JSON: {e}")
  if not isinstance(value, dict):
    raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"N\": 32, \"M\": 64}'")
  return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in value.items()))


class _Formatter(argparse.RawDescriptionHelpFormatter):
  """Keeps the epilog's layout; appends real defaults (not None/False) to the help."""

  def _get_help_string(self, action):
    text = action.help
    default = action.default
    if (not (default is None or isinstance(default, bool) or default == ())
        and "%(default)" not in text and default is not argparse.SUPPRESS):
      text += " (default: %(default)s)"
    return text


def parser():
  summary, _, details = __doc__.partition("\n\n")
  p = argparse.ArgumentParser(prog="train.py", description=summary, epilog=details,
                              formatter_class=_Formatter)
  model = p.add_argument_group("model")
  model.add_argument("--arch", choices=_arch_names(), default=None, metavar="ARCH",
                     help="a registered model: %(choices)s (default: that of --init-from, "
                     "else mlicpp)")
  model.add_argument("--size", default="full", metavar="PRESET",
                     help="a preset of --arch's config: full, small, test-small, and q1..q8 "
                     "for zoo models (see below)")
  model.add_argument("--model-config", type=_model_config, default=(), metavar="JSON",
                     help="override fields of the --size config (the arch's config), e.g. "
                     "'{\"N\": 32, \"M\": 64, \"slice_num\": 2}'")
  model.add_argument("--init-from", metavar="MODEL_DIR",
                     help="start from the weights of a model directory (convert.py or train.py "
                     "output); its arch and config are used, or with --arch another arch "
                     "whose config fits it (a variable-rate model from a fixed-rate one: the "
                     "params it lacks start fresh). Optimizer states start fresh")
  data = p.add_argument_group("data")
  data.add_argument("--data", required=True, metavar="DIR",
                    help="training images, searched recursively (png, jpg, bmp, webp, tif, "
                    "ppm); unreadable files are skipped and counted")
  data.add_argument("--val", metavar="DIR",
                    help="validation images (centre crops of --patch-size); keeps "
                    "WORKDIR/best by validation loss")
  data.add_argument("--patch-size", type=int, default=256,
                    help="square training crop, a multiple of the model's total stride (64 "
                    "with a hyperprior); smaller images are upscaled to it")
  data.add_argument("--batch-size", type=int, default=8,
                    help="global batch, split over all devices (a multiple of their number)")
  data.add_argument("--no-flip", dest="flip", action="store_false",
                    help="no random left-right flips")
  data.add_argument("--data-threads", type=int, default=None,
                    help="image decoding threads per process (default: min(8, cores))")
  loss = p.add_argument_group("loss and optimizer (defaults as the original MLIC++)")
  loss.add_argument("--lambda", dest="lmbda", type=float, default=0.0130,
                    help="rate-distortion trade-off: loss = lambda*255^2*MSE + bpp, or "
                    "lambda*(1-MS-SSIM) + bpp. MLIC++ MSE models: 0.0018 0.0035 0.0067 "
                    "0.0130 0.0250 0.0483")
  loss.add_argument("--lambdas", type=_lambdas, default=None, metavar="LAMBDAS",
                    help="train a variable-rate model (e.g. elic-vbr) over these lambdas, "
                    "one per level of its quality from low to high rate, e.g. '0.0018 "
                    "0.0035 0.0067 0.013 0.025 0.0483 0.0932 0.18': each image of a batch "
                    "at a quality drawn from 1 to the number of levels, with the lambda and "
                    "gain between its two levels'; --init-from a fixed-rate model starts "
                    "its gains at sqrt(lambda / that model's lambda)")
  loss.add_argument("--level-balance", type=float, default=0.0, metavar="P",
                    help="with --lambdas: weight each image's loss by (lambda_mid / its "
                    "lambda)^P, lambda_mid the ladder's geometric middle, so that the high "
                    "levels' larger losses do not steer the shared weights alone (0.7 makes "
                    "the levels' losses about equal; default 0: their plain sum)")
  loss.add_argument("--metric", choices=("mse", "ms-ssim"), default="mse",
                    help="distortion term (MS-SSIM needs --patch-size >= 192)")
  loss.add_argument("--lr", type=float, default=1e-4, help="Adam LR of all but the quantiles")
  loss.add_argument("--lr-milestones", type=_milestones, default=None, metavar="STEPS",
                    help="steps after which the LR is multiplied by 0.1, e.g. '750000 900000' "
                    "(default: 75%% and 90%% of --steps)")
  loss.add_argument("--clip-norm", type=float, default=1.0,
                    help="clip the main gradients to this global norm (0: no clipping)")
  loss.add_argument("--aux-lr", type=float, default=1e-3,
                    help="Adam LR of the entropy bottleneck's quantiles (aux loss)")
  run = p.add_argument_group("run")
  run.add_argument("--steps", type=int, required=True, help="total training steps")
  run.add_argument("--workdir", required=True,
                   help="checkpoints, logs (metrics.jsonl, tensorboard/), best/ and final/")
  run.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --workdir (exactly: state, "
                   "RNG and data position); starts fresh if there is none")
  run.add_argument("--seed", type=int, default=0, help="init, noise, shuffle and crops")
  run.add_argument("--checkpoint-every", type=int, default=5000,
                   help="save a resumable checkpoint every K steps (and at the end)")
  run.add_argument("--keep-checkpoints", type=int, default=3,
                   help="how many recent checkpoints to keep")
  run.add_argument("--val-every", type=int, default=5000,
                   help="validate every K steps (and at the end)")
  run.add_argument("--log-every", type=int, default=100,
                   help="write the mean train metrics of the last K steps to metrics.jsonl "
                   "and TensorBoard")
  return p


def main(argv=None):
  """Parses argv, trains; returns the exit status (2 for a clear user error)."""
  p = parser()
  args = p.parse_args(argv)
  _check_size(p, args)
  from lic_jax.extras import missing
  if note := missing("train", "train.py"):  # before the training modules import them
    print(f"train.py: error: {note}", file=sys.stderr)
    return 2
  # The training modules only now: jax.distributed must start before any JAX backend
  # (the registry's model files, imported above, start none).
  from lic_jax.training import sharding
  distributed = sharding.initialize_distributed()
  try:
    return _train(args, distributed)
  finally:
    if distributed:  # On every path: all processes leave together (a shutdown barrier).
      import jax
      jax.distributed.shutdown()


def _train(args, distributed):
  """Trains per the parsed `args`; returns the exit status."""
  from lic_jax.training import TrainConfig, TrainingError, train_and_evaluate
  from lic_jax.training.input_pipeline import DataError
  from lic_jax.model_dir import ModelDirError
  from lic_jax.image_io import ImageError
  fields = {k: v for k, v in vars(args).items() if k not in ("workdir", "model_config")}
  config = TrainConfig(model_overrides=args.model_config, **fields)
  for name in ("steps", "batch_size", "patch_size"):
    if getattr(config, name) < (0 if name == "steps" else 1):
      print(f"train.py: error: --{name.replace('_', '-')} must be positive", file=sys.stderr)
      return 2
  try:
    summary = train_and_evaluate(config, args.workdir)
  except (TrainingError, DataError, ModelDirError, ImageError) as e:
    print(f"train.py: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("train.py: interrupted", file=sys.stderr)
    return 130
  # A signal to this one process: 128 + SIGTERM. Several processes stop together at a
  # preemption notice, saved and in good order: 0, as a scheduler expects of a clean exit.
  return 143 if summary["stopped"] and not distributed else 0


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  sys.exit(main())
