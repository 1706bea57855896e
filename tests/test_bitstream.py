"""The file container: round trips, and BitstreamError for every malformed stream."""
import dataclasses
import struct
import zlib

import numpy as np
import pytest

from lic_jax import bitstream
from lic_jax.bitstream import BitstreamError, Stream

HASH = bytes(range(8))


def sample(z_string=b"z" * 130, y_string=bytes(range(256)) * 20, **changes):
  """A stream; its checks (unless given) are 4 bytes per string."""
  fields = dict(arch="mlicpp", model_hash=HASH, height=512, width=768,
                strings={"z": z_string, "y": y_string})
  fields.update(changes)
  if "checks" not in changes and isinstance(fields["strings"], dict):
    fields["checks"] = {name: zlib.crc32(name.encode()).to_bytes(4, "big")
                        for name in fields["strings"]}
  return Stream(**fields)


def version2(stream):
  """`stream` in format version 2 (no decoding checks)."""
  fields = [b"LICJ\x02", bitstream._short(stream.arch.encode()),
            bitstream._short(stream.model_hash), bitstream._short(stream.coder.encode()),
            struct.pack(">HH", stream.height - 1, stream.width - 1), bytes([len(stream.strings)])]
  for name, string in stream.strings.items():
    fields += [bitstream._short(name.encode()), bitstream._varint(len(string))]
  return with_crc(b"".join(fields + list(stream.strings.values())))


def version1(stream):
  """`stream` in format version 1 (no coder; the z and y strings, unnamed)."""
  arch = stream.arch.encode()
  z, y = stream.strings["z"], stream.strings["y"]
  body = b"".join([b"LICJ\x01", bytes([len(arch)]), arch, bytes([len(stream.model_hash)]),
                   stream.model_hash, struct.pack(">HH", stream.height - 1, stream.width - 1),
                   bitstream._varint(len(z)), bitstream._varint(len(y)), z, y])
  return with_crc(body)


@pytest.mark.parametrize("version, write", [(1, version1), (2, version2)])
def test_earlier_formats_written_as_their_writers_here_do(version, write):
  stream = sample()
  assert stream.to_bytes(version=version) == write(stream)
  with pytest.raises(BitstreamError, match="format 1 holds exactly"):
    sample(strings={"y": b"y"}).to_bytes(version=1)
  with pytest.raises(BitstreamError, match="not one of"):
    stream.to_bytes(version=6)
  with pytest.raises(BitstreamError, match="format 5 and only it holds a gain"):
    stream.to_bytes(version=5)


def with_crc(body):
  """A stream body sealed with a valid checksum, to reach the checks behind it."""
  return body + struct.pack(">I", zlib.crc32(body))


@pytest.mark.parametrize("stream", [
    sample(),
    sample(height=1, width=1, z_string=b"", y_string=b""),
    sample(height=65536, width=65536, arch="elic", model_hash=b""),
    sample(y_string=b"\x00" * 300_000, model_hash=bytes(32)),
    sample(height=np.int64(7), width=np.int32(9)),
    sample(strings={"y": b"only y"}, coder="another-coder"),
    sample(strings={f"s{k}": bytes([k]) * k for k in range(16)}),
])
def test_round_trip(stream):
  data = stream.to_bytes()
  assert Stream.from_bytes(data) == stream
  assert Stream.from_bytes(bytearray(data)) == stream


def test_header_is_small_and_info_describes_it():
  stream = sample()
  data = stream.to_bytes()
  info = bitstream.info(data)
  # magic 4, version 1, arch 1+6, hash 1+8, coder 1+3, size 4, string count 1,
  # names 2+2, lengths 2+2, checks 2 * (1 + 4), the header's crc 4; then a 4-byte crc
  assert info["header_bytes"] == len(stream.header()) == 52
  assert len(data) == 52 + 130 + 5120 + 4
  assert info == {
      "format_version": 4, "arch": "mlicpp", "model_hash": HASH.hex(), "coder": "tfc",
      "height": 512, "width": 768, "gain": None, "header_bytes": 52, "check_bytes": 8,
      "string_bytes": {"z": 130, "y": 5120}, "missing_strings": [], "total_bytes": len(data),
      "bpp": 8 * len(data) / (512 * 768)}
  assert len(stream.header(version=3)) == 48  # format 3: no header crc


def test_a_variable_rate_stream_records_its_gain_in_format_5():
  """Format 5 is format 4 and the float32 gain: 4 bytes more, covered by the header's
  CRC; a gain that is not a finite number > 0 is refused when written or read."""
  stream = sample(gain=float(np.float32(0.1640188)))
  data = stream.to_bytes()
  assert Stream.from_bytes(data) == stream and stream.version == 5
  info = bitstream.info(data)
  assert info["format_version"] == 5 and info["gain"] == stream.gain
  assert info["header_bytes"] == len(sample().header()) + 4
  with pytest.raises(BitstreamError, match="format 5 and only it"):
    stream.to_bytes(version=4)
  for gain in (0.0, -1.0, float("nan"), float("inf")):
    with pytest.raises(BitstreamError, match="gain must be a finite number > 0"):
      sample(gain=gain)
  # A gain field of NaN behind a valid header CRC is refused, not decoded.
  size = len(bitstream.MAGIC) + 1 + 1 + 6 + 1 + 8 + 1 + 3 + 4
  header = stream.header()[:-4]
  bad = header[:size] + struct.pack(">f", float("nan")) + header[size + 4:]
  bad = bad + struct.pack(">I", zlib.crc32(bad))
  with pytest.raises(BitstreamError, match="gain"):
    Stream.from_bytes(with_crc(bad + b"".join(stream.strings.values())))


def test_a_stream_is_written_with_its_checks():
  with pytest.raises(BitstreamError, match="checks"):
    sample(checks=None).to_bytes()
  for checks in ({"y": b"", "z": b""}, {"z": b""}, {"z": "", "y": b""}):
    with pytest.raises(BitstreamError, match="checks"):
      sample(checks=checks)


def test_version_2_streams_are_read_without_checks():
  stream = sample(coder="tfc-range")
  data = version2(stream)
  assert Stream.from_bytes(data) == dataclasses.replace(stream, checks=None)
  info = bitstream.info(data)
  assert info["format_version"] == 2 and info["check_bytes"] == 0


def test_version_1_streams_are_read():
  stream = sample(checks=None)
  data = version1(stream)
  assert Stream.from_bytes(data) == stream
  info = bitstream.info(data)
  assert info["format_version"] == 1 and info["header_bytes"] == 29
  assert info["string_bytes"] == {"z": 130, "y": 5120}


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), "magic"),
    (b"LIC", "truncated"),
    (b"LICJ\x06" + bytes(40), "version"),
    (b"LICJ\x00" + bytes(40), "version"),
])
def test_malformed_header(data, message):
  with pytest.raises(BitstreamError, match=message):
    Stream.from_bytes(data)


def test_not_bytes():
  with pytest.raises(BitstreamError):
    Stream.from_bytes("LICJ")


def test_truncation_at_every_byte():
  data = sample(z_string=b"zz", y_string=b"yyyy").to_bytes()
  for n in range(len(data)):
    with pytest.raises(BitstreamError):
      Stream.from_bytes(data[:n])


def test_a_prefix_holds_its_whole_strings_from_the_end_of_the_header_on():
  """Format 4, cut at every byte: before the header's end an error; after it, the
  strings held whole, in order, and the others named missing. A whole file still
  has its checksum verified; a flipped header byte is caught by the header's."""
  stream = sample(strings={"z": b"zz", "y0": b"a" * 3, "y1": b"", "y2": b"b" * 5},
                  checks={"z": b"1", "y0": b"2", "y1": b"3", "y2": b"4"})
  data = stream.to_bytes()
  header = len(stream.header())
  for n in range(len(data) + 1):
    if n < header:
      with pytest.raises(BitstreamError):
        Stream.from_bytes(data[:n], prefix=True)
      continue
    part = Stream.from_bytes(data[:n], prefix=True)
    held = n - header
    whole = [k for k, end in (("z", 2), ("y0", 5), ("y1", 5), ("y2", 10)) if end <= held]
    assert list(part.strings) == whole and part.missing == tuple(
        k for k in stream.strings if k not in whole), n
    assert part.strings == {k: stream.strings[k] for k in whole}
    assert list(part.checks) == whole
    if n < len(data):
      with pytest.raises(BitstreamError, match="truncated"):
        Stream.from_bytes(data[:n])
  for position in range(header):
    flipped = bytearray(data)
    flipped[position] ^= 0x10
    with pytest.raises(BitstreamError):
      Stream.from_bytes(bytes(flipped)[:header + 3], prefix=True)
  with pytest.raises(BitstreamError, match="checksum"):
    Stream.from_bytes(data[:-1] + bytes([data[-1] ^ 1]), prefix=True)


def test_format_4_leaves_the_names_of_a_numbered_run_implicit():
  names = ["z", "y0", "y1", "y2", "x", "y9", "y10", "a7b", "a7c"]
  stream = sample(strings={n: n.encode() for n in names}, checks={n: b"" for n in names})
  # every name written but y1, y2 (after y0) and y10 (after y9)
  assert len(stream.header()) == len(stream.header(3)) + 4 - len("y1y2y10")
  assert Stream.from_bytes(stream.to_bytes()) == stream
  # a format-4 header whose first string is unnamed, sealed with valid checksums
  header = sample(strings={"z": b""}, checks={"z": b""}).header(3).replace(b"\x01z", b"\x00")
  header = header.replace(b"LICJ\x03", b"LICJ\x04", 1)
  with pytest.raises(BitstreamError, match="unnamed string follows no numbered one"):
    Stream.from_bytes(with_crc(header + struct.pack(">I", zlib.crc32(header))))


def test_trailing_garbage():
  data = sample().to_bytes()
  for extra in (b"\x00", b"LICJ", bytes(1000)):
    with pytest.raises(BitstreamError, match="trailing"):
      Stream.from_bytes(data + extra)


def _strings_header(z_length, y_length):
  """A header whose two string entries state these length fields (raw bytes); empty
  checks."""
  header = sample(z_string=b"zz", y_string=b"yyyy", checks={"z": b"", "y": b""}).header(3)
  assert header.endswith(b"\x01z\x02\x00\x01y\x04\x00")  # name, length, check length
  return header[:-8] + b"\x01z" + z_length + b"\x00\x01y" + y_length + b"\x00"


def test_lengths_inconsistent_with_data():
  for z_length, y_length in ((b"\x03", b"\x04"), (b"\x02", b"\x03"), (b"\x7f", b"\x7f"),
                             (b"\xff\xff\xff\xff\x0f", b"\x04")):
    body = _strings_header(z_length, y_length) + b"zzyyyy"
    with pytest.raises(BitstreamError):
      Stream.from_bytes(with_crc(body))


def test_non_canonical_varint():
  body = _strings_header(b"\x82\x00", b"\x04") + b"zzyyyy"  # 2 written in two bytes
  with pytest.raises(BitstreamError, match="shortest"):
    Stream.from_bytes(with_crc(body))


def test_duplicate_string_names():
  body = _strings_header(b"\x02", b"\x04").replace(b"\x01z\x02", b"\x01y\x02") + b"zzyyyy"
  with pytest.raises(BitstreamError, match="same name"):
    Stream.from_bytes(with_crc(body))


def test_valid_checksum_but_bad_arch():
  body = sample(arch="mlicpq", z_string=b"", y_string=b"").header(3)
  with pytest.raises(BitstreamError, match="arch"):
    Stream.from_bytes(with_crc(body.replace(b"mlicpq", b"mlic\xffq")))
  with pytest.raises(BitstreamError, match="arch"):
    Stream.from_bytes(with_crc(body.replace(b"mlicpq", b"mlic\nq")))


@pytest.mark.parametrize("changes", [
    dict(height=0), dict(width=0), dict(height=65537), dict(width=1 << 20), dict(height=2.0), dict(width=True),
    dict(arch=""), dict(arch="x" * 33), dict(arch="é"), dict(model_hash=bytes(33)),
    dict(model_hash="00ff"), dict(z_string="z"), dict(coder=""), dict(coder="é"),
    dict(strings={"": b""}), dict(strings={f"s{k}": b"" for k in range(65)}),
    dict(strings=[b""]),
])
def test_absurd_fields_rejected(changes):
  with pytest.raises(BitstreamError):
    sample(**changes)


def test_random_single_byte_flips_always_raise():
  """Header or payload, every flip is caught: the CRC-32 sees every burst of up to
  32 bits. (Without it a payload flip would decode to a silently wrong image.)"""
  data = sample(z_string=bytes(range(40)), y_string=bytes(range(200))).to_bytes()
  rng = np.random.default_rng(0)
  for _ in range(200):
    corrupted = bytearray(data)
    corrupted[rng.integers(len(data))] ^= int(rng.integers(1, 256))
    with pytest.raises(BitstreamError):
      Stream.from_bytes(bytes(corrupted))
