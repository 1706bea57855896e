"""Progressive decoding, evaluated: what a stream gives when decoded group by group
(`Codec.decompress(groups=k)`), per image and averaged (eval.py --progressive)."""
import numpy as np

from lic_jax import bitstream


def curve(codec, image, data, distortion):
  """The progressive curve of one stream: for k = 0 (z alone) .. every channel group,
  the bytes of the file cut after group k, and the distortion of its decode (the
  groups not held filled with the entropy model's means), as `distortion(image,
  decoded)` scores it. [] for a model without channel groups."""
  layout = codec.layout
  if layout.units is None:
    return []
  names = list(bitstream.Stream.from_bytes(data).strings)
  rows = []
  for k in range(layout.groups + 1):
    size = bitstream.cut_length(data, layout.strings_through_group(names, k))
    rows.append({"groups": k, "bytes": size, "bpp": 8 * size / image[..., 0].size,
                 **distortion(image, codec.decompress(data, groups=k))})
  return rows


def average(rows):
  """The progressive curve averaged over images, group by group ([] if none)."""
  curves = [row["progressive"] for row in rows]
  if not curves or not curves[0]:
    return []
  return [{"groups": points[0]["groups"],
           **{key: float(np.mean([p[key] for p in points]))
              for key in ("bpp", "psnr-rgb", "ms-ssim-rgb")}}
          for points in zip(*curves)]
