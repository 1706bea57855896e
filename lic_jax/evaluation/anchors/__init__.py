"""Published rate-distortion points used as anchors (data files beside this module).

Each `<key>_kodak.json` holds one published curve with its source (repository,
path, commit) and CompressAI-style `results` lists: `bpp`, `psnr-rgb`, and
`ms-ssim-rgb` where the source has it.
"""
import json
import os

FOLDER = os.path.dirname(os.path.abspath(__file__))
NAMES = ("mlicpp", "elic")


def load(key, dataset="kodak"):
  """The anchor curve `key` ("mlicpp" or "elic") as a dict (see the JSON files)."""
  if key not in NAMES:
    raise ValueError(f"unknown anchor {key!r}; choose one of {', '.join(NAMES)}")
  with open(os.path.join(FOLDER, f"{key}_{dataset}.json")) as f:
    return json.load(f)


def load_all(dataset="kodak"):
  """All anchor curves, in NAMES order."""
  return [load(key, dataset) for key in NAMES]
