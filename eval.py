"""Rate-distortion evaluation of lic_jax models on real bitstreams.

    python eval.py --kodak [DIR] --model M [--model M2 ...] [--json OUT] [--plot rd.png]
    python eval.py --kodak --download --model M
    python eval.py --published [--anchor vtm]    # BD-rates of the published curves
    python eval.py --dataset DIR [--recursive] --model M --estimate
    python eval.py --dataset DIR --model default --classic    # vs JPEG, WebP, AVIF, ...
    python eval.py --kodak --model vbr_model --qualities 1 2 3.5 5 8

Each image is compressed to bytes and decompressed once (compile time, the first
image of each padded size, reported apart); bpp counts the whole file, header
included, with CompressAI's strings-only bpp beside it. Models sharing a name
(default: their arch; --name overrides) form one RD curve, and so does a
variable-rate model at its --qualities; their BD-rates (PSNR and MS-SSIM) against
a published Kodak curve (--anchor, VTM by default) are reported on Kodak. See
lic_jax/evaluation/runner.py for the exact definitions; `eval.py --published`
tabulates the published curves' BD-rates.
"""
import argparse
import os
import sys

EPILOG = """\
Kodak without DIR is looked for in $LIC_JAX_DATA/kodak, then ~/.cache/lic_jax/kodak;
--download fetches the 24 PNGs there (or into DIR). --dataset evaluates every
file directly in DIR (with --recursive, also in its subfolders); each must be an
image. Exit status: 0 on success, 1 on an error (message on stderr), 2 on bad
arguments, 3 if a decoded image differed from forward's reconstruction.
"""


def parse_args(argv):
  from lic_jax import coder  # no JAX yet
  from lic_jax.evaluation import anchors, classic  # data files and Pillow only
  parser = argparse.ArgumentParser(
      prog="eval.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  data = parser.add_mutually_exclusive_group()
  data.add_argument("--kodak", nargs="?", const="", metavar="DIR",
                    help="evaluate on Kodak (24 images); DIR defaults to the search path")
  data.add_argument("--dataset", metavar="DIR", help="evaluate on the images in DIR")
  parser.add_argument("--model", action="append", metavar="DIR",
                      help="a lic_jax model directory (convert.py / train.py); repeat for "
                      "several RD points (\"default\": the bundled model)")
  parser.add_argument("--name", help="curve name for all models (default: each model's arch)")
  parser.add_argument("--qualities", type=float, nargs="+", metavar="Q",
                      help="the qualities a variable-rate model (the default model, "
                      "CompressAI's *-vbr) is evaluated at, one RD point each, one curve "
                      "(default: each of its trained levels, 1, 2, ...)")
  parser.add_argument("--download", action="store_true",
                      help="with --kodak: fetch missing images from r0k.us, then verify")
  parser.add_argument("--download-timeout", type=float, default=30.0, metavar="S",
                      help="seconds allowed per downloaded file (default 30)")
  parser.add_argument("--recursive", action="store_true",
                      help="with --dataset: include images in subfolders")
  parser.add_argument("--estimate", action="store_true",
                      help="likelihood bpp from forward, no entropy coding (fast)")
  parser.add_argument("--no-check", action="store_true",
                      help="skip the per-image forward pass that checks the round trip "
                      "(and gives bpp-estimate)")
  parser.add_argument("--refine", type=int, default=0, metavar="STEPS",
                      help="refine each image's latents by STEPS gradient steps before coding "
                      "(lic_jax.refine; encode time includes them) (default: 0)")
  parser.add_argument("--lambda", dest="lmbda", type=float,
                      help="rate-distortion lambda of --refine (default: each model's own, "
                      "as train.py records it)")
  keys = {codec.key: name for name, codec in classic.CODECS.items()}
  parser.add_argument("--classic", nargs="*", choices=list(keys), metavar="CODEC",
                      help="also code each image with JPEG, WebP, AVIF, JPEG XL, HEIF and JPEG "
                      "2000 (Pillow and its plugins; those not installed are skipped, saying "
                      "so) at the smallest size at or above each model's, and report them "
                      f"beside it; or only those named ({', '.join(keys)})")
  parser.add_argument("--coder", choices=list(coder.IMPLEMENTATIONS),
                      help="entropy coder implementation; all write the same streams "
                      f"(installed here: {', '.join(coder.available()) or 'none'}; "
                      "default: the first)")
  parser.add_argument("--progressive", action="store_true",
                      help="also decode each stream group by group (models with channel "
                      "groups): bpp, PSNR and MS-SSIM of the file cut after each group")
  parser.add_argument("--json", metavar="OUT", help="write the results as JSON")
  parser.add_argument("--plot", metavar="PNG", help="draw the RD curves with published anchors")
  parser.add_argument("--anchor", choices=anchors.NAMES, default=anchors.DEFAULT,
                      help="published Kodak curve for BD-rate: a classic codec as CompressAI "
                      f"ran it, MLIC++, ELIC or a CompressAI zoo model (default "
                      f"{anchors.DEFAULT}); --plot draws them all")
  parser.add_argument("--published", action="store_true",
                      help="print the BD-rates (PSNR, MS-SSIM) of every published curve "
                      "against --anchor's as a Markdown table, and exit")
  parser.add_argument("--save-dir", metavar="DIR",
                      help="save streams (.lic) and reconstructions (.png) per model")
  parser.add_argument("--no-progress", action="store_true", help="no progress bars")
  args = parser.parse_args(argv)
  if args.published:
    return args
  if args.kodak is None and args.dataset is None:
    parser.error("one of the arguments --kodak --dataset is required")
  if not args.model:
    parser.error("the following arguments are required: --model")
  if args.download and args.kodak is None:
    parser.error("--download goes with --kodak")
  if args.recursive and args.dataset is None:
    parser.error("--recursive goes with --dataset")
  if args.estimate and args.no_check:
    parser.error("--no-check has no effect with --estimate")
  if args.refine < 0:
    parser.error("--refine must be >= 0")
  if args.classic is not None:
    args.classic = [keys[key] for key in args.classic] or list(classic.CODECS)
  if args.estimate and args.classic:
    parser.error("--classic compares file sizes: it needs coded mode, not --estimate")
  if args.estimate and args.progressive:
    parser.error("--progressive decodes parts of streams: it needs coded mode, not --estimate")
  if args.estimate and args.refine:
    parser.error("--refine is an encoder option: it needs coded mode, not --estimate")
  return args


def _images(args):
  """(root folder, image paths, dataset description)."""
  from lic_jax.evaluation import datasets
  if args.kodak is not None:
    folder = args.kodak or None
    if args.download:
      folder = datasets.download_kodak(folder, timeout=args.download_timeout,
                                       progress=not args.no_progress)
    folder = datasets.find_kodak(folder)
    paths = datasets.verify_kodak(folder)
    return folder, paths, {"name": "kodak", "path": os.path.abspath(folder),
                           "images": len(paths)}
  paths = datasets.list_images(args.dataset, recursive=args.recursive)
  return args.dataset, paths, {"name": os.path.basename(os.path.normpath(args.dataset)),
                               "path": os.path.abspath(args.dataset), "images": len(paths),
                               "recursive": args.recursive}


def _save_dirs(root, models):
  """One subfolder of --save-dir per model, named after its folder (made unique)."""
  names, out = set(), []
  for i, model in enumerate(models):
    name = os.path.basename(os.path.normpath(model)) or f"model{i}"
    if name in names:
      name = f"{name}-{i + 1}"
    names.add(name)
    out.append(os.path.join(root, name))
  return out


def _environment():
  import jax
  import lic_jax
  device = jax.devices()[0]
  return {"lic_jax": lic_jax.__version__, "jax": jax.__version__, "platform": device.platform,
          "device": getattr(device, "device_kind", str(device)), "devices": jax.device_count()}


def published_table(anchor_key):
  """The BD-rates of the published curves against `anchor_key`'s, as Markdown."""
  from lic_jax.evaluation import anchors, report
  anchor = anchors.load(anchor_key)
  cell = lambda f: f"{f['bd_rate']:+.2f}%" if f["bd_rate"] is not None else "n/a"
  lines = [f"BD-rate against {anchor['name']} on Kodak (PCHIP; the bjontegaard package):", "",
           "| curve | BD-rate, PSNR | BD-rate, MS-SSIM (dB) | PSNR overlap |",
           "|---|---|---|---|"]
  for name, entry in report.published_bd_rates(anchor_key).items():
    psnr = entry["PSNR"]
    lines.append(f"| {name} | {cell(psnr)} | {cell(entry['MS-SSIM'])} | "
                 + (f"{100 * psnr['overlap']:.0f}% |" if "overlap" in psnr else "- |"))
  return "\n".join(lines)


def _entries(args):
  """[(model, quality or None, curve name or None)], one per RD point (a variable-rate
  model at each quality); checked before any time is spent."""
  from lic_jax import model_dir
  family_name = lambda model: model + (f"+refine{args.refine}" if args.refine else "")
  entries = []
  for model in args.model:
    meta = model_dir.read_meta(model)
    if args.refine and args.lmbda is None and meta.get("lambda") is None:
      raise model_dir.ModelDirError(
          f"{model} does not record the lambda it was trained for (converted checkpoints "
          "do not), and --refine needs one: pass --lambda")
    levels = model_dir.levels(meta)
    qualities = [None] if levels is None else (args.qualities or range(1, levels + 1))
    for quality in qualities:
      if quality is not None and not 1 <= quality <= levels:
        raise model_dir.ModelDirError(f"--qualities of {model} run from 1 to {levels}, "
                                      f"not {quality:g}")
      several = len(qualities) > 1
      entries.append((model, quality, args.name or (family_name(model) if several else None)))
  if args.qualities and all(quality is None for _, quality, _ in entries):
    raise model_dir.ModelDirError("--qualities is for variable-rate models, and none of the "
                                  "--model ones is")
  return entries


def run(args):
  """Evaluates every model; prints the report; returns the exit status."""
  from lic_jax.extras import missing, require
  from lic_jax.evaluation import anchors, classic, plots, report, runner
  if args.plot:
    require("plot", "--plot")
  if not args.no_progress and (note := missing("progress", "progress bars")):
    print(f"eval.py: note: {note}; going on without them", file=sys.stderr)
    args.no_progress = True
  classic_codecs = []
  if args.classic:
    classic_codecs, notes = classic.available(args.classic)
    for note in notes:
      print(f"eval.py: note: {note}; skipped", file=sys.stderr)
  root, paths, dataset = _images(args)
  entries = _entries(args)
  names = [model + ("" if quality is None else f"_q{quality:g}") for model, quality, _ in entries]
  save_dirs = _save_dirs(args.save_dir, names) if args.save_dir else [None] * len(names)
  print(f"dataset: {dataset['path']} ({len(paths)} images)", file=sys.stderr)
  models = []
  for (model, quality, name), save_dir in zip(entries, save_dirs):
    codec = runner.load_codec(model, args.coder)
    models.append(runner.evaluate(
        codec, paths, root, estimate=args.estimate, check=not args.no_check,
        save_dir=save_dir, progress=not args.no_progress, name=name, model=model,
        refine_steps=args.refine, lmbda=args.lmbda, classic_codecs=classic_codecs,
        progressive_curve=args.progressive, quality=quality))
  kodak = dataset["name"] == "kodak" and args.kodak is not None
  points = report.curve_points(models) + report.classic_curves(report.curves(models))
  bd = report.bd_rates(points, args.anchor, comparable=kodak,
                       reason="the anchors are Kodak results; BD-rate is given with --kodak only")
  document = report.build(models, estimate=args.estimate, dataset=dataset, bd=bd,
                          anchor_key=args.anchor, environment=_environment())
  print(report.summary(document))
  if args.json:
    from lic_jax import image_io
    image_io.atomic_write(args.json, report.to_json(document).encode())
    print(f"written: {args.json}")
  if args.plot:
    mode = " (entropy estimate)" if args.estimate else ""
    title = (f"Rate-distortion on Kodak ({len(paths)} images){mode}" if kodak else
             f"Rate-distortion on '{dataset['name']}' ({len(paths)} images){mode}; "
             "anchors: published Kodak results")
    points += report.progressive_curves(models)
    plots.plot_rd(points, anchors.load_all(), args.plot, title,
                  {**report.published_bd_rates(args.anchor), **bd}, args.anchor)
    print(f"written: {args.plot}")
  if any(m["averages"]["roundtrip"] is False for m in models):
    print("eval.py: error: decoded images differ from forward's reconstruction (see MISMATCH "
          "above): encoder and decoder disagree", file=sys.stderr)
    return 3
  return 0


def main(argv=None):
  args = parse_args(argv)
  import lic_jax
  from lic_jax import bitstream, coder, extras, image_io, model_dir
  from lic_jax.evaluation import datasets
  lic_jax.enable_compilation_cache()  # later runs load the compiled stages from disk
  try:
    if args.published:
      print(published_table(args.anchor))
      return 0
    return run(args)
  except (datasets.DatasetError, model_dir.ModelDirError, image_io.ImageError,
          bitstream.BitstreamError, coder.CoderUnavailableError,
          extras.MissingExtraError) as e:
    print(f"eval.py: error: {e}", file=sys.stderr)
  except OSError as e:
    print(f"eval.py: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
  return 1


if __name__ == "__main__":
  sys.exit(main())
