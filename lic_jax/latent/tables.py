"""Stream tables: what each stream of a model is coded with (its CDF tables, and for
Gaussian streams the scale table that maps a scale to a CDF row), computed from the
latent codecs and weights, stored in a model directory as flat *table arrays*.

A model directory stores, per stream name, `<name>_quantized_cdf`, `<name>_cdf_length`,
`<name>_offset` and, for Gaussian streams, `<name>_scale_table`.
"""
import dataclasses

import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import gaussian
from lic_jax.entropy.cdf import CDFTables, gaussian_tables


@dataclasses.dataclass(frozen=True)
class StreamTables:
  """The CDF tables of one stream, and for Gaussian streams the scale table."""
  cdf: CDFTables
  scale_table: np.ndarray | None = None


def gaussian_stream_tables():
  """The tables of a Gaussian stream: compressai's 64-scale table."""
  scale_table = gaussian.default_scale_table()
  return StreamTables(gaussian_tables(scale_table), scale_table)


def to_arrays(stream_tables):
  """{name: StreamTables} -> the table arrays a model directory stores."""
  arrays = {}
  for name, table in stream_tables.items():
    arrays.update({f"{name}_quantized_cdf": table.cdf.quantized_cdf,
                   f"{name}_cdf_length": table.cdf.cdf_length, f"{name}_offset": table.cdf.offset})
    if table.scale_table is not None:
      arrays[f"{name}_scale_table"] = table.scale_table
  return arrays


def model_table_arrays(model, params):
  """The table arrays of a model (`model`: anything with a `latent_codec`, such as
  the Flax module), computed from its latent codec and weights (compressai's
  update()): one set per stream the model codes."""
  return to_arrays(model.latent_codec.stream_tables(params))


def from_arrays(arrays):
  """Inverse of `to_arrays`: {name: StreamTables} of every stream in `arrays`, the
  scale tables as float32 device arrays (the encoder and decoder index with them)."""
  names = [k[:-len("_quantized_cdf")] for k in arrays if k.endswith("_quantized_cdf")]
  out = {}
  for name in names:
    try:
      tables = CDFTables(*(np.asarray(arrays[f"{name}_{k}"])
                           for k in ("quantized_cdf", "cdf_length", "offset")))
    except KeyError as e:
      raise ValueError(f"the model has no CDF tables for stream {name!r}: {e} missing") from None
    scale_table = arrays.get(f"{name}_scale_table")
    out[name] = StreamTables(
        tables, None if scale_table is None else jnp.asarray(scale_table, jnp.float32))
  return out
