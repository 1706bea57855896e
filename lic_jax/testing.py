"""Checking lic_jax's coding against CompressAI's recorded coding: what the parity
tests (tests/) and the held-back comparisons (bench/) share.

CompressAI records, per stream, the symbols and CDF indexes it coded and its string
sizes; lic_jax's encoder is compared with them through `Recorder`, a coding mode
that runs another (Encode) and keeps what each call hands the coder, with near-ties
told apart (`tie_distances`: float32 results a hair from a rounding or table boundary
may fall either way on another machine), and with the two coders' different escape
payloads accounted for (`escape_payload_bytes`).
"""
import collections

import jax.numpy as jnp
import numpy as np

from lic_jax.latent import ALL, CodingMode
from lic_jax.latent.modes import symbols_and_indexes

# One call of a coding mode: the stream, the latent and its distribution, the
# positions coded; what the coder is handed (symbols, CDF indexes, in coding order);
# and the near-tie distances of each (`tie_distances`), at those positions, NHWC.
RecordedCall = collections.namedtuple(
    "RecordedCall", "stream y dist positions symbols indexes symbol_tie scale_tie")


class Recorder(CodingMode):
  """A coding mode that runs `mode` and records every call (`calls`, RecordedCall
  each) and `bits`, the ideal code length of the coded symbols under the
  distributions they were coded with."""

  def __init__(self, mode, stream_tables):
    self.mode, self.tables, self.calls, self.bits = mode, stream_tables, [], 0.0
    self.codes_symbols, self.preview_scale = mode.codes_symbols, mode.preview_scale

  def predicts(self, name):
    return self.mode.predicts(name)

  def __call__(self, name, y, dist, positions=ALL):
    y_hat, likelihoods = self.mode(name, y, dist, positions)
    scale_table = self.tables[name].scale_table
    symbols, indexes, _ = symbols_and_indexes(y, dist, scale_table, positions)
    ties = [np.asarray(positions.squeeze(t.transpose(0, 2, 3, 1)))
            for t in tie_distances(y, dist, scale_table)]
    self.calls.append(RecordedCall(name, y, dist, positions, np.asarray(symbols),
                                   np.asarray(indexes), *ties))
    coded = positions.squeeze(dist.symbol_likelihood(jnp.round(dist.residual(y))))
    coded = np.asarray(coded, np.float64)
    self.bits -= np.sum(np.log2(coded))
    return y_hat, likelihoods

  def by_stream(self):
    """{stream: its one call} (models that code each stream in one call)."""
    return {call.stream: call for call in self.calls}


def tie_distances(y, dist, scale_table):
  """(distance of the residual that is rounded to the symbol (y - center; a
  variable-rate model's (y - center) times the gain) to a half-integer, relative
  distance of the scale that picks the table (times the gain) to a scale-table
  entry, or inf for factorized streams), NCHW."""
  residual = np.asarray(jnp.broadcast_to(dist.residual(y), y.shape), np.float64)
  symbol_tie = np.abs(np.abs(residual - np.round(residual)) - 0.5)
  if scale_table is None:
    return symbol_tie.transpose(0, 3, 1, 2), np.full(symbol_tie.shape, np.inf)
  scales = np.asarray(dist.scales * getattr(dist, "gain", 1.0), np.float64)
  scales = np.maximum(scales, scale_table[0])
  table = np.asarray(scale_table, np.float64)
  scale_tie = np.min(np.abs(scales[..., None] / table - 1), axis=-1)
  return symbol_tie.transpose(0, 3, 1, 2), scale_tie.transpose(0, 3, 1, 2)


def raster_grid(flat, height, width):
  """CompressAI's autoregressive coding order (positions in raster order, all
  channels of a position together) -> (height, width, M)."""
  return np.asarray(flat).reshape(height, width, -1)


def escape_payload_bytes(symbols, indexes, table):
  """(CompressAI's, lic_jax's) bytes for the values of escaped symbols, which the
  two coders write differently after the escape bin (which both code alike).

  CompressAI (rans_interface.cpp): raw = -2v - 1 (v < 0) or 2(v - escape bin), in
  n 4-bit bypass chunks, n itself in 4-bit chunks (15 = "and more"). lic_jax
  (`lic_jax.coder.range_coder`): the bit length n of g with probability ~2^-(n+1),
  its n bits below the leading one, and a sign bit: about 2n + 2 bits.
  """
  indexes = np.asarray(indexes).ravel()
  values = np.asarray(symbols, np.int64).ravel() - table.offset[indexes]
  escape = table.cdf_length[indexes] - 2
  escaped = (values < 0) | (values >= escape)
  v, e = values[escaped], escape[escaped]
  raw = np.where(v < 0, -2 * v - 1, 2 * (v - e))
  chunks = np.array([next(n for n in range(17) if r >> (4 * n) == 0) for r in raw], np.int64)
  theirs = np.sum(4 * (chunks // 15 + 1 + chunks))
  g = np.where(v < 0, -v, v - e + 1)
  bit_length = np.frexp(g.astype(np.float64))[1].astype(np.int64) - 1
  return theirs / 8, np.sum(2 * bit_length + 2) / 8
