"""Evaluation images: the Kodak set (find, download, verify) and any folder.

Kodak is the 24 lossless PNGs kodim01.png .. kodim24.png (768x512, some turned
to 512x768) that every learned-codec paper reports on. Without an explicit
folder they are looked for in $LIC_JAX_DATA/kodak, then ~/.cache/lic_jax/kodak;
`download_kodak` fetches them from the public copy at r0k.us.

A folder dataset is every non-hidden file directly in the folder (subfolders
only with recursive=True), in sorted order. Every such file must be an image
Pillow can open: a stray file is an error that names it, so a reported average
is never silently over fewer images than the folder holds.
"""
import http.client
import io
import os
import threading
import urllib.request

from PIL import Image

from lic_jax import image_io
from lic_jax.extras import progress_bar

KODAK_NAMES = tuple(f"kodim{i:02d}.png" for i in range(1, 25))
KODAK_SIZES = ((768, 512), (512, 768))  # (width, height) as Pillow reports them
KODAK_URL = "http://r0k.us/graphics/kodak/kodak/"
KODAK_PAGE = "http://r0k.us/graphics/kodak/"
DATA_ENV = "LIC_JAX_DATA"
URL_ENV = "LIC_JAX_KODAK_URL"  # a mirror with the same file names


class DatasetError(ValueError):
  """A dataset is missing, incomplete, or holds files that are not images."""


def kodak_candidates():
  """The folders searched for Kodak, in order."""
  folders = []
  if os.environ.get(DATA_ENV):
    folders.append(os.path.join(os.environ[DATA_ENV], "kodak"))
  folders.append(os.path.join(os.path.expanduser("~"), ".cache", "lic_jax", "kodak"))
  return folders


def _where_to_put(folder=None, download=True):
  """The fix to tell a user whose Kodak folder is missing or incomplete."""
  places = [folder] if folder else kodak_candidates()
  return (f"put the 24 Kodak PNGs ({KODAK_NAMES[0]} .. {KODAK_NAMES[-1]}, from {KODAK_PAGE}) "
          f"in {' or '.join(places)}" + (", or run with --download" if download else ""))


def find_kodak(folder=None):
  """The Kodak folder: `folder` if given, else the first candidate holding any
  kodimNN.png. Raises DatasetError saying where to put the files."""
  if folder is not None:
    if not os.path.isdir(folder):
      raise DatasetError(f"Kodak folder {folder!r} does not exist; {_where_to_put(folder)}")
    return folder
  for candidate in kodak_candidates():
    if os.path.isdir(candidate) and any(
        os.path.exists(os.path.join(candidate, name)) for name in KODAK_NAMES):
      return candidate
  raise DatasetError(f"the Kodak images were not found (looked in "
                     f"{', '.join(kodak_candidates())}); {_where_to_put()}")


def _check_kodak_image(data_or_path, name):
  """Raises DatasetError unless this is an RGB PNG of a Kodak size."""
  try:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with Image.open(source) as img:
      img.load()
      fmt, size, mode = img.format, img.size, img.mode
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise DatasetError(f"{name} is not a readable PNG ({e})") from None
  if fmt != "PNG" or size not in KODAK_SIZES or mode != "RGB":
    raise DatasetError(f"{name} is a {fmt} {mode} image of {size[0]}x{size[1]}, not a Kodak "
                       "image (RGB PNG, 768x512 or 512x768)")


def verify_kodak(folder):
  """The 24 Kodak paths in `folder`, after checking each is an RGB PNG of 768x512
  or 512x768. Raises DatasetError naming missing or wrong files."""
  missing = [n for n in KODAK_NAMES if not os.path.isfile(os.path.join(folder, n))]
  if missing:
    shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    raise DatasetError(f"the Kodak folder {folder} lacks {shown}; {_where_to_put(folder)}")
  paths = [os.path.join(folder, n) for n in KODAK_NAMES]
  for path in paths:
    _check_kodak_image(path, path)
  return paths


def _fetch(url, timeout):
  """The body at `url`; the whole request (name lookup included) ends within
  `timeout` seconds, so an unreachable network fails fast instead of hanging."""
  result = {}

  def work():
    try:
      with urllib.request.urlopen(url, timeout=timeout) as response:
        result["data"] = response.read()
    except Exception as e:  # reported to the caller below
      result["error"] = e

  thread = threading.Thread(target=work, daemon=True)
  thread.start()
  thread.join(timeout)
  if thread.is_alive():
    raise TimeoutError(f"no answer within {timeout:g} s")
  if "error" in result:
    raise result["error"]
  return result["data"]


def download_kodak(folder=None, timeout=30.0, base_url=None, progress=True):
  """Fetches the missing Kodak images into `folder` (default: the first candidate
  folder), verifies every one, and returns the folder. Files already there and
  valid are kept. Each file is written atomically, so an interrupted download
  leaves no partial image. Raises DatasetError when offline, saying where to
  put the files by hand."""
  folder = folder or kodak_candidates()[0]
  base_url = base_url or os.environ.get(URL_ENV) or KODAK_URL
  base_url = base_url if base_url.endswith("/") else base_url + "/"
  os.makedirs(folder, exist_ok=True)
  todo = []
  for name in KODAK_NAMES:
    path = os.path.join(folder, name)
    try:
      _check_kodak_image(path, path)
    except DatasetError:
      todo.append(name)
  for name in progress_bar(todo, progress and todo, desc="downloading Kodak", unit="img"):
    url = base_url + name
    try:
      data = _fetch(url, timeout)
    except (OSError, ValueError, http.client.HTTPException) as e:
      raise DatasetError(f"could not download {url} ({e}); without network access, "
                         f"{_where_to_put(folder, download=False)}") from None
    _check_kodak_image(data, url)
    image_io.atomic_write(os.path.join(folder, name), data)
  verify_kodak(folder)
  return folder


def list_images(folder, recursive=False):
  """Sorted paths of the images in `folder` (hidden files skipped; subfolders only
  when recursive). Raises DatasetError if the folder is missing or empty, or if
  any file is not an image Pillow can open (all such files are named)."""
  if not os.path.isdir(folder):
    raise DatasetError(f"dataset folder {folder!r} does not exist")
  paths = []
  for root, dirs, files in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
    paths += [os.path.join(root, f) for f in files if not f.startswith(".")]
  paths.sort(key=lambda p: os.path.relpath(p, folder))
  if not paths:
    subfolders = [d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))]
    hint = " (it has subfolders: use --recursive)" if subfolders and not recursive else ""
    raise DatasetError(f"no images in {folder!r}{hint}")
  bad = []
  for path in paths:
    try:
      with Image.open(path) as img:
        img.verify()  # format known; for PNG also every chunk's CRC (truncation)
    except (OSError, ValueError, Image.DecompressionBombError):
      bad.append(os.path.relpath(path, folder))
  if bad:
    shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    raise DatasetError(f"{len(bad)} file(s) in {folder!r} are not images Pillow can read: "
                       f"{shown}; move them out of the dataset folder")
  return paths
