"""Held-back parity cases: CompressAI's own bmshj2018-factorized, bmshj2018-hyperprior
and mbt2018-mean, at seeds, sizes and images that ../shared/reference/compressai does not
use, so lic_jax's ports can be checked on cases they were not developed against.

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

Weights are seeded random, calibrated as the reference fixtures were (README there):
the last conv of g_a scaled so std(y) = 4, the last conv of h_a so std(z) = 2.5, the
last conv of h_s so std(h_s(round(z))) = 1 (ReLU included for the scale-only model),
then +3 on the bias of its scales half. Written per case, as `<name>.pth.tar` (a bare
state dict in the zoo's published key style), `<name>_input.png`, `<name>_outputs.npz`
(NCHW, the fixtures' array names, symbols and indexes included) and `<name>_outputs.json`.
"""
import argparse
import json
import os
import warnings

import numpy as np
import torch
from PIL import Image

warnings.filterwarnings("ignore", category=FutureWarning)

import compressai  # noqa: E402
from compressai.models import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior  # noqa: E402

ARCHS = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
}

# name -> (arch, seed, N, M, image, (top, left, height, width) crop)
CASES = {
    "heldback_factorized": ("bmshj2018-factorized", 1, 48, 64, "chelsea", (54, 98, 192, 256)),
    "heldback_hyperprior": ("bmshj2018-hyperprior", 2, 48, 64, "coffee", (40, 180, 256, 192)),
    "heldback_mean": ("mbt2018-mean", 3, 40, 56, "chelsea", (0, 60, 256, 320)),
    "heldback_mean_coffee": ("mbt2018-mean", 4, 64, 96, "coffee", (100, 100, 192, 256)),
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


@torch.no_grad()
def calibrate(model, x):
  """Scales the last convs in place as the reference fixtures did; returns the factors."""
  model.eval()
  y = model.g_a(x)
  factors = {"g_a_last_conv_factor": 4.0 / y.std().item()}
  _scale_conv(model.g_a[-1], factors["g_a_last_conv_factor"])
  if not hasattr(model, "h_a"):
    return factors
  y = model.g_a(x)
  abs_y = isinstance(model, ScaleHyperprior) and not isinstance(model, MeanScaleHyperprior)
  h_a_in = y.abs() if abs_y else y
  z = model.h_a(h_a_in)
  factors["h_a_last_conv_factor"] = 2.5 / z.std().item()
  _scale_conv(model.h_a[-1], factors["h_a_last_conv_factor"])
  params = model.h_s(torch.round(model.h_a(h_a_in)))
  factors["entropy_parameter_last_conv_factor"] = 1.0 / params.std().item()
  last = [m for m in model.h_s if isinstance(m, torch.nn.Conv2d)][-1]
  scales = torch.zeros_like(last.bias)
  scales[:model.M] = 3.0   # (scales, means) = h_s(z_hat).chunk(2); all scales without means
  _scale_conv(last, factors["entropy_parameter_last_conv_factor"], scales)
  factors["scales_bias_added"] = 3.0
  return factors


def build(arch, n, m, seed, x):
  """The compressai model, seeded, calibrated on x, eval() and update(force=True)."""
  torch.manual_seed(seed)
  model = ARCHS[arch](n, m)
  factors = calibrate(model, x)
  model.eval()
  model.update(force=True)
  return model, factors


def zoo_key_style(state_dict):
  """compressai >= 1.2.5 keys -> those of the zoo's published files
  (entropy_bottleneck.matrices.K -> entropy_bottleneck._matrices.K, ...)."""
  out = {}
  for key, value in state_dict.items():
    for name in ("matrices", "biases", "factors"):
      key = key.replace(f"entropy_bottleneck.{name}.", f"entropy_bottleneck._{name}.")
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
  for name in ("g_a", "h_a", "h_s", "g_s"):
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
  z_hat = eb.decompress(enc["strings"][1], z.size()[-2:])
  params, means = model.h_s(z_hat), None
  if isinstance(model, MeanScaleHyperprior):
    params, means = params.chunk(2, 1)
  gc = model.gaussian_conditional
  indexes = gc.build_indexes(params)
  assert gc.compress(y, indexes, means) == enc["strings"][0], "y symbols are not compress's"
  return {"compress:z_symbols": eb.quantize(z, "symbols", eb._get_medians()).int().numpy(),
          "compress:y_symbols": gc.quantize(y, "symbols", means).int().numpy(),
          "compress:y_indexes": indexes.int().numpy()}


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
        "key_style": "published zoo files: entropy_bottleneck._matrices.K/_biases.K/_factors.K",
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()},
    }
    with open(os.path.join(args.out, f"{name}_outputs.json"), "w") as f:
      json.dump(meta, f, indent=1)
    print(f"{name}: {arch} N={n} M={m} seed={seed} {image_name} {w}x{h}: "
          f"strings {lengths}, {meta['bpp_strings']:.3f} bpp (likelihoods {bpp_lik:.3f})")


if __name__ == "__main__":
  main()
