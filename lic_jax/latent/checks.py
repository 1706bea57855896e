"""The decoding checks that travel with each coded string: what the encoder coded,
as check bytes the decoder recomputes as it goes (`CodingCheck`), and the error for
a check that fails.

They catch what a file's CRC cannot: a decoder whose entropy parameters differ from
the encoder's (another device or XLA build computing a scale a hair differently),
which would decode an intact file into a wrong image.
"""
import zlib

import numpy as np

from lic_jax.errors import BitstreamError, DecoderMismatchError


class CodingCheck:
  """What one stream coded, as check bytes: a running CRC32 of every call's CDF
  indexes and then its symbols (int32, little-endian, in coding order), its low
  byte after each call that completes another INTERVAL symbols, and the whole CRC
  (4 bytes) at the end. A 768x512 MLIC++ image carries about 40 bytes of it.

  The decoder recomputes it from its own indexes and decoded symbols: if its
  entropy parameters differ from the encoder's, a differing index (or the garbage
  the range decoder then returns) changes the CRC, and the first byte after it
  tells, with probability 255/256, and every later one again.
  """
  INTERVAL = 16384

  def __init__(self, expected=None):
    self.crc, self.symbols, self.pending, self.marks = 0, 0, 0, bytearray()
    self.expected = expected

  def update(self, indexes, symbols):
    """Adds one call's indexes and symbols; returns the check byte that is due after
    it, or None."""
    for array in (indexes, symbols):
      self.crc = zlib.crc32(np.ascontiguousarray(array, "<i4").tobytes(), self.crc)
    self.symbols += symbols.size
    self.pending += symbols.size
    if self.pending < self.INTERVAL:
      return None
    self.pending = 0
    self.marks.append(self.crc & 0xFF)
    return self.marks[-1]

  def digest(self):
    return bytes(self.marks) + self.crc.to_bytes(4, "big")

  def verify(self, name, final=False, intact=True):
    """Raises DecoderMismatchError unless what is decoded so far (or, final, all of
    it) checks against the encoder's bytes (`mismatch_error`)."""
    done = self.digest() if final else bytes(self.marks)
    expected = self.expected if final else self.expected[:len(self.marks)]
    if done != expected:
      raise mismatch_error(name, f"after {self.symbols} symbols, "
                           + ("at the end of the stream" if final else
                              f"at check {len(self.marks)} of {len(self.expected) - 4}"),
                           intact)


def mismatch_error(name, where, intact=True):
  """The error for a decoding check that fails: a mismatching decoder if the file
  passed its checksum (`intact`), else (a prefix of a file, which has none) a corrupt
  file or a mismatching decoder."""
  if not intact:
    return BitstreamError(
        f"the decoding check of string {name!r} failed ({where}): this part of the file "
        "is corrupt, or this machine computes the model's entropy parameters "
        "differently from the encoder's (a file cut short has no checksum to tell "
        "which). Nothing was written.")
  return DecoderMismatchError(
      f"this decoder's entropy parameters differ from the encoder's (stream {name!r}, "
      f"{where}). The file itself is intact (its checksum is valid); this machine "
      "computes the model's scales or means differently from the one that encoded it, "
      "which usually means another device (GPU vs CPU), JAX/XLA version or CPU, or "
      "weights that differ though the model hash matches. Decode it with the same "
      "lic_jax, JAX and model files on the kind of machine that encoded it, or encode "
      "the image again here. Nothing was written.")
