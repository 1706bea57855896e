"""The entropy-coder interface: integer symbols in, bytes out, with CDF tables.

A coder codes symbols with rows of a `lic_jax.entropy.cdf.CDFTables`: symbol j with
row indexes[j]. It knows nothing of latents or coding order; the latent codecs
(`lic_jax.latent`) decide what is coded when, and call

    encoder = coder.encoder(tables); encoder.encode(symbols, indexes); encoder.finish()
    decoder = coder.decoder(data, tables); decoder.decode(indexes); decoder.finish()

with the same index arrays in the same order on both sides. `finish` of a decoder
raises `lic_jax.errors.BitstreamError` when the string did not end where the
symbols did. A coder has a `format`, which a stream records, and a `name`, the
implementation; streams record the format only, so any implementation of it reads
them.

lic_jax has one format, "tfc": tensorflow-compression's range coder with lic_jax's
escape layout (`lic_jax.coder.range_coder`), and two implementations of it that
write the same bytes:

  numba  compiled with numba, a core dependency: every install codes (the default)
  tfc    tensorflow-compression's own op: the optional `coder` extra (TensorFlow 2.17,
         which pins JAX to 0.5.3)

as CompressAI's users choose with `available_entropy_coders()`: `available()` lists
what imports here, `get(name)` gives one, by default the fastest installed.
"""
import importlib.util
from typing import Protocol

import numpy as np

from lic_jax.errors import CoderUnavailableError  # noqa: F401 (re-exported)

# Implementations, fastest first: name -> (its ops module, the package it needs).
IMPLEMENTATIONS = {"numba": ("numba_ops", "numba"),
                   "tfc": ("tfc_ops", "tensorflow_compression_ops")}


class SymbolEncoder(Protocol):
  def encode(self, symbols: np.ndarray, indexes: np.ndarray) -> None: ...
  def finish(self) -> bytes: ...


class SymbolDecoder(Protocol):
  def decode(self, indexes: np.ndarray) -> np.ndarray: ...
  def finish(self) -> None: ...


class Coder(Protocol):
  format: str
  name: str
  def encoder(self, tables) -> SymbolEncoder: ...
  def decoder(self, data: bytes, tables) -> SymbolDecoder: ...


def available():
  """The names of the implementations whose libraries are installed, fastest first
  (what `get()` picks by default is the first)."""
  return [name for name, (_, package) in IMPLEMENTATIONS.items()
          if importlib.util.find_spec(package) is not None]


def get(name=None):
  """The coder implementation `name` ("numba" or "tfc"); None: the fastest installed.

  Imports nothing heavy: a codec holds its coder from the start, also where only the
  model is used, so a coder whose libraries are missing raises
  `CoderUnavailableError` when the first symbol is coded, not here."""
  from lic_jax.coder import range_coder
  if name is None:
    name = (available() or list(IMPLEMENTATIONS))[0]
  if name not in IMPLEMENTATIONS:
    raise ValueError(f"unknown entropy coder {name!r}; lic_jax has "
                     f"{', '.join(map(repr, IMPLEMENTATIONS))} (installed here: "
                     f"{', '.join(available()) or 'none'})")
  module, package = IMPLEMENTATIONS[name]
  return range_coder.RangeCoder(name, module, package)


def formats():
  """The stream formats this lic_jax reads and writes."""
  from lic_jax.coder import range_coder
  return (range_coder.FORMAT,)
