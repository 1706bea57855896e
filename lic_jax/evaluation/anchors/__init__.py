"""Published rate-distortion points used as anchors (data files beside this module).

Each `<key>_kodak.json` holds one published curve with its source (repository,
path, commit) and CompressAI-style `results` lists: `bpp`, `psnr-rgb`, and
`ms-ssim-rgb` where the source has it. The keys of CompressAI's zoo curves are the
zoo's model names; the curves do not depend on which models lic_jax registers (a
registered model names its own with `ModelSpec.anchor`). VTM (intra) is the anchor
BD-rates are stated against unless another is chosen, as in the field's tables.
"""
import json
import os

FOLDER = os.path.dirname(os.path.abspath(__file__))
# Classic codecs as CompressAI ran them (results/image/kodak), standards first.
CLASSIC = ("vtm", "hm", "bpg", "av1", "jpeg2000", "webp", "jpeg")
# The state of the art lic_jax ports, from their authors.
PUBLISHED = ("mlicpp", "elic")
# CompressAI's pretrained zoo models, from CompressAI's results/image/kodak; the
# variable-rate ones (one model each, 16 rates) from its *-vbr-ans.json.
ZOO = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
       "cheng2020-anchor", "cheng2020-attn")
ZOO_VARIABLE_RATE = ("bmshj2018-hyperprior-vbr", "mbt2018-mean-vbr", "mbt2018-vbr")
NAMES = CLASSIC + PUBLISHED + ZOO + ZOO_VARIABLE_RATE
DEFAULT = "vtm"


def load(key, dataset="kodak"):
  """The anchor curve `key` (one of NAMES) as a dict (see the JSON files)."""
  if key not in NAMES:
    raise ValueError(f"unknown anchor {key!r}; choose one of {', '.join(NAMES)}")
  with open(os.path.join(FOLDER, f"{key}_{dataset}.json")) as f:
    return json.load(f)


def load_all(dataset="kodak"):
  """All anchor curves, in NAMES order."""
  return [load(key, dataset) for key in NAMES]
