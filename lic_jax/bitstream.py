"""The lic_jax file format: one compressed image, pure Python.

Layout (integers big-endian; every byte counts toward the rate, so it is small):

  magic        4 bytes  b"LICJ"
  version      1 byte   FORMAT_VERSION
  arch         1 byte length + ASCII name ("mlicpp", "bmshj2018-hyperprior", ...)
  model hash   1 byte length + bytes (a prefix of the sha256 of config and weights)
  coder        1 byte length + ASCII name of the entropy coder's format ("tfc": see
               `lic_jax.coder`; any implementation of it reads the stream)
  height - 1   2 bytes  } the original image size, 1..65536 each; the padded
  width - 1    2 bytes  } latent shapes follow from it
  gain         4 bytes  float32: the gain a variable-rate model coded at (format 5)
  strings      1 byte count, then per string: 1 byte length + ASCII stream name
               ("z", "y0", "y1", ...; format 4 leaves the name after "y0" empty when
               it is the next number: "y1"), its length as a varint (unsigned LEB128,
               shortest form), and its decoding check: a varint length + bytes
  header crc32 4 bytes  of the header before it (format 4)
  the strings, in that order (the coder's outputs)
  crc32        4 bytes  of everything before it

Format 5 is format 4 with the gain of a variable-rate model (`lic_jax.latent.
variable_rate`), which the decoder needs; streams of fixed-rate models are written
in format 4. Format 4 lays a stream out for prefixes: the strings follow the latent codec's coding
order, one per coded unit where the model has channel groups (z, then each group's
checkerboard halves), and the header carries its own CRC, so that a file cut anywhere
after the header still says what it holds: its complete strings, each verifiable by
its decoding check (`Stream.from_bytes(data, prefix=True)`).

The CRC makes any corruption (flipped bytes, truncation, a spliced file) an error
instead of a silently wrong image; the model hash and the coder's format make a stream
decoded with the wrong model or coder an error. Every malformed input raises
`BitstreamError`.

The decoding checks catch what the CRC cannot: a decoder whose entropy parameters
differ from the encoder's (another device or XLA build computing a scale a hair
differently), which decodes an intact file into a wrong image. Each holds check bytes
of what the encoder coded (`lic_jax.latent.checks.CodingCheck`: a running CRC32 of the
CDF indexes and symbols, a byte of it every so many symbols, and all of it at the
end); the decoder recomputes them as it goes and stops at the first difference with
`DecoderMismatchError`. Versions 1 (no coder field, exactly the strings z and y,
unnamed) and 2 (no checks) are still read, and decoded without checks; version 3 is
version 4 without the header CRC.

Over 250 lines: the writer and the reader of every version stay in one file, where
they can be checked against each other.
"""
import dataclasses
import math
import numbers
import struct
import zlib

from lic_jax.errors import BitstreamError, DecoderMismatchError  # noqa: F401 (re-exported)

MAGIC = b"LICJ"
FORMAT_VERSION = 4
VARIABLE_RATE_VERSION = 5  # format 4 and the gain
READ_VERSIONS = (1, 2, 3, 4, 5)
V1_CODER, V1_STRINGS = "tfc", ("z", "y")
MAX_SIDE = 1 << 16
# The header states the image size, up to MAX_SIDE squared, and a decoder allocates
# for it before the first symbol: like Pillow's decompression-bomb limit, decoders
# refuse larger images unless given a larger max_pixels. 2^26 is 8192x8192.
MAX_PIXELS = 1 << 26
MAX_NAME = 32
MAX_STRINGS = 64
_MAX_VARINT_BYTES = 5  # lengths below 2^35
_CRC = struct.Struct(">I")


def _check_name(value, what):
  if not (isinstance(value, str) and 0 < len(value) <= MAX_NAME
          and value.isascii() and value.isprintable()):
    raise BitstreamError(f"{what} must be 1..{MAX_NAME} printable ASCII characters, "
                         f"got {value!r}")


@dataclasses.dataclass(frozen=True)
class Stream:
  """A parsed stream. height and width are the original image's, before padding;
  strings maps each stream name to its coded bytes, in file order; checks, each
  string's decoding check (None: a version 1 or 2 stream, which has none); missing,
  the strings the header declares that a truncated file (a prefix) does not hold
  whole, in file order; gain, the gain a variable-rate model coded at (a float32
  value), or None."""
  arch: str
  model_hash: bytes
  height: int
  width: int
  strings: dict
  coder: str = V1_CODER
  checks: dict | None = None
  missing: tuple = ()
  gain: float | None = None

  def __post_init__(self):
    _check_name(self.arch, "arch")
    _check_name(self.coder, "coder")
    if not isinstance(self.model_hash, bytes) or len(self.model_hash) > MAX_NAME:
      raise BitstreamError(f"model_hash must be at most {MAX_NAME} bytes")
    for name in ("height", "width"):
      side = getattr(self, name)
      if (not isinstance(side, numbers.Integral) or isinstance(side, bool)
          or not 0 < side <= MAX_SIDE):
        raise BitstreamError(f"{name} must be in 1..{MAX_SIDE}, got {side!r}")
    if not isinstance(self.strings, dict) or len(self.strings) > MAX_STRINGS:
      raise BitstreamError(f"strings must be a dict of at most {MAX_STRINGS} named strings")
    for name, string in self.strings.items():
      _check_name(name, "a string's name")
      if not isinstance(string, bytes):
        raise BitstreamError(f"string {name!r} must be bytes")
    if self.gain is not None and not (isinstance(self.gain, numbers.Real)
                                      and math.isfinite(self.gain) and self.gain > 0):
      raise BitstreamError(f"the gain must be a finite number > 0, got {self.gain!r}")
    if self.checks is not None and (
        not isinstance(self.checks, dict) or list(self.checks) != list(self.strings)
        or not all(isinstance(c, bytes) for c in self.checks.values())):
      raise BitstreamError("checks must map every string's name, in order, to bytes")

  @property
  def version(self):
    """The format this stream is written in: 5 with a gain, else 4."""
    return FORMAT_VERSION if self.gain is None else VARIABLE_RATE_VERSION

  def header(self, version=None):
    """The bytes before the first string, in format `version`: the stream's own
    (`version`), or an earlier one that older lic_jax versions read (3: no header CRC;
    2: no decoding checks; 1: no coder name, and exactly the strings z and y,
    unnamed)."""
    version = self.version if version is None else version
    if version not in READ_VERSIONS:
      raise BitstreamError(f"format version {version} is not one of {READ_VERSIONS}")
    if (version == VARIABLE_RATE_VERSION) != (self.gain is not None):
      raise BitstreamError(f"format {VARIABLE_RATE_VERSION} and only it holds a gain "
                           f"(format {version}, gain {self.gain})")
    if self.missing:
      raise BitstreamError(f"a stream missing strings {self.missing} cannot be written")
    if version >= 3 and self.checks is None:
      raise BitstreamError(f"a stream of format {version} is written with its decoding "
                           "checks")
    if version < 4 and len(self.strings) > 16:
      raise BitstreamError(f"format {version} holds at most 16 strings")
    if version == 1 and (list(self.strings) != list(V1_STRINGS) or self.coder != V1_CODER):
      raise BitstreamError(f"format 1 holds exactly the strings {V1_STRINGS} of coder "
                           f"{V1_CODER!r}")
    fields = [MAGIC, bytes([version]), _short(self.arch.encode("ascii")), _short(self.model_hash)]
    if version >= 2:
      fields.append(_short(self.coder.encode("ascii")))
    fields.append(struct.pack(">HH", self.height - 1, self.width - 1))
    if self.gain is not None:
      fields.append(struct.pack(">f", self.gain))
    if version == 1:
      return b"".join(fields + [_varint(len(s)) for s in self.strings.values()])
    fields.append(bytes([len(self.strings)]))
    previous = None
    for name, string in self.strings.items():
      # Format 4 writes an empty name for the next of a numbered run (y0, y1, ...).
      implicit = version >= 4 and previous is not None and name == _next_name(previous)
      fields += [_short(b"" if implicit else name.encode("ascii")), _varint(len(string))]
      previous = name
      if version >= 3:
        fields += [_varint(len(self.checks[name])), self.checks[name]]
    header = b"".join(fields)
    return header + _CRC.pack(zlib.crc32(header)) if version >= 4 else header

  def to_bytes(self, version=None):
    """The whole stream, in format `version` (see `header`)."""
    body = self.header(version) + b"".join(self.strings.values())
    return body + _CRC.pack(zlib.crc32(body))

  @classmethod
  def from_bytes(cls, data, prefix=False):
    """Parses and checks a whole stream; raises BitstreamError if anything is off.

    prefix: a format-4 file that ends early (a partial download, a cut) is a Stream
    of the strings it holds whole, with `missing` naming the others; its header must
    be whole, and nothing but the decoding checks vouches for those strings."""
    stream, _, _ = _parse(data, prefix)
    return stream


def cut_length(data, count):
  """The bytes a file needs to hold its first `count` strings whole: the header and
  those strings, and the final CRC when that is every string."""
  stream, header_bytes, _ = _parse(data)
  sizes = [len(string) for string in stream.strings.values()]
  return header_bytes + sum(sizes[:count]) + (_CRC.size if count >= len(sizes) else 0)


def info(data, prefix=False):
  """A dict describing a stream, for `python -m lic_jax info` (prefix: see
  `Stream.from_bytes`)."""
  stream, header_bytes, version = _parse(data, prefix)
  return {
      "format_version": version,
      "arch": stream.arch,
      "model_hash": stream.model_hash.hex(),
      "coder": stream.coder,
      "height": stream.height,
      "width": stream.width,
      "gain": stream.gain,
      "header_bytes": header_bytes,
      "check_bytes": sum(map(len, (stream.checks or {}).values())),
      "string_bytes": {name: len(string) for name, string in stream.strings.items()},
      "missing_strings": list(stream.missing),
      "total_bytes": len(data),
      "bpp": 8 * len(data) / (stream.height * stream.width),
  }


def _ascii(field, what):
  try:
    return field.decode("ascii")
  except UnicodeDecodeError:
    raise BitstreamError(f"corrupt stream: the {what} is not ASCII") from None


def _next_name(name):
  """The name after `name` in a numbered run ("y3" -> "y4"), or None if it ends in no
  number."""
  digits = len(name) - len(name.rstrip("0123456789"))
  if not digits:
    return None
  return name[:-digits] + str(int(name[-digits:]) + 1)


def _short(field):
  """A field of at most 255 bytes, after its length byte."""
  return bytes([len(field)]) + field


def _varint(value):
  """Unsigned LEB128: 7 bits per byte, low bits first, high bit = more follows."""
  out = bytearray()
  while True:
    byte, value = value & 0x7F, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


class _Reader:
  """Reads fields from the front of `data`, raising BitstreamError past its end."""

  def __init__(self, data):
    self.data, self.pos = data, 0

  def take(self, n, what):
    if self.pos + n > len(self.data):
      raise BitstreamError(f"truncated stream: it ends inside the {what} "
                           f"(byte {len(self.data)} of at least {self.pos + n})")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def byte(self, what):
    return self.take(1, what)[0]

  def varint(self, what):
    value = 0
    for i in range(_MAX_VARINT_BYTES):
      byte = self.byte(what)
      value |= (byte & 0x7F) << (7 * i)
      if not byte & 0x80:
        if byte == 0 and i > 0:
          raise BitstreamError(f"corrupt stream: {what} is not in shortest form")
        return value
    raise BitstreamError(f"corrupt stream: {what} is longer than {_MAX_VARINT_BYTES} bytes")


def _parse(data, prefix=False):
  """(Stream, header length, format version) from bytes, with every check."""
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise BitstreamError(f"a stream is bytes, got {type(data).__name__}")
  data = bytes(data)
  if not data:
    raise BitstreamError("empty stream")
  if data[:len(MAGIC)] != MAGIC[:len(data)]:
    raise BitstreamError("not a lic_jax stream (wrong magic bytes)")
  reader = _Reader(data)
  reader.take(len(MAGIC), "magic bytes")
  version = reader.byte("format version")
  if version not in READ_VERSIONS:
    raise BitstreamError(f"unsupported format version {version}; this lic_jax reads "
                         f"versions {', '.join(map(str, READ_VERSIONS))} (a newer lic_jax "
                         "may read it)")
  arch = reader.take(reader.byte("arch length"), "arch name")
  model_hash = reader.take(reader.byte("model hash length"), "model hash")
  coder = reader.take(reader.byte("coder length"), "coder name") if version >= 2 else None
  height, width = struct.unpack(">HH", reader.take(4, "image size"))
  gain = None
  if version == VARIABLE_RATE_VERSION:
    (gain,) = struct.unpack(">f", reader.take(4, "gain"))
  checks = [] if version >= 3 else None
  if version >= 2:
    names, lengths = [], []
    for _ in range(reader.byte("string count")):
      name = reader.take(reader.byte("string name length"), "string name")
      if not name and version >= 4:
        if not names or _next_name(names[-1].decode("ascii", "replace")) is None:
          raise BitstreamError("corrupt stream: an unnamed string follows no numbered one")
        name = _next_name(names[-1].decode("ascii")).encode("ascii")
      names.append(name)
      lengths.append(reader.varint("string length"))
      if checks is not None:
        checks.append(reader.take(reader.varint("check length"), "decoding check"))
  else:
    names, lengths = [n.encode() for n in V1_STRINGS], [reader.varint(f"{n} length")
                                                         for n in V1_STRINGS]
  if version >= 4:  # (the header CRC also covers the gain)
    (header_crc,) = _CRC.unpack(reader.take(_CRC.size, "header checksum"))
    if zlib.crc32(data[:reader.pos - _CRC.size]) != header_crc:
      raise BitstreamError("corrupt stream: header checksum mismatch")
  header_length = reader.pos
  expected = header_length + sum(lengths) + _CRC.size
  whole = len(data) - _CRC.size
  if len(data) < expected and prefix and version >= 4:
    whole = len(data)  # a prefix: the strings it holds whole, no file CRC
  elif len(data) != expected:
    problem = "truncated" if len(data) < expected else "trailing bytes after the"
    raise BitstreamError(f"{problem} stream: {len(data)} bytes where the header "
                         f"declares {expected} (or the header is corrupt)")
  else:
    body, (crc,) = data[:-_CRC.size], _CRC.unpack(data[-_CRC.size:])
    if zlib.crc32(body) != crc:
      raise BitstreamError("corrupt stream: checksum mismatch")
  arch = _ascii(arch, "arch name")
  coder = _ascii(coder, "coder name") if coder is not None else V1_CODER
  names = [_ascii(name, "string name") for name in names]
  if len(set(names)) != len(names):
    raise BitstreamError("corrupt stream: two strings have the same name")
  strings, start = {}, header_length
  for name, length in zip(names, lengths):
    if start + length > whole:
      break
    strings[name] = data[start:start + length]
    start += length
  missing = tuple(names[len(strings):])
  checks = None if checks is None else dict(zip(names, checks[:len(strings)]))
  stream = Stream(arch, model_hash, height + 1, width + 1, strings, coder, checks, missing, gain)
  return stream, header_length, version
