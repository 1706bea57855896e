"""Coding a latent codec's symbols: the Encode and Decode modes, and the decoding
checks that travel with each stream.

  Encode  codes the symbols with a coder            -> (y_hat, None)
  Decode  decodes them (the latent is only a shape) -> (y_hat, None)

Both are called by the latent codecs exactly as `lic_jax.latent.base.Likelihoods`
is, so training, evaluation, compress and decompress share one parameter
computation and one coding order. They call small jitted functions of fixed shapes,
so both sides run the same compiled programs and the encoder's y_hat is the
decoder's to the bit. Each keeps one coder string per stream name, in the order of
first use, and a `CodingCheck` per stream, which Decode verifies as it goes.

Prefix units: for the stream a model names (`LatentCodec.prefix_units`: y of a model
with channel groups), every call is a string of its own, `y0`, `y1`, ... in coding
order (a group's checkerboard halves, group by group), so that the strings up to any
unit decode without the rest. Decode, given only a prefix of those strings, fills
each unit it does not have with what the entropy model predicts there (the
distribution's means, given the hyperprior and what was decoded before), and the
latent codec goes on computing the next units' parameters from them as usual.
"""
import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.errors import BitstreamError, DecoderMismatchError
from lic_jax.latent.base import ALL


@functools.partial(jax.jit, static_argnames="positions")
def _encode_parts(y, dist, scale_table, positions):
  """(symbols, CDF indexes) of `positions` in coding order, and the decoder's y_hat."""
  center = positions.squeeze(jnp.broadcast_to(dist.center(), y.shape))
  # Half to even, like torch.round in compressai.
  symbols = jnp.round(positions.squeeze(y) - center).astype(jnp.int32)
  indexes = positions.squeeze(dist.indexes(scale_table, y.shape))
  return symbols, indexes, positions.unsqueeze(symbols.astype(center.dtype) + center)


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _decode_indexes(dist, scale_table, positions, shape):
  return positions.squeeze(dist.indexes(scale_table, shape))


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _dequantize(symbols, dist, positions, shape):
  center = positions.squeeze(jnp.broadcast_to(dist.center(), shape))
  return positions.unsqueeze(symbols.astype(center.dtype) + center)


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _predicted(dist, positions, shape):
  """The distribution's centre (its means) at `positions`, zero elsewhere: what a
  unit that is not decoded is filled with."""
  return positions.mask(jnp.broadcast_to(dist.center(), shape))


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


def _next_string(name, units, calls):
  """The string that the next call of stream `name` codes to: `name`, or for the
  prefix units' stream `<name><k>` for its k-th call (counted in `calls`)."""
  return name if name != units else f"{name}{calls.get(name, 0)}"


def _string_name(name, units, calls):
  """`_next_string`, counting the call."""
  string = _next_string(name, units, calls)
  if name == units:
    calls[name] = calls.get(name, 0) + 1
  return string


class Encode:
  """Codes every call's symbols into one string per stream name (per call for the
  stream `units`), and its check."""

  def __init__(self, coder, stream_tables, units=None):
    self.coder, self.tables, self.units = coder, stream_tables, units
    self.encoders, self.coding_checks, self.calls = {}, {}, {}

  def __call__(self, name, y, dist, positions=ALL):
    table = self.tables[name]
    symbols, indexes, y_hat = _encode_parts(y, dist, table.scale_table, positions)
    string = _string_name(name, self.units, self.calls)
    if string not in self.encoders:
      self.encoders[string] = self.coder.encoder(table.cdf)
      self.coding_checks[string] = CodingCheck()
    symbols, indexes = np.asarray(symbols), np.asarray(indexes)
    self.encoders[string].encode(symbols, indexes)
    self.coding_checks[string].update(indexes, symbols)
    return y_hat, None

  def strings(self):
    """{stream name: coded string}, in the order the streams were first used."""
    return {name: encoder.finish() for name, encoder in self.encoders.items()}

  def checks(self):
    """{stream name: its CodingCheck bytes}, in the same order."""
    return {name: check.digest() for name, check in self.coding_checks.items()}


class Decode:
  """Decodes what `Encode` coded, given its strings by name (and their checks,
  verified as decoding goes; None for streams of format 1 or 2); the latents it is
  handed are shapes (ShapeDtypeStructs).

  units: as Encode's. prefix: `strings` holds only the first prefix units (a file
  cut short, or fewer groups asked for): a unit without its string is filled with
  the distribution's means (fill "means") or zeros ("zeros"), and `filled` counts
  them. intact: whether the file passed its checksum (see `mismatch_error`).
  coarse: > 1 for a preview: the units not decoded are predicted by the latent codecs
  themselves (`predicts`), on a grid `coarse` times coarser (ChannelGroups) and in
  one pass (Checkerboard), instead of being filled here at full resolution.
  """

  def __init__(self, coder, stream_tables, strings, checks=None, units=None, prefix=False,
               fill="means", intact=True, coarse=1):
    if fill not in ("means", "zeros"):
      raise ValueError(f"fill must be 'means' or 'zeros', not {fill!r}")
    self.coder, self.tables, self.units = coder, stream_tables, units
    self.strings, self.checks = dict(strings), checks
    self.prefix, self.fill, self.intact, self.coarse = prefix, fill, intact, coarse
    self.decoders, self.coding_checks, self.calls, self.filled = {}, {}, {}, 0

  def predicts(self, name):
    """Whether the next unit of stream `name` is not in the strings and so, in a
    preview (coarse > 1), predicted by the latent codec instead of decoded."""
    return (self.coarse > 1 and self.prefix and name == self.units
            and _next_string(name, self.units, self.calls) not in self.strings)

  def __call__(self, name, y, dist, positions=ALL):
    table = self.tables[name]
    string = _string_name(name, self.units, self.calls)
    shape = tuple(y.shape)
    if string not in self.decoders:
      if string not in self.strings:
        if self.prefix and name == self.units:
          self.filled += 1
          return (_predicted(dist, positions, shape) if self.fill == "means"
                  else jnp.zeros(shape, y.dtype)), None
        raise BitstreamError(f"the stream has no string {string!r}, which the model codes "
                             f"(it has {', '.join(self.strings) or 'none'})")
      self.decoders[string] = self.coder.decoder(self.strings[string], table.cdf)
      if self.checks is not None:
        self.coding_checks[string] = CodingCheck(self.checks[string])
    indexes = np.asarray(_decode_indexes(dist, table.scale_table, positions, shape))
    check = self.coding_checks.get(string)
    try:
      symbols = self.decoders[string].decode(indexes)
    except BitstreamError as e:
      if check is None:
        raise
      # The file passed its checksum, so a range decoder that fails here was most
      # likely handed other CDF indexes than the encoder used.
      raise mismatch_error(string, f"the range decoder failed after {check.symbols} "
                           f"symbols: {e}", self.intact) from e
    if check is not None and check.update(indexes, symbols) is not None:
      check.verify(string, intact=self.intact)
    return _dequantize(jnp.asarray(symbols), dist, positions, shape), None

  def finish(self):
    """Checks that every string was used, decoded as it was coded and ended where
    its symbols did."""
    unused = [name for name in self.strings if name not in self.decoders]
    if unused:
      raise BitstreamError(f"the stream has strings the model does not code: {unused}")
    for name, check in self.coding_checks.items():
      check.verify(name, final=True, intact=self.intact)
    for decoder in self.decoders.values():
      decoder.finish()


def prefix_plan(names, complete, units, groups, wanted=None):
  """Which strings of a stream to decode, for the prefix units `units` of a latent
  codec with `groups` channel groups.

  names: every string the stream declares, in file order; complete: those it holds
  whole; wanted: how many groups to decode (None: all it holds). Returns (the
  strings to decode, units decoded, units in the stream, units per group). Raises
  BitstreamError if a string other than a unit is missing or the units do not
  make up the groups."""
  unit_names = [f"{units}{k}" for k in range(len(names))]
  declared = [n for n in names if n in unit_names]
  if declared != unit_names[:len(declared)] or not declared or len(declared) % groups:
    raise BitstreamError(f"the stream's strings {names} are not the {groups} channel "
                         f"groups' units {units}0, {units}1, ... of this model")
  per_group = len(declared) // groups
  missing = [n for n in names if n not in complete]
  if any(n not in declared for n in missing):
    raise BitstreamError(f"the file ends before its strings {missing} (a part of a "
                         f"stream decodes only once it holds every string before {units}0)")
  count = len(declared) - len(missing)
  if wanted is not None:
    count = min(count, wanted * per_group)
  skipped = set(declared[count:])
  return [n for n in names if n in complete and n not in skipped], count, len(declared), per_group
