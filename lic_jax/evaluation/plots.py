"""Rate-distortion plots (matplotlib, rendered headless with Agg).

Two panels, PSNR (dB) and MS-SSIM (dB) against bpp, and one legend beside them.
The evaluated curves are in colour, solid, with filled markers: what the figure is
about. The published anchors are in black and greys with open markers, so they
never take a curve's colour: the state of the art (MLIC++, ELIC) dashed, CompressAI's
zoo thin and dotted, one grey and marker shape each, darker for later models. An
anchor without MS-SSIM data (MLIC++'s release gives PSNR only) is left out of that
panel rather than invented.
"""
import io

import numpy as np

from lic_jax import image_io
from lic_jax import metrics
from lic_jax.evaluation import anchors as anchor_data

MARKERS = "ov^sDP<>*X"


def _anchor_styles(anchors):
  """matplotlib line styles of the anchors, in order."""
  zoo = [a for a in anchors if a["key"] in anchor_data.ZOO]
  published = [a for a in anchors if a["key"] not in anchor_data.ZOO]
  styles = {}
  for i, anchor in enumerate(published):
    styles[anchor["key"]] = dict(linestyle="--", linewidth=1.5, marker=MARKERS[i % len(MARKERS)],
                                 markersize=6, color=str(0.45 * i / max(len(published) - 1, 1)))
  for i, anchor in enumerate(zoo):
    # Greys from light (0.7) to dark (0.3): all readable on white.
    grey = 0.7 - 0.4 * i / max(len(zoo) - 1, 1)
    styles[anchor["key"]] = dict(linestyle=":", linewidth=1.1, marker=MARKERS[i % len(MARKERS)],
                                 markersize=4.5, color=str(round(grey, 3)))
  return [styles[a["key"]] for a in anchors]


def plot_rd(curves, anchors, path, title):
  """Writes the RD figure to `path` (PNG, atomically); returns the legend labels.

  curves:  [{"name", "bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...]}]
  anchors: anchor dicts as `lic_jax.evaluation.anchors.load` returns them.
  """
  # A bare Figure renders with Agg and never touches pyplot's global backend, so
  # it is headless and leaves a caller's interactive matplotlib setup alone.
  from matplotlib.figure import Figure

  fig = Figure(figsize=(15, 6), dpi=110, layout="constrained")
  ax_psnr, ax_msssim = fig.subplots(1, 2)
  labels = []
  for anchor, style in zip(anchors, _anchor_styles(anchors)):
    results = anchor["results"]
    label = f"{anchor['name']}, {anchor['dataset'].capitalize()}"
    style = dict(style, markerfacecolor="none", label=label)
    ax_psnr.plot(results["bpp"], results["psnr-rgb"], **style)
    if "ms-ssim-rgb" in results:
      ax_msssim.plot(results["bpp"], [metrics.ms_ssim_db(v) for v in results["ms-ssim-rgb"]],
                     **style)
    labels.append(label)
  for i, curve in enumerate(curves):
    order = np.argsort(curve["bpp"])
    bpp = np.asarray(curve["bpp"], float)[order]
    psnr = np.asarray(curve["psnr-rgb"], float)[order]
    style = dict(color=f"C{i % 10}", linewidth=2.2, marker=MARKERS[i % len(MARKERS)],
                 markersize=7, label=curve["name"], zorder=3)
    ax_psnr.plot(bpp, psnr, "-", **style)
    if "ms-ssim-rgb" in curve:
      db = [metrics.ms_ssim_db(v) for v in np.asarray(curve["ms-ssim-rgb"], float)[order]]
      ax_msssim.plot(bpp, db, "-", **style)
    labels.append(curve["name"])
  for ax, ylabel in ((ax_psnr, "PSNR, RGB (dB)"),
                     (ax_msssim, "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)")):
    ax.set_xlabel("rate (bits per pixel)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
  ax_psnr.set_title("PSNR")
  ax_msssim.set_title("MS-SSIM")
  # One legend for both panels (the PSNR panel has every series), outside them so
  # that eight anchors and the curves never hide a point.
  handles, names = ax_psnr.get_legend_handles_labels()
  if handles:
    fig.legend(handles, names, loc="outside right upper", fontsize=9, frameon=False)
  fig.suptitle(title)
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  image_io.atomic_write(path, buffer.getvalue())
  return labels
