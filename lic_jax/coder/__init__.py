"""The entropy-coder interface: integer symbols in, bytes out, with CDF tables.

A coder codes symbols with rows of a `lic_jax.entropy.tables.Tables`: symbol j with
row indexes[j]. It knows nothing of latents or coding order; the latent codecs
(`lic_jax.latent`) decide what is coded when, and call

    encoder = coder.encoder(tables); encoder.encode(symbols, indexes); encoder.finish()
    decoder = coder.decoder(data, tables); decoder.decode(indexes); decoder.finish()

with the same index arrays in the same order on both sides. `finish` of a decoder
raises `lic_jax.bitstream.BitstreamError` when the string did not end where the
symbols did. A coder has a `name`, which a stream records so that a decoder can
refuse a stream of another coder.

The one implementation is tensorflow-compression's range coder
(`lic_jax.coder.range_coder`, the only module that imports TensorFlow, on the first
symbol coded). TensorFlow is optional (the `coder` extra): without it, models load and
everything that does not code symbols works; coding raises `CoderUnavailableError`.
"""
from typing import Protocol

import numpy as np

DEFAULT = "tfc"


class SymbolEncoder(Protocol):
  def encode(self, symbols: np.ndarray, indexes: np.ndarray) -> None: ...
  def finish(self) -> bytes: ...


class SymbolDecoder(Protocol):
  def decode(self, indexes: np.ndarray) -> np.ndarray: ...
  def finish(self) -> None: ...


class Coder(Protocol):
  name: str
  def encoder(self, tables) -> SymbolEncoder: ...
  def decoder(self, data: bytes, tables) -> SymbolDecoder: ...


INSTALL_HINT = "pip install 'lic_jax[coder]'"


class CoderUnavailableError(RuntimeError):
  """The entropy coder's libraries (TensorFlow, tensorflow-compression-ops) are not
  installed, or do not import. The message, one line, says what to install."""


def get(name=DEFAULT):
  """The coder called `name` (the one a stream records).

  Imports nothing heavy: a codec holds its coder from the start, also where only the
  model is used, so a coder whose libraries are missing raises
  `CoderUnavailableError` when the first symbol is coded, not here."""
  if name == "tfc":
    from lic_jax.coder import range_coder
    return range_coder.RANGE_CODER
  raise ValueError(f"unknown entropy coder {name!r}; this lic_jax has {DEFAULT!r}")
