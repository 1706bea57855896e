"""The lic_jax file format: one compressed image, pure Python.

Layout (integers big-endian; every byte counts toward the rate, so it is small):

  magic        4 bytes  b"LICJ"
  version      1 byte   FORMAT_VERSION
  arch         1 byte length + ASCII name ("mlicpp", "elic", ...)
  model hash   1 byte length + bytes (a prefix of the sha256 of config and weights)
  height - 1   2 bytes  } the original image size, 1..65536 each; the padded
  width - 1    2 bytes  } latent shapes follow from it
  z length     varint   } unsigned LEB128, shortest form
  y length     varint   }
  z string, y string    the range coder's outputs
  crc32        4 bytes  of everything before it

The CRC makes any corruption (flipped bytes, truncation, a spliced file) an error
instead of a silently wrong image; the model hash makes a stream decoded with the
wrong model an error. Every malformed input raises `BitstreamError`.
"""
import dataclasses
import numbers
import struct
import zlib

MAGIC = b"LICJ"
FORMAT_VERSION = 1
MAX_SIDE = 1 << 16
# The header states the image size, up to MAX_SIDE squared, and a decoder allocates
# for it before the first symbol: like Pillow's decompression-bomb limit, decoders
# refuse larger images unless given a larger max_pixels. 2^26 is 8192x8192.
MAX_PIXELS = 1 << 26
MAX_NAME = 32
_MAX_VARINT_BYTES = 5  # lengths below 2^35
_CRC = struct.Struct(">I")


class BitstreamError(ValueError):
  """A stream that is not a valid lic_jax stream (or not one for this model)."""


@dataclasses.dataclass(frozen=True)
class Stream:
  """A parsed stream. height and width are the original image's, before padding."""
  arch: str
  model_hash: bytes
  height: int
  width: int
  z_string: bytes
  y_string: bytes

  def __post_init__(self):
    if not (isinstance(self.arch, str) and 0 < len(self.arch) <= MAX_NAME
            and self.arch.isascii() and self.arch.isprintable()):
      raise BitstreamError(f"arch must be 1..{MAX_NAME} printable ASCII characters, "
                           f"got {self.arch!r}")
    if not isinstance(self.model_hash, bytes) or len(self.model_hash) > MAX_NAME:
      raise BitstreamError(f"model_hash must be at most {MAX_NAME} bytes")
    for name in ("height", "width"):
      side = getattr(self, name)
      if (not isinstance(side, numbers.Integral) or isinstance(side, bool)
          or not 0 < side <= MAX_SIDE):
        raise BitstreamError(f"{name} must be in 1..{MAX_SIDE}, got {side!r}")
    for name in ("z_string", "y_string"):
      if not isinstance(getattr(self, name), bytes):
        raise BitstreamError(f"{name} must be bytes")

  def header(self):
    """The bytes before the z string."""
    arch = self.arch.encode("ascii")
    return b"".join([
        MAGIC, bytes([FORMAT_VERSION, len(arch)]), arch,
        bytes([len(self.model_hash)]), self.model_hash,
        struct.pack(">HH", self.height - 1, self.width - 1),
        _varint(len(self.z_string)), _varint(len(self.y_string))])

  def to_bytes(self):
    body = self.header() + self.z_string + self.y_string
    return body + _CRC.pack(zlib.crc32(body))

  @classmethod
  def from_bytes(cls, data):
    """Parses and checks a whole stream; raises BitstreamError if anything is off."""
    stream, _ = _parse(data)
    return stream


def info(data):
  """A dict describing a stream, for `python -m lic_jax info`."""
  stream, header_bytes = _parse(data)
  return {
      "format_version": FORMAT_VERSION,
      "arch": stream.arch,
      "model_hash": stream.model_hash.hex(),
      "height": stream.height,
      "width": stream.width,
      "header_bytes": header_bytes,
      "z_bytes": len(stream.z_string),
      "y_bytes": len(stream.y_string),
      "total_bytes": len(data),
      "bpp": 8 * len(data) / (stream.height * stream.width),
  }


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


def _parse(data):
  """(Stream, header length) from bytes, with every check of the format."""
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
  if version != FORMAT_VERSION:
    raise BitstreamError(f"unsupported format version {version}; this lic_jax reads "
                         f"version {FORMAT_VERSION}")
  arch = reader.take(reader.byte("arch length"), "arch name")
  model_hash = reader.take(reader.byte("model hash length"), "model hash")
  height, width = struct.unpack(">HH", reader.take(4, "image size"))
  z_length = reader.varint("z length")
  y_length = reader.varint("y length")
  header_length = reader.pos
  expected = header_length + z_length + y_length + _CRC.size
  if len(data) != expected:
    problem = "truncated" if len(data) < expected else "trailing bytes after the"
    raise BitstreamError(f"{problem} stream: {len(data)} bytes where the header "
                         f"declares {expected} (or the header is corrupt)")
  body, (crc,) = data[:-_CRC.size], _CRC.unpack(data[-_CRC.size:])
  if zlib.crc32(body) != crc:
    raise BitstreamError("corrupt stream: checksum mismatch")
  try:
    arch = arch.decode("ascii")
  except UnicodeDecodeError:
    raise BitstreamError("corrupt stream: arch name is not ASCII") from None
  z_end = header_length + z_length
  stream = Stream(arch, model_hash, height + 1, width + 1,
                  data[header_length:z_end], data[z_end:z_end + y_length])
  return stream, header_length
