"""Training and validation images, on grain.

Training: every image file under a folder (recursively), an endless stream of epochs,
each reshuffled, each image a random patch_size x patch_size crop, flipped left-right
with probability 1/2, batched as uint8 (B, P, P, 3). The original (MLIC++
`train.py`) uses compressai's ImageFolder with RandomCrop and no flip; the flip is a
free augmentation for natural images.

Properties that training relies on:
- Deterministic given the seed: grain's `MapDataset` computes element k from k alone
  (epoch e is shuffled with seed + e, the crop of element k uses a generator seeded
  from the seed and k), decoded by a thread pool that keeps the order.
- Resumable: the iterator state is a small dict (the next element index, through the
  prefetch and batch stages), saved in the checkpoints (`checkpointing`).
- Bad files are skipped and counted, never fatal: headers that Pillow cannot read
  are dropped when the folder is scanned; files that fail to decode later (truncated
  data) are dropped from the stream and recorded in `SkipLog`.
- Images smaller than the patch (on either side) are UPSCALED, keeping their aspect
  ratio, until the short side equals the patch size (bicubic), then cropped. Padding
  would teach the model to code flat borders that real images do not have. A folder
  where no image reaches the patch size is an error: the patch size is then almost
  certainly a mistake.
- Multi-host: each process takes every process_count-th file of the sorted list
  (`sharding.process_shard`) and feeds batch_size / process_count rows.

Validation: a small fixed set, read once into memory (by every process) as centre
crops, upscaled like training when small, in sorted order.
"""
import os
import threading

import numpy as np
from PIL import Image

from lic_jax import image_io

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class DataError(ValueError):
  """A data folder that cannot feed training (missing, empty, all too small)."""


class SkipLog:
  """Thread-safe record of files dropped because they cannot be read."""

  def __init__(self):
    self._lock = threading.Lock()
    self._reasons = {}

  def record(self, path, reason):
    with self._lock:
      self._reasons.setdefault(path, str(reason))

  @property
  def count(self):
    with self._lock:
      return len(self._reasons)

  def items(self):
    with self._lock:
      return sorted(self._reasons.items())


def list_images(root):
  """Sorted paths of the files under `root` (recursive) with an image extension."""
  if not os.path.isdir(root):
    raise DataError(f"data folder {root!r} does not exist or is not a folder")
  paths = []
  for folder, dirs, files in os.walk(root, followlinks=True):
    dirs.sort()
    paths.extend(os.path.join(folder, f) for f in sorted(files)
                 if f.lower().endswith(IMAGE_EXTENSIONS))
  return paths


def image_size(path):
  """(height, width) from the file header (no decoding), or ImageError."""
  try:
    with Image.open(path) as img:
      width, height = img.size
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    raise image_io.ImageError(f"cannot read {path!r} as an image: {e}") from e
  return height, width


def scan(paths, patch_size, skips, root="the data folder"):
  """The readable paths among `paths`, checked against the patch size.

  Unreadable headers go to `skips`. Returns (paths, number of images that will be
  upscaled). Raises DataError when nothing is left or no image reaches the patch.
  """
  if not paths:
    raise DataError(f"no images under {root!r} (looked for {', '.join(IMAGE_EXTENSIONS)})")
  good, sizes = [], []
  for path in paths:
    try:
      sizes.append(image_size(path))
      good.append(path)
    except image_io.ImageError as e:
      skips.record(path, e)
  if not good:
    raise DataError(f"none of the {len(paths)} image files under {root!r} could be read")
  shortest = [min(h, w) for h, w in sizes]
  if max(shortest) < patch_size:
    raise DataError(f"every image under {root!r} is smaller than the patch size {patch_size} "
                    f"(the largest short side is {max(shortest)} px); use a --patch-size of "
                    f"at most {max(shortest)} or bigger images")
  return good, sum(s < patch_size for s in shortest)


def fit_to_patch(image, patch_size):
  """Upscales (H, W, 3) uint8 so that its short side is >= patch_size (bicubic)."""
  height, width = image.shape[:2]
  if min(height, width) >= patch_size:
    return image
  scale = patch_size / min(height, width)
  size = (max(patch_size, round(width * scale)), max(patch_size, round(height * scale)))
  return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def random_crop(image, patch_size, rng, flip=True):
  """A random patch (P, P, 3) of an image at least P on each side, maybe mirrored."""
  height, width = image.shape[:2]
  top = int(rng.integers(0, height - patch_size + 1))
  left = int(rng.integers(0, width - patch_size + 1))
  patch = image[top:top + patch_size, left:left + patch_size]
  if flip and rng.random() < 0.5:
    patch = patch[:, ::-1]
  return np.ascontiguousarray(patch)


def center_crop(image, patch_size):
  height, width = image.shape[:2]
  top, left = (height - patch_size) // 2, (width - patch_size) // 2
  return np.ascontiguousarray(image[top:top + patch_size, left:left + patch_size])


class _LoadPatch:
  """The per-element transform: path -> random uint8 patch, or None if unreadable
  (grain drops Nones)."""

  def __init__(self, patch_size, skips, flip):
    self.patch_size = patch_size
    self.skips = skips
    self.flip = flip

  def __call__(self, path, rng):
    try:
      image, _ = image_io.read_image(path)
    except image_io.ImageError as e:
      self.skips.record(path, e)
      return None
    return random_crop(fit_to_patch(image, self.patch_size), self.patch_size, rng, self.flip)


class TrainPipeline:
  """Random patches of the images under `root`, batched.

  batch_size is this process's share of the global batch. seed fixes the order and
  the crops. num_threads decode in parallel (Pillow releases the GIL), and up to
  `prefetch` patches wait decoded ahead of the training step.
  """

  def __init__(self, root, patch_size, batch_size, seed=0, num_threads=None, prefetch=None,
               flip=True, process_index=0, process_count=1):
    import grain.python as grain
    self.root = root
    self.patch_size = patch_size
    self.batch_size = batch_size
    self.skips = SkipLog()
    paths = list_images(root)[process_index::process_count]
    self.paths, self.num_upscaled = scan(paths, patch_size, self.skips, root)
    num_threads = num_threads or min(8, os.cpu_count() or 1)
    prefetch = prefetch or max(4 * batch_size, 2 * num_threads)
    dataset = (grain.MapDataset.source(self.paths)
               .shuffle(seed=seed % 2 ** 32)
               .repeat()
               .random_map(_LoadPatch(patch_size, self.skips, flip), seed=(seed + 1) % 2 ** 32))
    options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
    self.dataset = dataset.to_iter_dataset(options).batch(batch_size, drop_remainder=True)

  def iterator(self, state=None):
    """A batch iterator ((B, P, P, 3) uint8), at `state` (from `get_state()`) if given."""
    iterator = iter(self.dataset)
    if state is not None:
      iterator.set_state(state)
    return iterator

  def summary(self):
    """One line on what was found, for the log."""
    line = f"{len(self.paths)} training images under {self.root}"
    if self.num_upscaled:
      line += f", {self.num_upscaled} smaller than {self.patch_size} px (upscaled)"
    if self.skips.count:
      line += f", {self.skips.count} unreadable (skipped)"
    return line


def load_validation(root, patch_size):
  """Centre crops of the images under `root`: (uint8 (n, P, P, 3), paths, SkipLog).

  Validation runs on a small fixed set, so every process reads all of it once (each
  device then gets its rows of each batch). Unreadable files are skipped and
  recorded like in training.
  """
  skips = SkipLog()
  paths, _ = scan(list_images(root), patch_size, skips, root)
  crops, kept = [], []
  for path in paths:
    try:
      image, _ = image_io.read_image(path)
    except image_io.ImageError as e:
      skips.record(path, e)
      continue
    crops.append(center_crop(fit_to_patch(image, patch_size), patch_size))
    kept.append(path)
  if not crops:
    raise DataError(f"none of the validation images under {root!r} could be decoded")
  return np.stack(crops), kept, skips
