"""Rate-distortion plots (matplotlib, rendered headless with Agg).

Two panels: PSNR (dB) and MS-SSIM (dB) against bpp. The evaluated curves are
solid with filled markers; the published anchors dashed with open markers, and
an anchor without MS-SSIM data (MLIC++'s release gives PSNR only) is left out of
that panel rather than invented.
"""
import io

import numpy as np

from lic_jax import image_io
from lic_jax import metrics


def plot_rd(curves, anchors, path, title):
  """Writes the RD figure to `path` (PNG, atomically); returns the legend labels.

  curves:  [{"name", "bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...]}]
  anchors: anchor dicts as `lic_jax.evaluation.anchors.load` returns them.
  """
  # A bare Figure renders with Agg and never touches pyplot's global backend, so
  # it is headless and leaves a caller's interactive matplotlib setup alone.
  from matplotlib.figure import Figure

  fig = Figure(figsize=(12, 5), dpi=110, layout="constrained")
  ax_psnr, ax_msssim = fig.subplots(1, 2)
  labels = []
  # One colour per series in both panels: anchors first, then the curves.
  colours = (f"C{i % 10}" for i in range(len(anchors) + len(curves)))
  for anchor, colour in zip(anchors, colours):
    results = anchor["results"]
    label = f"{anchor['name']}, {anchor['dataset'].capitalize()}"
    style = dict(color=colour, markerfacecolor="none", label=label, alpha=0.85)
    ax_psnr.plot(results["bpp"], results["psnr-rgb"], "--o", **style)
    if "ms-ssim-rgb" in results:
      ax_msssim.plot(results["bpp"], [metrics.ms_ssim_db(v) for v in results["ms-ssim-rgb"]],
                     "--o", **style)
    labels.append(label)
  for curve, colour in zip(curves, colours):
    order = np.argsort(curve["bpp"])
    bpp = np.asarray(curve["bpp"], float)[order]
    psnr = np.asarray(curve["psnr-rgb"], float)[order]
    style = dict(color=colour, linewidth=2, markersize=7, label=curve["name"])
    ax_psnr.plot(bpp, psnr, "-s", **style)
    if "ms-ssim-rgb" in curve:
      db = [metrics.ms_ssim_db(v) for v in np.asarray(curve["ms-ssim-rgb"], float)[order]]
      ax_msssim.plot(bpp, db, "-s", **style)
    labels.append(curve["name"])
  for ax, ylabel in ((ax_psnr, "PSNR, 8-bit RGB (dB)"),
                     (ax_msssim, "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)")):
    ax.set_xlabel("rate (bits per pixel)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
      ax.legend(loc="best", fontsize=9)
  ax_psnr.set_title("PSNR")
  ax_msssim.set_title("MS-SSIM")
  fig.suptitle(title)
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  image_io.atomic_write(path, buffer.getvalue())
  return labels
