"""Coding modes: what a latent codec does with a latent and its distribution.

Every latent codec computes a latent's entropy parameters once and calls its mode,
the same way under every mode:

    y_hat, likelihoods = mode(stream, y, distribution, positions)

  Likelihoods    rounding (evaluation) or noise (training)   -> (y_hat, likelihoods)
  Encode         codes the symbols with a coder               -> (y_hat, None)
  Decode         decodes them (y is only a shape)             -> (y_hat, None)
  PartialDecode  Decode of a part of a stream: the units it lacks are filled with
                 the distribution's means (its prediction)
  Preview        PartialDecode whose missing units the latent codecs predict
                 themselves, on a coarser grid (`predicts`, `preview_scale`)

So training, evaluation, compress and decompress share one parameter computation
and one coding order. Encode and Decode call small jitted functions of fixed shapes,
so both sides run the same compiled programs and the encoder's y_hat is the
decoder's to the bit. They keep one coder string per name that the stream layout
(`lic_jax.latent.layout`) gives each call, and a decoding check per string
(`lic_jax.latent.checks`), which Decode verifies as it goes.

Over 250 lines: the modes implement one protocol and share its jitted helpers (the
same compiled programs on the encoder's and the decoder's side), read together.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.errors import BitstreamError
from lic_jax.latent.base import ALL
from lic_jax.latent.checks import CodingCheck, mismatch_error
from lic_jax.ops import ste_round


class CodingMode:
  """The protocol of every mode (defaults for the plain ones).

  codes_symbols: False for the likelihood path, which takes the whole latent at
    once; True for the modes that code positions in order, one call after another.
  preview_scale: how much coarser a preview's predicted units are (1: no preview).
  """
  codes_symbols = True
  preview_scale = 1

  def __call__(self, name, y, dist, positions=ALL):
    """(y_hat at `positions`, zero elsewhere; the likelihoods of every position of y
    under `dist` (of which the caller keeps those of `positions`), or None)."""
    raise NotImplementedError

  def predicts(self, name):
    """Whether the next unit of stream `name` is not decoded but predicted by the
    latent codec itself (a preview's units after the decoded ones)."""
    del name
    return False


class Likelihoods(CodingMode):
  """The likelihood path. Evaluation (rng None): y_hat = round(y - center) + center.
  Training: likelihoods of y + uniform noise, and y_hat by straight-through
  rounding (quant "ste") or the same noisy y (quant "noise", compressai's mode)."""
  codes_symbols = False

  def __init__(self, rng=None, quant="ste"):
    if quant not in ("ste", "noise"):
      raise ValueError(f"quant must be 'ste' or 'noise', not {quant!r}")
    self.rng, self.quant = rng, quant

  def quantize(self, y):
    """y quantized without a distribution's centre (what compressai's autoregressive
    models feed their context model): round(y) in evaluation; in training the noisy
    y (quant "noise") or round(y) with a straight-through gradient."""
    if self.rng is None:
      return jnp.round(y)
    if self.quant == "noise":
      return y + self._noise(y)
    return ste_round(y)

  def _noise(self, y):
    self.rng, key = jax.random.split(self.rng)
    return jax.random.uniform(key, y.shape, y.dtype, -0.5, 0.5)

  def __call__(self, name, y, dist, positions=ALL):
    residual = dist.residual(y)
    if self.rng is None:
      # Decode's own program turns the symbols into y_hat: XLA may fuse a distribution's
      # multiply-add (a variable-rate gain) differently elsewhere, and the decoded image
      # must be forward's to the bit.
      symbols = jnp.round(residual)
      integers = positions.squeeze(symbols).astype(jnp.int32)
      return _dequantize(integers, dist, positions, tuple(y.shape)), dist.symbol_likelihood(
          symbols)
    noisy = residual + self._noise(residual)
    y_hat = dist.dequantize(noisy if self.quant == "noise" else ste_round(residual))
    return positions.mask(y_hat), dist.symbol_likelihood(noisy)


def _at_positions(values, positions):
  """`values` at `positions` (the rest exactly zero)."""
  return positions.unsqueeze(positions.squeeze(values))


@functools.partial(jax.jit, static_argnames="positions")
def symbols_and_indexes(y, dist, scale_table, positions=ALL):
  """(symbols, CDF indexes) of `positions` in coding order, and the decoder's y_hat:
  what Encode hands the coder (recorders and tests compute it the same way)."""
  # Half to even, like torch.round in compressai.
  symbols = jnp.round(dist.residual(y))
  indexes = positions.squeeze(dist.indexes(scale_table, y.shape))
  y_hat = _at_positions(dist.dequantize(symbols), positions)
  return positions.squeeze(symbols).astype(jnp.int32), indexes, y_hat


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _decode_indexes(dist, scale_table, positions, shape):
  return positions.squeeze(dist.indexes(scale_table, shape))


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _dequantize(symbols, dist, positions, shape):
  symbols = positions.unsqueeze(symbols.astype(jnp.float32))
  return _at_positions(dist.dequantize(symbols), positions)


@functools.partial(jax.jit, static_argnames=("positions", "shape"))
def _predicted(dist, positions, shape):
  """The distribution's centre (its means) at `positions`, zero elsewhere: what a
  unit that is not decoded is filled with."""
  return positions.mask(jnp.broadcast_to(dist.center(), shape))


class _Strings:
  """Counts the calls of each stream, to name the string each call codes to."""

  def __init__(self, layout):
    self.layout, self.calls = layout, {}

  def peek(self, name):
    return self.layout.string_name(name, self.calls.get(name, 0))

  def next(self, name):
    string = self.peek(name)
    self.calls[name] = self.calls.get(name, 0) + 1
    return string


class Encode(CodingMode):
  """Codes every call's symbols into the string the layout names, and its check."""

  def __init__(self, coder, stream_tables, layout):
    self.coder, self.tables, self._strings = coder, stream_tables, _Strings(layout)
    self.encoders, self.coding_checks, self._finished = {}, {}, None

  def __call__(self, name, y, dist, positions=ALL):
    if self._finished is not None:
      raise RuntimeError("this Encode's strings are finished: code another image with a new one")
    table = dist.coding_tables(self.tables[name])
    symbols, indexes, y_hat = symbols_and_indexes(y, dist, table.scale_table, positions)
    string = self._strings.next(name)
    if string not in self.encoders:
      self.encoders[string] = self.coder.encoder(table.cdf)
      self.coding_checks[string] = CodingCheck()
    symbols, indexes = np.asarray(symbols), np.asarray(indexes)
    self.encoders[string].encode(symbols, indexes)
    self.coding_checks[string].update(indexes, symbols)
    return y_hat, None

  def strings(self):
    """{string name: coded bytes}, in the order the strings were first used. The
    first call finishes the coders (nothing more can be coded); later ones return
    the same bytes."""
    if self._finished is None:
      self._finished = {name: encoder.finish() for name, encoder in self.encoders.items()}
    return dict(self._finished)

  def checks(self):
    """{string name: its CodingCheck bytes}, in the same order."""
    return {name: check.digest() for name, check in self.coding_checks.items()}


class Decode(CodingMode):
  """Decodes what `Encode` coded, given every string by name (and their checks,
  verified as decoding goes; None for streams of format 1 or 2); the latents it is
  handed are shapes (ShapeDtypeStructs). intact: whether the file passed its
  checksum (see `checks.mismatch_error`)."""

  def __init__(self, coder, stream_tables, layout, strings, checks=None, intact=True):
    self.coder, self.tables, self._strings = coder, stream_tables, _Strings(layout)
    self.strings, self.checks, self.intact = dict(strings), checks, intact
    self.decoders, self.coding_checks = {}, {}

  def _missing(self, name, dist, positions, shape):
    """y_hat of a call whose string the stream lacks: here an error."""
    raise BitstreamError(f"the stream has no string {self._strings.peek(name)!r}, which the "
                         f"model codes (it has {', '.join(self.strings) or 'none'})")

  def __call__(self, name, y, dist, positions=ALL):
    shape = tuple(y.shape)
    if self._strings.peek(name) not in self.strings:
      y_hat = self._missing(name, dist, positions, shape)
      self._strings.next(name)
      return y_hat, None
    table = dist.coding_tables(self.tables[name])
    string = self._strings.next(name)
    if string not in self.decoders:
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


class PartialDecode(Decode):
  """Decodes a part of a stream laid out in units (`StreamLayout.plan`): `strings`
  holds only the first units of the layout's stream. A unit without its string is
  filled with the distribution's means (fill "means": what the entropy model
  predicts there, given the hyperprior and what was decoded before) or zeros, and
  the latent codec goes on from it as usual; `filled` counts them."""

  def __init__(self, coder, stream_tables, layout, strings, checks=None, intact=True,
               fill="means"):
    if fill not in ("means", "zeros"):
      raise ValueError(f"fill must be 'means' or 'zeros', not {fill!r}")
    super().__init__(coder, stream_tables, layout, strings, checks, intact)
    self.layout, self.fill, self.filled = layout, fill, 0

  def _missing(self, name, dist, positions, shape):
    if name != self.layout.units:
      return super()._missing(name, dist, positions, shape)
    self.filled += 1
    if self.fill == "means":
      return _predicted(dist, positions, shape)
    return jnp.zeros(shape, jnp.float32)


class Preview(PartialDecode):
  """A part of a stream for a quick, coarse picture: the units it lacks are predicted
  by the latent codecs themselves (`predicts`) on a grid `scale` times coarser
  (ChannelGroups averages the context there; Checkerboard predicts a group in one
  pass), instead of being filled at full resolution."""

  def __init__(self, coder, stream_tables, layout, strings, checks=None, intact=True,
               scale=4):
    super().__init__(coder, stream_tables, layout, strings, checks, intact)
    self.preview_scale = scale

  def predicts(self, name):
    return name == self.layout.units and self._strings.peek(name) not in self.strings
