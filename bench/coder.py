"""The range coder's two implementations side by side: symbols per second, first-call
cost, and whole compress/decompress with each, alternated in one process.

    python bench/coder.py symbols [--count 1000000] [--runs 7]
    python bench/coder.py first-call
    python bench/coder.py codec [--arch mlicpp|elic|...] [--model default --image P] [--runs 5]

symbols: the same Gaussian tables (compressai's 64 scales) and symbols for both, coded
in one call and in calls of 100 symbols (the wavefront decoders' many small calls);
the first call of each, with its compilation, shown apart. first-call: a fresh
process per implementation, import and first encode + decode (numba's cache warm).
codec: one model's compress and decompress of a 768x512 image with each coder,
alternating, and the share of each spent inside the coder's calls.
"""
import argparse
import copy
import statistics
import subprocess
import sys
import time

import numpy as np

from common import machine, photo, random_codec, test_image

IMPLEMENTATIONS = ("numba", "tfc")


def gaussian_symbols(count, seed=0):
  """(tables, symbols, indexes): compressai's Gaussian tables and symbols drawn from
  the rows they are coded with (a few escapes among them)."""
  from lic_jax.entropy import gaussian, tables
  scale_table = gaussian.default_scale_table()
  rng = np.random.default_rng(seed)
  indexes = rng.integers(0, len(scale_table), count).astype(np.int32)
  symbols = np.round(rng.normal(0, scale_table[indexes])).astype(np.int32)
  return tables.gaussian_tables(scale_table), symbols, indexes


def code(coder, table, symbols, indexes, chunk):
  """Encode in calls of `chunk` symbols, then decode likewise: (encode s, decode s)."""
  cuts = np.arange(chunk, len(symbols), chunk)
  start = time.perf_counter()
  encoder = coder.encoder(table)
  for s, i in zip(np.split(symbols, cuts), np.split(indexes, cuts)):
    encoder.encode(s, i)
  data = encoder.finish()
  encode_s = time.perf_counter() - start
  start = time.perf_counter()
  decoder = coder.decoder(data, table)
  decoded = [decoder.decode(i) for i in np.split(indexes, cuts)]
  decoder.finish()
  decode_s = time.perf_counter() - start
  assert np.array_equal(np.concatenate(decoded), symbols)
  return encode_s, decode_s, data


def symbols(args):
  from lic_jax import coder as coder_lib
  table, values, indexes = gaussian_symbols(args.count)
  coders = {name: coder_lib.get(name) for name in IMPLEMENTATIONS}
  print(f"{args.count} symbols, 64 Gaussian rows; {machine()}")
  for chunk in (args.count, 100):
    count = args.count if chunk == args.count else min(args.count, 200_000)
    times, strings = {name: ([], []) for name in coders}, {}
    for name, coder in coders.items():  # first call: compiles (numba) or imports (TF)
      enc, dec, strings[name] = code(coder, table, values[:count], indexes[:count], chunk)
      print(f"  first call, {name}, calls of {chunk}: encode {enc:.3f} s, decode {dec:.3f} s")
    assert strings["numba"] == strings["tfc"], "the implementations wrote different bytes"
    for _ in range(args.runs):  # alternated
      for name, coder in coders.items():
        enc, dec, _ = code(coder, table, values[:count], indexes[:count], chunk)
        times[name][0].append(enc)
        times[name][1].append(dec)
    for name, (enc, dec) in times.items():
      print(f"{name:>6}, {count} symbols in calls of {chunk}: encode "
            f"{count / statistics.median(enc) / 1e6:.1f} M symbols/s, decode "
            f"{count / statistics.median(dec) / 1e6:.1f} M symbols/s (medians of {args.runs})")


FIRST_CALL = """
import time; start = time.perf_counter()
import numpy as np
from lic_jax import coder
from lic_jax.entropy import tables
table = tables.gaussian_tables(np.float32([0.5, 2.0, 8.0]))
indexes = np.arange(300, dtype=np.int32) % 3
symbols = (np.arange(300, dtype=np.int32) % 7) - 3
c = coder.get({name!r})
e = c.encoder(table); e.encode(symbols, indexes); data = e.finish()
d = c.decoder(data, table); assert (d.decode(indexes) == symbols).all(); d.finish()
print(time.perf_counter() - start)
"""


def first_call(args):
  print(f"fresh process: import, first encode and decode of 300 symbols; {machine()}")
  for name in IMPLEMENTATIONS:
    seconds = []
    for _ in range(args.runs):
      out = subprocess.run([sys.executable, "-c", FIRST_CALL.format(name=name)], check=True,
                           capture_output=True, text=True).stdout
      seconds.append(float(out.split()[-1]))
    print(f"{name:>6}: median {statistics.median(seconds):.2f} s of {args.runs} "
          f"({', '.join(f'{s:.2f}' for s in seconds)})")


class TimedCoder:
  """A coder that counts the seconds spent in its encoders' and decoders' calls."""

  def __init__(self, coder):
    self.coder, self.format, self.name, self.seconds = coder, coder.format, coder.name, 0.0

  def _timed(self, obj):
    outer = self

    class Timed:
      def __getattr__(self, attr):
        method = getattr(obj, attr)

        def call(*a):
          start = time.perf_counter()
          try:
            return method(*a)
          finally:
            outer.seconds += time.perf_counter() - start
        return call
    return Timed()

  def encoder(self, tables):
    start = time.perf_counter()
    encoder = self.coder.encoder(tables)
    self.seconds += time.perf_counter() - start
    return self._timed(encoder)

  def decoder(self, data, tables):
    start = time.perf_counter()
    decoder = self.coder.decoder(data, tables)
    self.seconds += time.perf_counter() - start
    return self._timed(decoder)


def codec_times(args):
  import lic_jax
  from lic_jax import coder as coder_lib
  base = lic_jax.load_model(args.model) if args.model else random_codec(args.arch, args.preset)
  image = photo(args.image) if args.image else test_image()
  codecs = {}
  for name in IMPLEMENTATIONS:  # one model, its compiled stages shared
    codecs[name] = copy.copy(base)
    codecs[name].coder = TimedCoder(coder_lib.get(name))
  streams = {name: c.compress(image) for name, c in codecs.items()}  # compiles
  assert streams["numba"] == streams["tfc"], "the implementations wrote different bytes"
  for c in codecs.values():
    c.decompress(streams["numba"])
  print(f"{args.model or args.arch + ' ' + args.preset + ' (random weights)'}, 768x512 "
        f"{args.image or '(synthetic)'}: {len(streams['numba'])} bytes; {machine()}")
  times = {(name, op): ([], []) for name in codecs for op in ("compress", "decompress")}
  for _ in range(args.runs):
    for name, c in codecs.items():
      for op, fn in (("compress", lambda: c.compress(image)),
                     ("decompress", lambda: c.decompress(streams["numba"]))):
        c.coder.seconds = 0.0
        start = time.perf_counter()
        fn()
        times[name, op][0].append(time.perf_counter() - start)
        times[name, op][1].append(c.coder.seconds)
  for (name, op), (total, coding) in times.items():
    t, k = statistics.median(total), statistics.median(coding)
    print(f"{name:>6} {op:<10}: median {t:.3f} s of {args.runs} "
          f"({', '.join(f'{x:.3f}' for x in total)}); in the coder {k * 1000:.1f} ms "
          f"({100 * k / t:.1f}%)")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("what", choices=("symbols", "first-call", "codec"))
  parser.add_argument("--count", type=int, default=1_000_000)
  parser.add_argument("--runs", type=int, default=7)
  parser.add_argument("--arch", default="mlicpp")
  parser.add_argument("--preset", default="full")
  parser.add_argument("--model", help="a model directory or bundled name instead")
  parser.add_argument("--image", help="a photo, resized to 768x512 (default: synthetic)")
  args = parser.parse_args()
  {"symbols": symbols, "first-call": first_call, "codec": codec_times}[args.what](args)


if __name__ == "__main__":
  main()
