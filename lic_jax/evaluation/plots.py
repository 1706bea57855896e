"""Rate-distortion plots (matplotlib, rendered headless with Agg).

Two panels, PSNR (dB) and MS-SSIM (dB) against bpp, and one legend beside them.
The evaluated curves are in colour, solid, with filled markers: what the figure is
about. The published anchors are in black and greys with open markers, so they
never take a curve's colour: the classic codecs dash-dotted, the state of the art
(MLIC++, ELIC) dashed, CompressAI's zoo thin and dotted, one grey and marker shape
each, darker for later entries. An
anchor without MS-SSIM data (MLIC++'s release gives PSNR only) is left out of that
panel rather than invented.
"""
import io

import numpy as np

from lic_jax import image_io
from lic_jax import metrics
from lic_jax.evaluation import anchors as anchor_data

MARKERS = "ov^sDP<>*X"


# Per group of anchors: line style, width, marker size, and the grey range (light to
# dark: all readable on white).
_GROUP_STYLES = ((anchor_data.CLASSIC, "-.", 1.2, 5, (0.75, 0.25)),
                 (anchor_data.PUBLISHED, "--", 1.5, 6, (0.45, 0.0)),
                 (anchor_data.ZOO, ":", 1.1, 4.5, (0.7, 0.3)),
                 (anchor_data.ZOO_VARIABLE_RATE, (0, (5, 1)), 1.1, 3.5, (0.65, 0.35)))


def _anchor_styles(anchors):
  """matplotlib line styles of the anchors, in order."""
  styles = {}
  for keys, linestyle, width, size, (light, dark) in _GROUP_STYLES:
    group = [a["key"] for a in anchors if a["key"] in keys]
    for i, key in enumerate(group):
      grey = light - (light - dark) * i / max(len(group) - 1, 1)
      styles[key] = dict(linestyle=linestyle, linewidth=width, marker=MARKERS[i % len(MARKERS)],
                         markersize=size, color=str(round(grey, 3)))
  return [styles[a["key"]] for a in anchors]


def _with_bd_rate(label, entry):
  """A legend label with its BD-rates (PSNR / MS-SSIM) where there are any."""
  figures = [entry[axis]["bd_rate"] for axis in ("PSNR", "MS-SSIM")] if entry else []
  if not any(f is not None for f in figures):
    return label
  return label + " [" + " / ".join("n/a" if f is None else f"{f:+.1f}%" for f in figures) + "]"


def plot_rd(curves, anchors, path, title, bd_rates=None, anchor_key=None):
  """Writes the RD figure (`rd_figure`) to `path` (PNG, atomically); returns the
  legend labels."""
  png, labels = rd_figure(curves, anchors, title, bd_rates, anchor_key)
  image_io.atomic_write(path, png)
  return labels


def rd_figure(curves, anchors, title, bd_rates=None, anchor_key=None):
  """(the RD figure as PNG bytes, its legend labels).

  curves:  [{"name", "bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...]}]
  anchors: anchor dicts as `lic_jax.evaluation.anchors.load` returns them.
  bd_rates: {curve or anchor name: `report.bd_rates` entry}, shown in the legend as
  "[PSNR / MS-SSIM]" BD-rates against the anchor `anchor_key`, which is marked.
  """
  bd_rates = bd_rates or {}
  # A bare Figure renders with Agg and never touches pyplot's global backend, so
  # it is headless and leaves a caller's interactive matplotlib setup alone.
  from matplotlib.figure import Figure

  fig = Figure(figsize=(16, 6.5), dpi=110, layout="constrained")
  ax_psnr, ax_msssim = fig.subplots(1, 2)
  labels = []
  for anchor, style in zip(anchors, _anchor_styles(anchors)):
    results = anchor["results"]
    label = f"{anchor['name']}, {anchor['dataset'].capitalize()}"
    label = (label + " [BD-rate anchor]" if anchor["key"] == anchor_key
             else _with_bd_rate(label, bd_rates.get(anchor["name"])))
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
    label = _with_bd_rate(curve["name"], bd_rates.get(curve["name"]))
    style = dict(color=f"C{i % 10}", linewidth=2.2, marker=MARKERS[i % len(MARKERS)],
                 markersize=7, label=label, zorder=3)
    ax_psnr.plot(bpp, psnr, "-", **style)
    if "ms-ssim-rgb" in curve:
      db = [metrics.ms_ssim_db(v) for v in np.asarray(curve["ms-ssim-rgb"], float)[order]]
      ax_msssim.plot(bpp, db, "-", **style)
    labels.append(label)
  # The classic anchors reach 4-5 bpp; the axes end a little beyond the curves (at 1
  # bpp or more), with the anchors' points there setting the quality range.
  rates = [r for curve in curves for r in curve["bpp"]]
  right = max(1.0, 1.5 * max(rates)) if rates else None
  for ax, ylabel in ((ax_psnr, "PSNR, RGB (dB)"),
                     (ax_msssim, "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)")):
    if right is not None:
      shown = [y for line in ax.get_lines() for x, y in zip(*line.get_data()) if x <= right]
      ax.set_xlim(0, right)
      ax.set_ylim(min(shown) - 1, max(shown) + 1)
    ax.set_xlabel("rate (bits per pixel)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
  ax_psnr.set_title("PSNR")
  ax_msssim.set_title("MS-SSIM")
  # One legend for both panels (the PSNR panel has every series), outside them so
  # that the anchors and the curves never hide a point.
  handles, names = ax_psnr.get_legend_handles_labels()
  if handles:
    fig.legend(handles, names, loc="outside right upper", fontsize=9, frameon=False)
  if anchor_key is not None:
    title += (f"\n[BD-rate, PSNR / MS-SSIM, against {anchor_data.load(anchor_key)['name']}"
              " on Kodak; PCHIP]")
  fig.suptitle(title)
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  return buffer.getvalue(), labels
