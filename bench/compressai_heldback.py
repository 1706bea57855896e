"""Held-back parity cases: CompressAI's own bmshj2018-factorized, bmshj2018-hyperprior,
mbt2018-mean and the autoregressive mbt2018, cheng2020-anchor and cheng2020-attn, at
seeds, sizes and images that ../shared/reference/compressai does not use, so lic_jax's
ports can be checked on cases they were not developed against.

Runs in a THROWAWAY venv, not in the project's (compressai is not a lic_jax dependency,
and its code is only a read-only reference):

    python3.11 -m venv /tmp/cai
    /tmp/cai/bin/pip install compressai==1.2.8 'numpy<2' Pillow scipy scikit-image
    /tmp/cai/bin/python bench/compressai_heldback.py --out /tmp/heldback

(compressai 1.2.8 ships a cp311 wheel and pulls torch 2.14.1 with torchvision; made with
compressai 1.2.8, torch 2.14.1, numpy 1.26.4, scikit-image 0.26.0, Pillow 13.0.0.
compressai 1.2.8 computes the same weights, forward and y strings as the fixtures'
1.2.0b3 at their seed and size; its entropy bottleneck's CDF tables differ by a few
counts, so z strings differ, and the tables travel in the .pth.tar.) Then
compare with the project venv: `.venv/bin/python bench/compare_heldback.py /tmp/heldback`.

Weights are seeded random, calibrated as the reference fixtures were (README there and
`calibrate`): std(y) = 4, std(z) = 2.5, unit-std Gaussian parameters with +3 on the bias
of their scales half. Written per case, as `<name>.pth.tar` (a bare state dict in the
zoo's published key style, the masked conv's weight masked), `<name>_input.png`,
`<name>_outputs.npz` (NCHW, the fixtures' array names, symbols and indexes included; for
the autoregressive models flat, in the order compress coded them) and
`<name>_outputs.json`.

Over 250 lines: one self-contained script that runs PyTorch (CompressAI's classes
reimplemented nowhere else) to make the held-back cases.
"""
import argparse
import json
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

warnings.filterwarnings("ignore", category=FutureWarning)

import compressai  # noqa: E402
from compressai.ans import BufferedRansEncoder  # noqa: E402
from compressai.models import (  # noqa: E402
    Cheng2020Anchor, Cheng2020Attention, FactorizedPrior,
    JointAutoregressiveHierarchicalPriors, MeanScaleHyperprior, ScaleHyperprior)

ARCHS = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHierarchicalPriors,
    "cheng2020-anchor": Cheng2020Anchor,
    "cheng2020-attn": Cheng2020Attention,
}

# name -> (arch, seed, N, M, image, (top, left, height, width) crop); cheng2020 has M = N
CASES = {
    "heldback_factorized": ("bmshj2018-factorized", 1, 48, 64, "chelsea", (54, 98, 192, 256)),
    "heldback_hyperprior": ("bmshj2018-hyperprior", 2, 48, 64, "coffee", (40, 180, 256, 192)),
    "heldback_mean": ("mbt2018-mean", 3, 40, 56, "chelsea", (0, 60, 256, 320)),
    "heldback_mean_coffee": ("mbt2018-mean", 4, 64, 96, "coffee", (100, 100, 192, 256)),
    "heldback_mbt2018": ("mbt2018", 5, 48, 64, "chelsea", (30, 120, 256, 192)),
    "heldback_cheng_anchor": ("cheng2020-anchor", 6, 48, 48, "coffee", (60, 200, 192, 256)),
    "heldback_cheng_attn": ("cheng2020-attn", 7, 40, 40, "chelsea", (40, 40, 256, 320)),
}


def load_image(name, crop):
  """A crop of a scikit-image sample picture (uint8 HxWx3), else a synthetic one."""
  top, left, height, width = crop
  try:
    import skimage.data
    image = getattr(skimage.data, name)()[top:top + height, left:left + width]
    assert image.shape == (height, width, 3)
    return np.ascontiguousarray(image)
  except ImportError:
    return synthetic_image(height, width, seed=sum(map(ord, name)))


def synthetic_image(height, width, seed=0):
  """Smooth gradients plus blobs and texture, uint8 HxWx3."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
  image = np.stack([120 + 80 * np.sin(3 * xx + c) * np.cos(2 * yy - c) for c in range(3)], -1)
  for _ in range(6):
    cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2)
    image += rng.uniform(-60, 60, 3) * blob[..., None]
  image += rng.normal(0, 6, image.shape)
  return np.clip(image, 0, 255).astype(np.uint8)


def _scale_conv(conv, factor, bias_add=None):
  conv.weight.mul_(factor)
  conv.bias.mul_(factor)
  if bias_add is not None:
    conv.bias.add_(bias_add)


def _scale_to_std(conv, run, target):
  """Scales conv in place until std(run()) = target; returns the product of the steps.
  One step where conv's output is run's, a few fixed-point steps through a nonlinear tail."""
  total = 1.0
  for _ in range(20):
    step = target / run().std().item()
    if abs(step - 1) < 1e-4:
      return total
    _scale_conv(conv, step)
    total *= step
  raise RuntimeError(f"std did not settle at {target}")


def is_autoregressive(model):
  return isinstance(model, JointAutoregressiveHierarchicalPriors)


@torch.no_grad()
def calibrate(model, x):
  """Scales the last convs in place as the reference fixtures did; returns the factors.

  y's conv is g_a's last direct Conv2d child. For cheng2020-attn that is the conv3x3
  before the closing AttentionBlock (y = t + a(t) * sigmoid(b(t))), scaled in fixed-point
  steps until std(y) = 4. The fixture instead scaled the last Conv2d in g_a's module
  order, that block's gate b, which left its std(y) at 0.23. The Gaussian parameters'
  conv is h_s's last, or entropy_parameters' last for the autoregressive models, there
  fed as eval forward does: h_s(round(z)) and the masked context of round(y)."""
  model.eval()
  last_conv = [m for m in model.g_a if isinstance(m, torch.nn.Conv2d)][-1]
  factors = {"g_a_last_conv_factor": _scale_to_std(last_conv, lambda: model.g_a(x), 4.0)}
  if not hasattr(model, "h_a"):
    return factors
  y = model.g_a(x)
  abs_y = isinstance(model, ScaleHyperprior) and not isinstance(model, MeanScaleHyperprior)
  h_a_in = y.abs() if abs_y else y
  z = model.h_a(h_a_in)
  factors["h_a_last_conv_factor"] = 2.5 / z.std().item()
  _scale_conv(model.h_a[-1], factors["h_a_last_conv_factor"])
  params = model.h_s(torch.round(model.h_a(h_a_in)))
  last = [m for m in model.h_s if isinstance(m, torch.nn.Conv2d)][-1]
  if is_autoregressive(model):
    ctx = model.context_prediction(torch.round(y))  # masks its weight in place
    params = model.entropy_parameters(torch.cat((params, ctx), 1))
    last = model.entropy_parameters[-1]
  factors["entropy_parameter_last_conv_factor"] = 1.0 / params.std().item()
  scales = torch.zeros_like(last.bias)
  scales[:model.M] = 3.0   # (scales, means) = params.chunk(2); all scales without means
  _scale_conv(last, factors["entropy_parameter_last_conv_factor"], scales)
  factors["scales_bias_added"] = 3.0
  return factors


def build(arch, n, m, seed, x):
  """The compressai model, seeded, calibrated on x, eval() and update(force=True)."""
  torch.manual_seed(seed)
  cls = ARCHS[arch]
  model = cls(n) if issubclass(cls, Cheng2020Anchor) else cls(n, m)
  assert model.M == m, (arch, n, m)
  factors = calibrate(model, x)
  model.eval()
  model.update(force=True)
  return model, factors


def zoo_key_style(state_dict):
  """compressai >= 1.2.5 keys -> those of the zoo's published files
  (entropy_bottleneck.matrices.K -> entropy_bottleneck._matrices.K, ...; cheng2020's
  ResidualBlockWithStride .skip. -> .downsample.)."""
  out = {}
  for key, value in state_dict.items():
    for name in ("matrices", "biases", "factors"):
      key = key.replace(f"entropy_bottleneck.{name}.", f"entropy_bottleneck._{name}.")
    key = key.replace(".skip.", ".downsample.")
    out[key] = value.detach().clone()
  return out


@torch.no_grad()
def record(model, x):
  """The fixtures' arrays: module outputs and results of forward, compress, decompress."""
  arrays, hooks = {}, []

  def keep(name):
    def hook(module, inputs, output):
      arrays.setdefault(f"forward:{name}:out0", output.numpy().copy())
    return hook
  for name in ("g_a", "h_a", "h_s", "g_s", "context_prediction", "entropy_parameters"):
    if hasattr(model, name):
      hooks.append(getattr(model, name).register_forward_hook(keep(name)))
  out = model(x)
  for hook in hooks:
    hook.remove()
  arrays["forward:x_hat"] = out["x_hat"].numpy()
  for k, v in out["likelihoods"].items():
    arrays[f"forward:{k}_likelihoods"] = v.numpy()
  enc = model.compress(x)
  names = ["y_string", "z_string"][:len(enc["strings"])]
  for name, strings in zip(names, enc["strings"]):
    arrays[f"compress:{name}"] = np.frombuffer(strings[0], np.uint8).copy()
  arrays["decompress:x_hat"] = model.decompress(enc["strings"], enc["shape"])["x_hat"].numpy()
  arrays.update(coded_symbols(model, x, enc))
  return arrays


def coded_symbols(model, x, enc):
  """What compress handed the rANS coder (NCHW int32): y_symbols (and y_indexes, the
  scale-table row of each, for the Gaussian models) and z_symbols; the CDF row of a
  factorized stream's symbol is its channel."""
  eb, y = model.entropy_bottleneck, model.g_a(x)
  if not hasattr(model, "h_a"):
    return {"compress:y_symbols": eb.quantize(y, "symbols", eb._get_medians()).int().numpy()}
  z = model.h_a(y if isinstance(model, MeanScaleHyperprior) else y.abs())
  z_symbols = eb.quantize(z, "symbols", eb._get_medians()).int().numpy()
  z_hat = eb.decompress(enc["strings"][1], z.size()[-2:])
  params, means = model.h_s(z_hat), None
  if is_autoregressive(model):
    symbols, indexes = autoregressive_symbols(model, y, params)
    gc, encoder = model.gaussian_conditional, BufferedRansEncoder()
    encoder.encode_with_indexes(symbols.tolist(), indexes.tolist(), gc.quantized_cdf.tolist(),
                                gc.cdf_length.tolist(), gc.offset.tolist())
    assert encoder.flush() == enc["strings"][0][0], "y symbols are not compress's"
    return {"compress:z_symbols": z_symbols, "compress:y_symbols": symbols,
            "compress:y_indexes": indexes}
  if isinstance(model, MeanScaleHyperprior):
    params, means = params.chunk(2, 1)
  gc = model.gaussian_conditional
  indexes = gc.build_indexes(params)
  assert gc.compress(y, indexes, means) == enc["strings"][0], "y symbols are not compress's"
  return {"compress:z_symbols": z_symbols,
          "compress:y_symbols": gc.quantize(y, "symbols", means).int().numpy(),
          "compress:y_indexes": indexes.int().numpy()}


def autoregressive_symbols(model, y, params):
  """compress's raster scan redone: at each position entropy_parameters of h_s's params
  and the masked context of the y_hat coded so far give all M channels' (scale index,
  mean); the symbol is round(y - mean) and y_hat there becomes symbol + mean. Returns
  flat int32 (symbols, indexes), position by position, channels within."""
  cp, gc = model.context_prediction, model.gaussian_conditional
  k = cp.kernel_size[0]
  pad = k // 2
  weight = cp.weight * cp.mask
  y_hat = F.pad(torch.zeros_like(y), (pad, pad, pad, pad))
  symbols, indexes = [], []
  for i in range(y.shape[2]):
    for j in range(y.shape[3]):
      ctx = F.conv2d(y_hat[:, :, i:i + k, j:j + k], weight, cp.bias)
      gaussian = model.entropy_parameters(torch.cat((params[:, :, i:i + 1, j:j + 1], ctx), 1))
      scales, means = gaussian.flatten(1).chunk(2, 1)
      q = gc.quantize(y[:, :, i, j], "symbols", means)
      y_hat[:, :, i + pad, j + pad] = q + means
      symbols.append(q)
      indexes.append(gc.build_indexes(scales))
  return (torch.cat(symbols).flatten().int().numpy(),
          torch.cat(indexes).flatten().int().numpy())


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="/tmp/heldback")
  parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
  args = parser.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  torch.set_num_threads(2)
  for name in args.cases:
    arch, seed, n, m, image_name, crop = CASES[name]
    image = load_image(image_name, crop)
    Image.fromarray(image).save(os.path.join(args.out, f"{name}_input.png"))
    x = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    model, factors = build(arch, n, m, seed, x)
    arrays = record(model, x)
    arrays["x"] = x.numpy()
    torch.save(zoo_key_style(model.state_dict()), os.path.join(args.out, f"{name}.pth.tar"))
    np.savez(os.path.join(args.out, f"{name}_outputs.npz"), **arrays)
    h, w = image.shape[:2]
    lengths = {k.split(":")[1]: int(v.size) for k, v in arrays.items()
               if k.startswith("compress:") and k.endswith("_string")}
    bpp_lik = sum(-np.log2(v.astype(np.float64)).sum() for k, v in arrays.items()
                  if k.endswith("_likelihoods")) / (h * w)
    meta = {
        "arch": arch, "compressai": compressai.__version__, "torch": torch.__version__,
        "numpy": np.__version__, "seed": seed, "image": image_name, "crop_tlhw": list(crop),
        "H": h, "W": w, "config": {"N": n, "M": m}, "calibration": factors,
        "bpp_likelihood": float(bpp_lik), "bpp_strings": 8 * sum(lengths.values()) / (h * w),
        "string_bytes": lengths,
        "key_style": "published zoo files: entropy_bottleneck._matrices.K/_biases.K/_factors.K"
                     + ("; ResidualBlockWithStride skip named downsample"
                        if isinstance(model, Cheng2020Anchor) else ""),
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()},
    }
    with open(os.path.join(args.out, f"{name}_outputs.json"), "w") as f:
      json.dump(meta, f, indent=1)
    stds = {k: float(arrays[f"forward:{module}:out0"].std()) for k, module in
            (("y", "g_a"), ("z", "h_a"), ("params", "h_s"), ("params", "entropy_parameters"))
            if f"forward:{module}:out0" in arrays}
    gap = np.abs(arrays["decompress:x_hat"] - arrays["forward:x_hat"].clip(0, 1)).max()
    print(f"{name}: {arch} N={n} M={m} seed={seed} {image_name} {w}x{h}: "
          f"strings {lengths}, {meta['bpp_strings']:.3f} bpp (likelihoods {bpp_lik:.3f}), "
          f"std {', '.join(f'{k} {v:.3f}' for k, v in stds.items())}; "
          f"max |decompress - clamped forward x_hat| {gap:.4f}")


if __name__ == "__main__":
  main()
