"""MS-SSIM test vectors: image pairs made here, values from pytorch_msssim.

The images are not stored: `cases()` rebuilds them bit-exactly from integer
arithmetic (a counter hash, no RNG whose stream could change between numpy
versions), so msssim_vectors.npz holds only the expected values (a few KB).
tests/test_metrics.py imports `cases` from this file.

Regenerate (needs torch and pytorch_msssim, which lic_jax does not depend on;
use a scratch environment):

    python3.11 -m venv /tmp/msssim
    /tmp/msssim/bin/pip install pytorch_msssim==1.0.0 torch==2.13.0 numpy==1.26.4
    /tmp/msssim/bin/python tests/data/make_msssim_vectors.py

Images with a shorter side below 161 pixels are refused by pytorch_msssim.ms_ssim;
for those the reference value is its own algorithm without that assertion (the same
loop over `pytorch_msssim.ssim._ssim`, which skips the blur along short axes).
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "msssim_vectors.npz")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _hash(index, seed):
  """splitmix64 of (index + seed): uint64 array -> uint64 array, exact everywhere."""
  with np.errstate(over="ignore"):
    z = (index + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)) & _MASK
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return z ^ (z >> np.uint64(31))


def noise(shape, seed, amplitude):
  """Integers uniform in [-amplitude, amplitude], as int64."""
  index = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
  return (_hash(index, seed) % np.uint64(2 * amplitude + 1)).astype(np.int64) - amplitude


def photo_like(shape, seed):
  """A uint8 (B, H, W, 3) picture: gradients, edges, a texture and mild noise."""
  b, h, w, c = shape
  i = np.arange(h, dtype=np.int64)[None, :, None, None]
  j = np.arange(w, dtype=np.int64)[None, None, :, None]
  ch = np.arange(c, dtype=np.int64)[None, None, None, :]
  n = np.arange(b, dtype=np.int64)[:, None, None, None]
  base = 40 + (i * 3 + j * 2 + ch * 50 + n * 17) % 160          # ramps with wrap edges
  base = base + 30 * (((i // 24) + (j // 32)) % 2)                # blocks
  base = base + ((i * j + 7 * ch) // 11) % 13                     # fine texture
  return np.clip(base + noise(shape, seed, 6), 0, 255).astype(np.uint8)


def block_mean(x, size):
  """Each size x size block replaced by its integer mean (a coding-like blur)."""
  b, h, w, c = x.shape
  hh, ww = h - h % size, w - w % size
  out = x.astype(np.int64).copy()
  blocks = out[:, :hh, :ww].reshape(b, hh // size, size, ww // size, size, c)
  means = blocks.sum(axis=(2, 4), keepdims=True) // (size * size)
  out[:, :hh, :ww] = np.broadcast_to(means, blocks.shape).reshape(b, hh, ww, c)
  return out.astype(np.uint8)


def cases():
  """name -> (x, y, data_range): NHWC float32 pairs."""
  out = {}
  x = photo_like((1, 176, 184, 3), seed=1)
  y = np.clip(x.astype(np.int64) + noise(x.shape, 2, 9), 0, 255).astype(np.uint8)
  out["noise_176x184_range255"] = (x, y, 255.0)
  out["noise_176x184_range1"] = (x / np.float32(255), y / np.float32(255), 1.0)
  x = photo_like((2, 161, 203, 3), seed=3)                           # odd sizes, a batch
  out["blockmean_161x203_batch2"] = (x, block_mean(x, 4), 255.0)
  x = photo_like((1, 64, 96, 3), seed=4)                             # below 161: fallback
  y = np.clip(x.astype(np.int64) + noise(x.shape, 5, 20), 0, 255).astype(np.uint8)
  out["small_64x96"] = (x, y, 255.0)
  x = photo_like((1, 33, 47, 3), seed=6)                             # windows never fit
  out["tiny_33x47"] = (x, block_mean(x, 2), 255.0)
  return {name: (np.asarray(a, np.float32), np.asarray(b, np.float32), r)
          for name, (a, b, r) in out.items()}


def _reference(x, y, data_range, dtype):
  """pytorch_msssim's MS-SSIM (size_average=False), without its size assertion."""
  import torch
  import torch.nn.functional as F
  from pytorch_msssim import ms_ssim
  from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim
  X = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dtype)
  Y = torch.from_numpy(np.ascontiguousarray(y.transpose(0, 3, 1, 2))).to(dtype)
  if min(X.shape[-2:]) > 160:
    return ms_ssim(X, Y, data_range=data_range, size_average=False).numpy()
  weights = X.new_tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
  win = _fspecial_gauss_1d(11, 1.5).repeat([X.shape[1], 1, 1, 1])
  mcs = []
  for level in range(len(weights)):
    ssim, cs = _ssim(X, Y, win=win, data_range=data_range, size_average=False)
    if level < len(weights) - 1:
      mcs.append(torch.relu(cs))
      padding = [s % 2 for s in X.shape[2:]]
      X, Y = (F.avg_pool2d(t, kernel_size=2, padding=padding) for t in (X, Y))
  stacked = torch.stack(mcs + [torch.relu(ssim)], dim=0)
  return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1).numpy()


def main():
  import warnings
  from importlib.metadata import version
  import torch
  warnings.simplefilter("ignore")  # "Skipping Gaussian Smoothing" on the small cases
  arrays = {}
  for name, (x, y, data_range) in cases().items():
    arrays[f"{name}/float64"] = _reference(x, y, data_range, torch.float64).astype(np.float64)
    arrays[f"{name}/float32"] = _reference(x, y, data_range, torch.float32).astype(np.float64)
    print(name, arrays[f"{name}/float64"], arrays[f"{name}/float32"])
  arrays["versions"] = np.array([f"pytorch_msssim {version('pytorch_msssim')}",
                                 f"torch {torch.__version__}", f"numpy {np.__version__}"])
  np.savez_compressed(OUT, **arrays)
  print("written", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
  main()
