r"""Held-back parity cases: CompressAI's own bmshj2018-factorized, bmshj2018-factorized-relu,
bmshj2018-hyperprior, mbt2018-mean and the autoregressive mbt2018, cheng2020-anchor and
cheng2020-attn, and the variable-rate bmshj2018-hyperprior-vbr, mbt2018-mean-vbr and
mbt2018-vbr, at seeds, sizes, widths (N, M) and images that ../shared/reference/compressai
does not use, so lic_jax's ports can be checked on cases they were not developed against.

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
The variable-rate and ReLU cases need compressai >= 1.2.6 (whose vbr code is 1.2.8's but
for type annotations). They were made with compressai 1.2.6 built from its sdist, torch
2.13.0 CPU, numpy 2.4.6, scikit-image 0.26.0 (without torchvision, which compressai's
registry imports only for names: a stub module on PYTHONPATH does), not yet with 1.2.8:

    PYTHONPATH=<torchvision stub> /tmp/upstream/venv/bin/python bench/compressai_heldback.py \
        --out /tmp/heldback_vbr --cases heldback_relu heldback_relu_odd \
        heldback_hyperprior_vbr heldback_hyperprior_vbr_wide heldback_mean_vbr \
        heldback_mean_vbr_odd heldback_mbt2018_vbr heldback_mbt2018_vbr_odd

Weights are seeded random, calibrated as the reference fixtures were (README there and
`calibrate`): std(y) = 4, std(z) = 2.5, unit-std Gaussian parameters with +3 on the bias
of their scales half; for the variable-rate models, as their fixtures: std(y) = 16 before
the gain, std(z) = 2.5, parameters of std 2 with +16 on the scales' bias (scales near 16,
so about 1.6 to 16 times the gain). The ReLU factorized prior: std(y) = 4. Written per
case, as `<name>.pth.tar` (a bare state dict in the zoo's published key style, the masked
conv's weight masked; a variable-rate hyperprior's bottleneck tables stored empty, as
compressai's loader wants them), `<name>_input.png`, `<name>_outputs.npz` (NCHW, the
fixtures' array names, symbols and indexes included; for the autoregressive models flat,
in the order compress coded them) and `<name>_outputs.json`. A picture whose sides are not
multiples of the model's stride (16 factorized, else 64) is given to compressai padded
as lic_jax pads it (edge replication, bottom and right; compressai's own models need
it): `x` and every array are of the padded picture, the PNG is the picture itself.

The variable-rate cases record, per rate R (`s<k>`: Gain[k]; `scale<g>`: inputscale g, a
gain between two of Gain), as the vbr fixtures do: `forward:R:x_hat`, `forward:R:y_
likelihoods`, `forward:R:z_likelihoods` (compressai's, z over unit bins) and
`forward:R:z_likelihoods_qs` (its `_likelihood_variable` of the same z_hat over bins of
the z step, as z is coded; the two hyperprior models), module outputs `forward:R:<m>:out0`,
`compress:R:z_qstep`, the symbols and indexes compress handed its coder (taken from the
coder calls themselves), `compress:R:{y,z}_string` and `decompress:R:x_hat`; the z tables
rebuilt for each rate with `update(force=True, scale=gain)` as eval_model does, and (not
in the fixtures) kept: `compress:R:z_offset`, `z_quantized_cdf`, `z_cdf_length`.

Over 250 lines: one self-contained script that runs PyTorch (CompressAI's classes
reimplemented nowhere else) to make the held-back cases.
"""
import argparse
import contextlib
import json
import os
import re
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

warnings.filterwarnings("ignore", category=FutureWarning)

import compressai  # noqa: E402
from compressai.ans import BufferedRansEncoder  # noqa: E402
from compressai.models import (  # noqa: E402
    Cheng2020Anchor, Cheng2020Attention, FactorizedPrior, FactorizedPriorReLU,
    JointAutoregressiveHierarchicalPriors, MeanScaleHyperprior, ScaleHyperprior)
from compressai.models import vbr  # noqa: E402
from compressai.zoo.pretrained import load_pretrained  # noqa: E402

ARCHS = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHierarchicalPriors,
    "cheng2020-anchor": Cheng2020Anchor,
    "cheng2020-attn": Cheng2020Attention,
    "bmshj2018-factorized-relu": FactorizedPriorReLU,
    "bmshj2018-hyperprior-vbr": vbr.ScaleHyperpriorVbr,
    "mbt2018-mean-vbr": vbr.MeanScaleHyperpriorVbr,
    "mbt2018-vbr": vbr.JointAutoregressiveHierarchicalPriorsVbr,
}
# The two hyperprior vbr models as the zoo loads its files: z at a step from the gain.
STEPPED_Z = ("bmshj2018-hyperprior-vbr", "mbt2018-mean-vbr")

# name -> (arch, seed, N, M, image, (top, left, height, width) crop); cheng2020 has M = N
CASES = {
    "heldback_factorized": ("bmshj2018-factorized", 1, 48, 64, "chelsea", (54, 98, 192, 256)),
    "heldback_hyperprior": ("bmshj2018-hyperprior", 2, 48, 64, "coffee", (40, 180, 256, 192)),
    "heldback_mean": ("mbt2018-mean", 3, 40, 56, "chelsea", (0, 60, 256, 320)),
    "heldback_mean_coffee": ("mbt2018-mean", 4, 64, 96, "coffee", (100, 100, 192, 256)),
    "heldback_mbt2018": ("mbt2018", 5, 48, 64, "chelsea", (30, 120, 256, 192)),
    "heldback_cheng_anchor": ("cheng2020-anchor", 6, 48, 48, "coffee", (60, 200, 192, 256)),
    "heldback_cheng_attn": ("cheng2020-attn", 7, 40, 40, "chelsea", (40, 40, 256, 320)),
    "heldback_relu": ("bmshj2018-factorized-relu", 11, 40, 56, "coffee", (120, 300, 192, 256)),
    # 150x200: padded to 160x208 (the factorized prior's stride is 16)
    "heldback_relu_odd": ("bmshj2018-factorized-relu", 12, 64, 96, "chelsea", (70, 160, 150, 200)),
    "heldback_hyperprior_vbr": ("bmshj2018-hyperprior-vbr", 21, 40, 56, "chelsea",
                                (40, 100, 192, 256)),
    "heldback_hyperprior_vbr_wide": ("bmshj2018-hyperprior-vbr", 22, 64, 96, "coffee",
                                     (30, 150, 256, 320)),
    "heldback_mean_vbr": ("mbt2018-mean-vbr", 23, 40, 56, "coffee", (80, 220, 256, 192)),
    # 200x300: padded to 256x320
    "heldback_mean_vbr_odd": ("mbt2018-mean-vbr", 24, 64, 96, "chelsea", (20, 60, 200, 300)),
    "heldback_mbt2018_vbr": ("mbt2018-vbr", 25, 40, 56, "chelsea", (30, 120, 192, 256)),
    # 180x250: padded to 192x256
    "heldback_mbt2018_vbr_odd": ("mbt2018-vbr", 26, 64, 96, "coffee", (100, 50, 180, 250)),
}
# The rates of each variable-rate case: s<k> is Gain[k]; scale<g> the gain g itself
# (compressai's inputscale), 0.45 between Gain[4] and Gain[5], 0.16 between Gain[1] and
# Gain[2] (the initial gains, which seeded weights keep).
RATES = {
    "heldback_hyperprior_vbr": ["s1", "s5", "scale0.45"],
    "heldback_hyperprior_vbr_wide": ["s2", "s6", "scale0.16"],
    "heldback_mean_vbr": ["s1", "s5", "scale0.45"],
    "heldback_mean_vbr_odd": ["s2", "s6", "scale0.16"],
    "heldback_mbt2018_vbr": ["s1", "s5", "scale0.45"],
    "heldback_mbt2018_vbr_odd": ["s2", "s6", "scale0.16"],
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
def calibrate(model, x, y_std=4.0, params_std=1.0, scales_bias=3.0):
  """Scales the last convs in place as the reference fixtures did; returns the factors.

  y's conv is g_a's last direct Conv2d child. For cheng2020-attn that is the conv3x3
  before the closing AttentionBlock (y = t + a(t) * sigmoid(b(t))), scaled in fixed-point
  steps until std(y) = 4. The fixture instead scaled the last Conv2d in g_a's module
  order, that block's gate b, which left its std(y) at 0.23. The Gaussian parameters'
  conv is h_s's last, or entropy_parameters' last for the autoregressive models, there
  fed as eval forward does: h_s(round(z)) and the masked context of round(y). The vbr
  fixtures: y_std 16, params_std 2, scales_bias 16, on the same inputs (z at unit step,
  the context without scale_to_context): that reproduces their factors."""
  model.eval()
  last_conv = [m for m in model.g_a if isinstance(m, torch.nn.Conv2d)][-1]
  factors = {"g_a_last_conv_factor": _scale_to_std(last_conv, lambda: model.g_a(x), y_std)}
  if y_std != 4.0:
    factors["y_std_target"] = y_std
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
  factors["entropy_parameter_last_conv_factor"] = params_std / params.std().item()
  scales = torch.zeros_like(last.bias)
  scales[:model.M] = scales_bias   # (scales, means) = params.chunk(2); all scales without means
  _scale_conv(last, factors["entropy_parameter_last_conv_factor"], scales)
  factors["scales_bias_added"] = scales_bias
  return factors


def is_variable_rate(arch):
  return arch.endswith("-vbr")


def build(arch, n, m, seed, x):
  """The compressai model, seeded, calibrated on x, eval() and update(force=True); the
  two hyperprior vbr models with `vr_entbttlnck=True`, as the zoo loads its files."""
  torch.manual_seed(seed)
  cls = ARCHS[arch]
  kwargs = {"vr_entbttlnck": True} if arch in STEPPED_Z else {}
  model = cls(n) if issubclass(cls, Cheng2020Anchor) else cls(n, m, **kwargs)
  assert model.M == m, (arch, n, m)
  vbr_targets = {"y_std": 16.0, "params_std": 2.0, "scales_bias": 16.0}
  factors = calibrate(model, x, **(vbr_targets if is_variable_rate(arch) else {}))
  model.eval()
  model.update(force=True)
  return model, factors


EB_TABLES = ("_offset", "_quantized_cdf", "_cdf_length")
_EB_PLURAL = {"matrix": "matrices", "bias": "biases", "factor": "factors"}


def zoo_key_style(state_dict, empty_tables=False):
  """compressai's keys -> those of the zoo's published files (entropy_bottleneck's
  matrices.K of >= 1.2.5, or _matrixK of <= 1.2.4 and of EntropyBottleneckVbr, ->
  _matrices.K, ...; cheng2020's ResidualBlockWithStride .skip. -> .downsample.).
  empty_tables: the bottleneck's _offset, _quantized_cdf and _cdf_length stored empty, as
  a vbr bottleneck's must be (they depend on the rate; compressai loads them only so)."""
  out = {}
  for key, value in state_dict.items():
    for name in ("matrices", "biases", "factors"):
      key = key.replace(f"entropy_bottleneck.{name}.", f"entropy_bottleneck._{name}.")
    key = re.sub(r"^entropy_bottleneck\._(matrix|bias|factor)(\d+)$",
                 lambda g: f"entropy_bottleneck._{_EB_PLURAL[g[1]]}.{g[2]}", key)
    key = key.replace(".skip.", ".downsample.")
    if empty_tables and key in [f"entropy_bottleneck.{name}" for name in EB_TABLES]:
      value = torch.zeros(0, dtype=torch.int32)
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


def rate_arguments(model, rate):
  """(the keyword arguments of forward/compress/decompress at `rate`, the gain): s<k>
  -> s=k (gain |Gain[k]|), scale<g> -> inputscale g (a 0-dim float32 tensor, as
  compressai's eval_model passes it; the gain is g itself)."""
  if rate.startswith("scale"):
    gain = torch.tensor(float(rate[len("scale"):]), dtype=torch.float32)
    return {"stage": 2, "s": 0, "inputscale": gain}, gain
  s = int(rate[1:])
  return {"stage": 2, "s": s, "inputscale": 0}, model.Gain[s].detach().abs()


@contextlib.contextmanager
def coder_calls(model):
  """Records what compress hands compressai's rANS coders: {stream: (symbols, indexes)},
  flat, in coding order. The y and z coders of the hyperprior models are the entropy
  models' own (their `entropy_coder`); mbt2018-vbr codes y with a BufferedRansEncoder of
  vbr.py's, here wrapped for the while."""
  calls = {}

  def recording(stream, encode):
    def wrapper(symbols, indexes, *args):
      calls[stream] = (np.asarray(symbols, np.int32), np.asarray(indexes, np.int32))
      return encode(symbols, indexes, *args)
    return wrapper

  class Buffered:
    def __init__(self):
      self.encoder = BufferedRansEncoder()
      self.encode_with_indexes = recording("y", self.encoder.encode_with_indexes)

    def flush(self):
      return self.encoder.flush()

  coders = [(model.entropy_bottleneck.entropy_coder, "z"),
            (model.gaussian_conditional.entropy_coder, "y")]
  for coder, stream in coders:
    coder.encode_with_indexes = recording(stream, coder.encode_with_indexes)
  vbr.BufferedRansEncoder = Buffered
  try:
    yield calls
  finally:
    vbr.BufferedRansEncoder = BufferedRansEncoder
    for coder, _ in coders:
      del coder.encode_with_indexes


@torch.no_grad()
def record_variable_rate(model, x, arch, rates):
  """The vbr fixtures' arrays at each rate (see the module doc), and per rate its gain,
  z step, likelihood and string bits, and decompress's gap to the clamped forward."""
  arrays, info = {}, {}
  stepped = arch in STEPPED_Z
  for rate in rates:
    kwargs, gain = rate_arguments(model, rate)
    kept, hooks = {}, []

    def keep(name):
      def hook(module, inputs, output):
        kept.setdefault(name, output)
      return hook
    for name in ("g_a", "h_a", "h_s", "g_s", "entropy_parameters", "entropy_bottleneck"):
      if hasattr(model, name):
        hooks.append(getattr(model, name).register_forward_hook(keep(name)))
    out = model(x, **kwargs)
    for hook in hooks:
      hook.remove()
    for name, output in kept.items():
      if name != "entropy_bottleneck":
        arrays[f"forward:{rate}:{name}:out0"] = output.numpy().copy()
    arrays[f"forward:{rate}:x_hat"] = out["x_hat"].numpy()
    for k, v in out["likelihoods"].items():
      arrays[f"forward:{rate}:{k}_likelihoods"] = v.numpy()
    z_step = None
    if stepped:
      z_step = model.lower_bound_zqstep(model.gayn2zqstep(1.0 / gain.view(1)))
      arrays[f"compress:{rate}:z_qstep"] = z_step[0].numpy()
      # the forward's z_hat over bins of the step (compressai's forward: unit bins)
      eb, z_hat = model.entropy_bottleneck, kept["entropy_bottleneck"][0]
      values = z_hat.transpose(0, 1).reshape(z_hat.shape[1], 1, -1)
      likelihood = eb.likelihood_lower_bound(eb._likelihood_variable(values, qs=z_step[0])[0])
      arrays[f"forward:{rate}:z_likelihoods_qs"] = (
          likelihood.reshape(z_hat.transpose(0, 1).shape).transpose(0, 1).numpy())
    model.update(force=True, scale=gain)  # z's tables at this rate's step (eval_model's way)
    if stepped:
      for table in EB_TABLES:
        arrays[f"compress:{rate}:z{table}"] = getattr(model.entropy_bottleneck,
                                                      table).numpy().copy()
    with coder_calls(model) as calls:
      enc = model.compress(x, **kwargs)
    for name, strings in zip(("y_string", "z_string"), enc["strings"]):
      arrays[f"compress:{rate}:{name}"] = np.frombuffer(strings[0], np.uint8).copy()
    z_shape = (1, model.entropy_bottleneck.quantiles.shape[0], *enc["shape"])
    arrays[f"compress:{rate}:z_symbols"] = calls["z"][0].reshape(z_shape)
    y_shape = out["likelihoods"]["y"].shape
    for field, values in zip(("y_symbols", "y_indexes"), calls["y"]):
      arrays[f"compress:{rate}:{field}"] = (values if is_autoregressive(model)
                                            else values.reshape(y_shape))
    decoded = model.decompress(enc["strings"], enc["shape"], **kwargs)["x_hat"]
    arrays[f"decompress:{rate}:x_hat"] = decoded.numpy()
    h, w = x.shape[2:]
    nbytes = {k: len(s[0]) for k, s in zip(("y_string", "z_string"), enc["strings"])}
    info[rate] = {
        "s": kwargs["s"], "inputscale": float(kwargs["inputscale"]), "scale": float(gain),
        "z_qstep": None if z_step is None else float(z_step[0]),
        "bpp_likelihood": float(sum(-np.log2(v.numpy().astype(np.float64)).sum()
                                    for v in out["likelihoods"].values()) / (h * w)),
        "bpp_strings": 8 * sum(nbytes.values()) / (h * w), "string_bytes": nbytes,
        "max_decompress_vs_clamped_forward": float(
            (decoded - out["x_hat"].clamp(0, 1)).abs().max()),
    }
  return arrays, info


@torch.no_grad()
def reloads_bit_exactly(arch, state_dict, x, rate, arrays):
  """Whether the written state dict, through the zoo's own path (load_pretrained, then
  from_state_dict, as compressai.zoo.image_vbr loads its files), gives the same forward
  x_hat and strings at `rate`."""
  cls = ARCHS[arch]
  sd = load_pretrained({k: v.clone() for k, v in state_dict.items()})
  model = (cls.from_state_dict(sd, vr_entbttlnck=True) if arch in STEPPED_Z
           else cls.from_state_dict(sd)).eval()
  kwargs, gain = rate_arguments(model, rate)
  model.update(force=True, scale=gain)
  enc = model.compress(x, **kwargs)
  return bool(np.array_equal(model(x, **kwargs)["x_hat"].numpy(), arrays[f"forward:{rate}:x_hat"])
              and np.array_equal(np.frombuffer(enc["strings"][0][0], np.uint8),
                                 arrays[f"compress:{rate}:y_string"])
              and np.array_equal(np.frombuffer(enc["strings"][1][0], np.uint8),
                                 arrays[f"compress:{rate}:z_string"]))


def pad_multiple(arch):
  """The stride lic_jax pads pictures to (and compressai's models need)."""
  return 16 if arch.startswith("bmshj2018-factorized") else 64


def padded(image, multiple):
  """lic_jax's padding (bottom and right, edge replication) to multiples of `multiple`."""
  h, w = image.shape[:2]
  return np.pad(image, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="edge")


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
    picture = padded(image, pad_multiple(arch))
    x = torch.from_numpy(picture.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    model, factors = build(arch, n, m, seed, x)
    h, w = image.shape[:2]
    meta = {
        "arch": arch, "compressai": compressai.__version__, "torch": torch.__version__,
        "numpy": np.__version__, "seed": seed, "image": image_name, "crop_tlhw": list(crop),
        "H": h, "W": w, "padded_HW": list(picture.shape[:2]), "config": {"N": n, "M": m},
        "calibration": factors,
        "key_style": "published zoo files: entropy_bottleneck._matrices.K/_biases.K/_factors.K"
                     + ("; ResidualBlockWithStride skip named downsample"
                        if isinstance(model, Cheng2020Anchor) else ""),
    }
    if is_variable_rate(arch):
      arrays, rates = record_variable_rate(model, x, arch, RATES[name])
      state_dict = zoo_key_style(model.state_dict(), empty_tables=arch in STEPPED_Z)
      meta.update({
          "vr_entbttlnck": arch in STEPPED_Z, "gains": model.Gain.tolist(), "rates": rates,
          "reload_via_zoo_path_bitexact": reloads_bit_exactly(arch, state_dict, x,
                                                              RATES[name][0], arrays),
          "keys_stored_empty": [f"entropy_bottleneck.{b}" for b in EB_TABLES
                                if arch in STEPPED_Z]})
    else:
      arrays = record(model, x)
      state_dict = zoo_key_style(model.state_dict())
      lengths = {k.split(":")[1]: int(v.size) for k, v in arrays.items()
                 if k.startswith("compress:") and k.endswith("_string")}
      meta.update({
          "bpp_likelihood": float(sum(-np.log2(v.astype(np.float64)).sum()
                                      for k, v in arrays.items()
                                      if k.endswith("_likelihoods")) / (h * w)),
          "bpp_strings": 8 * sum(lengths.values()) / (h * w), "string_bytes": lengths})
    arrays["x"] = x.numpy()
    torch.save(state_dict, os.path.join(args.out, f"{name}.pth.tar"))
    np.savez(os.path.join(args.out, f"{name}_outputs.npz"), **arrays)
    meta["arrays"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                      for k, v in arrays.items()}
    with open(os.path.join(args.out, f"{name}_outputs.json"), "w") as f:
      json.dump(meta, f, indent=1)
    first = f"{RATES[name][0]}:" if is_variable_rate(arch) else ""
    stds = {k: float(arrays[f"forward:{first}{module}:out0"].std()) for k, module in
            (("y", "g_a"), ("z", "h_a"), ("params", "h_s"), ("params", "entropy_parameters"))
            if f"forward:{first}{module}:out0" in arrays}
    size = f"{w}x{h}" + (f" (padded {picture.shape[1]}x{picture.shape[0]})"
                         if picture.shape[:2] != image.shape[:2] else "")
    print(f"{name}: {arch} N={n} M={m} seed={seed} {image_name} {size}: "
          f"std {', '.join(f'{k} {v:.3f}' for k, v in stds.items())}")
    if not is_variable_rate(arch):
      gap = np.abs(arrays["decompress:x_hat"] - arrays["forward:x_hat"].clip(0, 1)).max()
      print(f"  strings {meta['string_bytes']}, {meta['bpp_strings']:.3f} bpp (likelihoods "
            f"{meta['bpp_likelihood']:.3f}); max |decompress - clamped forward x_hat| {gap:.4f}")
      continue
    print(f"  reloads through the zoo's path bit-exactly: {meta['reload_via_zoo_path_bitexact']}")
    for rate, r in meta["rates"].items():
      step = "" if r["z_qstep"] is None else f", z step {r['z_qstep']:.5f}"
      print(f"  {rate}: gain {r['scale']:.5f}{step}: strings {r['string_bytes']}, "
            f"{r['bpp_strings']:.3f} bpp (likelihoods {r['bpp_likelihood']:.3f}); max "
            f"|decompress - clamped forward x_hat| {r['max_decompress_vs_clamped_forward']:.4f}")


if __name__ == "__main__":
  main()
