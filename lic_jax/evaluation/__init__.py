"""Rate-distortion evaluation: datasets, the evaluation loop, reports.

    from lic_jax.evaluation import datasets, runner, report, bdrate, plots

(PSNR and MS-SSIM are in `lic_jax.metrics`.)

datasets  Kodak (find, download, verify) and folder datasets
runner    one codec over a list of images: real bitstreams, timings, round-trip check
report    CompressAI-style JSON, curves, BD-rates against published anchors, tables
bdrate    Bjontegaard delta rate with PCHIP interpolation
plots     RD figures with the published Kodak curves
anchors   the published curves (MLIC++, ELIC, CompressAI's zoo), with their sources

The command line is eval.py at the repository root (`python eval.py --kodak ...`).
Heavy imports (JAX models, matplotlib, tqdm) happen inside the functions that need them;
matplotlib (eval.py --plot) and tqdm (progress bars) are extras (`lic_jax.extras`).
"""
