"""Evaluating one codec on a list of images, the way papers measure it.

Coded mode (the default) runs the real pipeline per image: `compress` -> bytes ->
`decompress`, and reports
  bpp           8 * (bytes of the stream, header and checksum included) / (H * W)
  bpp-strings   the same with only the entropy-coded strings (z and y, or y alone
                for a model without hyperprior): CompressAI's eval_model convention,
                which papers' tables use; `string_bytes` has each string's size
  bpp-estimate  -sum(log2 likelihoods) of every stream / (H * W) from `forward`
                (what training sees)
  psnr-rgb      on the 8-bit RGB images, exactly (`metrics.psnr` of the exact
                integer MSE, `metrics.mse_uint8`)
  ms-ssim-rgb   pytorch_msssim's MS-SSIM on the 8-bit images (data range 255),
                and ms-ssim-db = -10 log10(1 - MS-SSIM)
  jpeg-*, webp-*, avif-*, jpeg-xl-*, heif-*, jpeg-2000-*   with classic_codecs:
                the setting, bytes, bpp, psnr-rgb and ms-ssim-rgb of each classic
                codec (`lic_jax.evaluation.classic`) at the smallest file of at
                least the stream's size (`classic.at_size`)
  encoding_time, decoding_time   wall seconds of compress and decompress
  roundtrip     decoded image == forward's x_hat on the padded image, cropped,
                clipped and rounded: encoder and decoder agreed on every symbol
                (for compressai's autoregressive models, whose forward differs from
                their decoding by design, the encoder's `reconstruction` instead)
With refine_steps > 0 the encoder refines each image's latents first (lic_jax.refine;
its time counts as encoding time), and forward runs from the refined latents.
Rates divide by the original H * W, though the codec codes the image padded to a
multiple of its `pad_multiple` (64 for MLIC++): the padding is part of the cost.

Times exclude compilation: the seconds spent compiling (or loading compiled)
programs during a call, the first of every padded shape (`lic_jax.programs.
compile_seconds`), are taken off its time and reported once per model as
`compile_time`; no image is coded twice.

A variable-rate model is evaluated at a `quality`: one RD point per quality.

Estimate mode (`estimate=True`, CompressAI's --entropy-estimation) runs only
`forward`: bpp is the likelihood estimate, the reconstruction is forward's x_hat,
and forward's time is split half and half into encoding and decoding time, as
CompressAI does.
"""
import concurrent.futures
import os
import time

import jax
import numpy as np

from lic_jax import bitstream, image_io, metrics, model_dir, programs
from lic_jax.codec import pad_image, to_uint8
from lic_jax.evaluation import classic, progressive
from lic_jax.extras import progress_bar

# Per-image numbers averaged into a model's RD point (CompressAI's result keys first).
AVERAGED = ("psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time",
            "bpp-strings", "bpp-estimate", "forward_time", "bytes",
            *(f"{codec.key}-{key}" for codec in classic.CODECS.values()
              for key in ("bpp", "psnr-rgb", "ms-ssim-rgb")))

_cached = {}  # the last loaded codec: {(real path, model hash): Codec}


def load_codec(path, coder=None):
  """lic_jax.load_model(path, coder), reusing the codec loaded last if it is the same
  model (same folder and weights hash) and coder: its compiled stages are kept, so
  calling eval twice in one process does not compile twice. Only one is kept, so a
  run over many full-size models holds one at a time."""
  import lic_jax
  meta = model_dir.read_meta(path)
  key = (os.path.realpath(path), meta.get("model_hash"), coder)
  if key not in _cached:
    _cached.clear()
    _cached[key] = lic_jax.load_model(path, coder)
  return _cached[key]


def padded_shape(height, width, multiple):
  """The shape a codec padding to `multiple` really codes (and compiles for)."""
  return height + (-height % multiple), width + (-width % multiple)


def likelihood_bits(out):
  """Total -log2 likelihood of every stream (each `<name>_likelihoods`: y, and z
  with a hyperprior) in a forward output (float64 sum)."""
  return float(sum(-np.sum(np.log2(np.asarray(value, np.float64)))
                   for key, value in out.items() if key.endswith("_likelihoods")))


class _Clock:
  """Times calls, less the compile time spent in them (`compile_seconds`, which
  `compiled` sums)."""

  def __init__(self):
    self.compiled = 0.0

  def __call__(self, fn, *args, **kwargs):
    start, compiling = time.perf_counter(), programs.compile_seconds()
    result = jax.block_until_ready(fn(*args, **kwargs))
    compile_s = programs.compile_seconds() - compiling
    self.compiled += compile_s
    return result, max(time.perf_counter() - start - compile_s, 0.0)


def _forward(codec, image, latents=None, quality=None):
  """(uint8 reconstruction, estimated bits) from evaluation-mode forward, from the
  image or from given latents (as `Codec.latents` gives them)."""
  h, w = image.shape[:2]
  out = (codec.forward(pad_image(image, codec.pad_multiple), quality=quality)
         if latents is None else codec.forward_latents(latents, quality))
  return to_uint8(out["x_hat"], h, w), likelihood_bits(out)


def distortion(image, reconstruction):
  """psnr-rgb, ms-ssim-rgb and ms-ssim-db of an 8-bit reconstruction."""
  msssim = float(metrics.ms_ssim(image[None].astype(np.float32),
                                 reconstruction[None].astype(np.float32), 255.0)[0])
  return {"psnr-rgb": metrics.psnr(metrics.mse_uint8(image, reconstruction), 255.0),
          "ms-ssim-rgb": msssim,
          "ms-ssim-db": metrics.ms_ssim_db(msssim)}


def classic_scores(image, target_bytes, codecs):
  """Per codec, in order: (file bytes, decoded image, {"setting", "bytes", "bpp",
  "psnr-rgb", "ms-ssim-rgb"}) at its smallest file of at least target_bytes. The
  codecs' searches run two at a time (their encoders release the GIL)."""
  def scores(codec):
    setting, data, decoded = classic.at_size(image, target_bytes, codec)
    found = {"setting": setting, "bytes": len(data), "bpp": 8 * len(data) / image[..., 0].size,
             **distortion(image, decoded)}
    del found["ms-ssim-db"]
    return data, decoded, found
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    return list(pool.map(scores, codecs))


def _classic_fields(image, target_bytes, codecs):
  """classic_scores of each codec as `<codec key>-<score>` row fields."""
  return {f"{codec.key}-{key}": value
          for codec, (_, _, found) in zip(codecs, classic_scores(image, target_bytes, codecs))
          for key, value in found.items()}


def _code_image(codec, image, check, timed, refine_steps=0, lmbda=None, quality=None):
  """One timed coded run: (row fields, stream bytes, reconstruction)."""
  h, w = image.shape[:2]
  latents = None
  if refine_steps:
    latents, refine_s = timed(codec.latents, image, refine_steps, lmbda, quality)
    data, code_s = timed(codec.compress_latents, latents, h, w, quality)
    encode_s = refine_s + code_s
  else:
    data, encode_s = timed(codec.compress, image, quality)
  decoded, decode_s = timed(codec.decompress, data)
  info = bitstream.info(data)
  pixels = h * w
  row = {"bpp": 8 * len(data) / pixels,
         "bpp-strings": 8 * sum(info["string_bytes"].values()) / pixels,
         "bytes": len(data), "header_bytes": info["header_bytes"],
         "string_bytes": info["string_bytes"],
         "encoding_time": encode_s, "decoding_time": decode_s}
  if check:
    (expected, bits), forward_s = timed(_forward, codec, image, latents, quality)
    if not codec.decodes_forward:
      expected = codec.reconstruction(
          codec.latents(image) if latents is None else latents, h, w, quality)
    row.update({"bpp-estimate": bits / pixels, "forward_time": forward_s,
                "roundtrip": bool(np.array_equal(decoded, expected))})
  return row, data, decoded


def _estimate_image(codec, image, timed, quality=None):
  """One timed forward run: (row fields, None, reconstruction)."""
  h, w = image.shape[:2]
  (reconstruction, bits), forward_s = timed(_forward, codec, image, None, quality)
  row = {"bpp": bits / (h * w), "bpp-estimate": bits / (h * w), "forward_time": forward_s,
         "encoding_time": forward_s / 2, "decoding_time": forward_s / 2}
  return row, None, reconstruction


def evaluate(codec, paths, root, *, estimate=False, check=True, save_dir=None,
             progress=True, name=None, model=None, refine_steps=0, lmbda=None,
             classic_codecs=(), progressive_curve=False, quality=None):
  """Evaluates `codec` on the images at `paths` (names relative to `root`), a
  variable-rate one at `quality` (default: its own).

  refine_steps, lmbda: the encoder's latent refinement (`Codec.compress`), coded mode.
  classic_codecs: ClassicCodecs whose numbers each row also gets, at the smallest file
  of at least the stream's size (`jpeg-bpp`, `avif-psnr-rgb`, ...; coded mode).
  progressive_curve: each row also gets `progressive` (`progressive.curve`), and the
  result its average over the images (coded mode, models with channel groups).

  save_dir, if given, receives `<name>.lic` (coded mode) and `<name>.png` for each
  image, written atomically. Returns a dict: model identity, `coder` (the entropy
  coder's name, coded mode), `compile_time`, `images` (one row per image) and
  `averages` (the RD point).
  """
  if estimate and (refine_steps or classic_codecs or progressive_curve):
    raise ValueError("latent refinement, the classic codecs and the progressive curve "
                     "need coded mode")
  timed = _Clock()
  run = (lambda image: _estimate_image(codec, image, timed, quality)) if estimate else (
      lambda image: _code_image(codec, image, check, timed, refine_steps, lmbda, quality))
  seen_shapes, rows = set(), []
  label = name or codec.arch + (f"+refine{refine_steps}" if refine_steps else "")
  for path in progress_bar(paths, progress, unit="img", leave=False,
                           desc=f"{label} ({'estimate' if estimate else 'coded'})"):
    image, notes = image_io.read_image(path)
    h, w = image.shape[:2]
    shape = padded_shape(h, w, codec.pad_multiple)
    first_of_shape = shape not in seen_shapes
    seen_shapes.add(shape)
    fields, data, reconstruction = run(image)
    if not metrics.is_standard_size(h, w):
      notes.append(f"MS-SSIM of a {w}x{h} image uses pytorch_msssim's small-image fallback "
                   f"(standard MS-SSIM needs both sides >= {metrics.MIN_STANDARD_SIDE})")
    rel = os.path.relpath(path, root)
    row = {"image": rel, "height": h, "width": w, **fields, **distortion(image, reconstruction),
           **(_classic_fields(image, len(data), classic_codecs) if classic_codecs else {}),
           **({"progressive": progressive.curve(codec, image, data, distortion)}
              if progressive_curve else {}),
           "first_of_shape": first_of_shape, "notes": notes}
    rows.append(row)
    if save_dir:
      stem = os.path.join(save_dir, os.path.splitext(rel)[0])
      os.makedirs(os.path.dirname(stem), exist_ok=True)
      if data is not None:
        image_io.atomic_write(stem + ".lic", data)
      image_io.write_png(stem + ".png", reconstruction)
  return {"model": model, "name": label, "arch": codec.arch, "model_hash": codec.model_hash,
          "mode": "estimate" if estimate else "coded",
          "coder": None if estimate else codec.coder.name, "refine_steps": refine_steps,
          "quality": None if codec.qualities is None else (
              codec.default_quality if quality is None else quality),
          "compile_time": timed.compiled, "images": rows, "averages": average(rows),
          **({"progressive": progressive.average(rows)} if progressive_curve else {})}


def average(rows):
  """The RD point of a list of per-image rows: the mean of each per-image number
  (as CompressAI and the papers average: PSNR over images, not of the mean MSE);
  ms-ssim-db of the mean MS-SSIM (as CompressAI's plots convert it); `roundtrip`
  true only if every image matched."""
  out = {"images": len(rows)}
  for key in AVERAGED:
    values = [row[key] for row in rows if key in row]
    if values and len(values) == len(rows):
      out[key] = float(np.mean(values))
  if "ms-ssim-rgb" in out:
    out["ms-ssim-db"] = metrics.ms_ssim_db(out["ms-ssim-rgb"])
  flags = [row.get("roundtrip") for row in rows]
  out["roundtrip"] = None if None in flags else all(flags)
  return out
