"""lic_jax.torch_checkpoint: torch.save files read without torch and without running
anything from them. The tests without the `torch` marker run where torch is absent
(they write their checkpoints by hand); the `torch` ones check against torch.load."""
import collections
import glob
import os
import pickle
import pickletools
import shlex
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import REFERENCE_DIR, REPO, reference_path
from lic_jax import conversion, torch_checkpoint
from lic_jax.models import registry

# Every reference checkpoint; one name stands in when the folder is missing, so that
# reference_path skips (or fails under CI) with its message.
REFERENCE_CHECKPOINTS = sorted(
    os.path.relpath(p, REFERENCE_DIR)
    for pattern in ("*.pth.tar", os.path.join("compressai", "*.pth.tar"))
    for p in glob.glob(os.path.join(REFERENCE_DIR, pattern))) or ["mlicpp_small.pth.tar"]


# ---- checkpoints written by hand, as torch.save writes them -------------------------

def _op(value):
  """The pickle opcodes of a plain value, without the protocol header and STOP."""
  return pickletools.optimize(pickle.dumps(value, protocol=2))[2:-1]


def _global(module, name):
  """The GLOBAL opcode: push module.name."""
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


# A tensor as torch.save pickles it: the storage it lies in (key, class, size in
# elements), its offset, size and stride in elements; in the legacy format, `view`
# (view key, offset, size) makes the storage a slice of the root storage.
Tensor = collections.namedtuple("Tensor", "key storage_class numel offset shape stride view",
                                defaults=(None,))


def _data_pkl(tensors, legacy=False):
  """The pickle of {name: Tensor}: each a _rebuild_tensor_v2 call on a persistent id."""
  ops = [b"\x80\x02}("]  # PROTO 2, EMPTY_DICT, MARK
  for name, t in tensors.items():
    pid = (_op("storage") + _global("torch", t.storage_class) + _op(t.key) + _op("cpu")
           + _op(t.numel) + (_op(t.view) if legacy else b""))
    ops += [_op(name), _global("torch._utils", "_rebuild_tensor_v2"),
            b"((", pid, b"tQ",  # args: (persistent id tuple -> BINPERSID, ...
            _op(t.offset), _op(tuple(t.shape)), _op(tuple(t.stride)), _op(False),
            _global("collections", "OrderedDict"), b")R",  # backward hooks: OrderedDict()
            b"tR"]  # ...) -> REDUCE
  return b"".join(ops) + b"u."  # SETITEMS, STOP


def _write_zip(path, data_pkl, storages, byteorder="little", extra=()):
  """A zip-format checkpoint: storages {key: numpy array} stored in `byteorder`."""
  order = "<" if byteorder == "little" else ">"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", data_pkl)
    archive.writestr("archive/byteorder", byteorder)
    for key, array in storages.items():
      stored = array.astype(array.dtype.newbyteorder(order))
      archive.writestr(f"archive/data/{key}", stored.tobytes())
    for name, data in extra:
      archive.writestr(name, data)
    archive.writestr("archive/version", "3\n")
  return path


def _write_legacy(path, data_pkl, storages, keys=None):
  """A legacy-format checkpoint: header pickles, the object, the storage keys, then
  each storage as its element count and its little-endian bytes."""
  keys = sorted(storages) if keys is None else keys
  with open(path, "wb") as f:
    for value in (torch_checkpoint.LEGACY_MAGIC, torch_checkpoint.LEGACY_PROTOCOL,
                  {"protocol_version": 1001, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 4}}):
      f.write(pickle.dumps(value, protocol=2))
    f.write(data_pkl)
    f.write(pickle.dumps(keys, protocol=2))
    for key in keys:
      array = storages[key]
      stored = array.astype(array.dtype.newbyteorder("<"))
      f.write(struct.pack("<q", array.size) + stored.tobytes())
  return path


FLOATS = np.arange(24, dtype=np.float32) * 1.5 - 7  # storage "0"
BFLOAT16_BITS = np.array([0x3F80, 0xC000, 0x7F80, 0x0001], np.uint16)  # storage "1"
BOOLS = np.array([0, 1, 1, 0], np.uint8)  # storage "2"
LONGS = np.arange(-3, 3, dtype=np.int64)  # storage "3"
STORAGES = {"0": FLOATS, "1": BFLOAT16_BITS, "2": BOOLS, "3": LONGS}


def _strided(storage, offset, shape, stride):
  return np.lib.stride_tricks.as_strided(
      storage[offset:], shape, [s * storage.itemsize for s in stride]).copy()


# {name: (Tensor, the array it must read as)}: views of one storage in every layout.
LAYOUTS = {
    "matrix": (Tensor("0", "FloatStorage", 24, 0, (4, 6), (6, 1)), FLOATS.reshape(4, 6)),
    "transposed": (Tensor("0", "FloatStorage", 24, 0, (6, 4), (1, 6)), FLOATS.reshape(4, 6).T),
    "stepped": (Tensor("0", "FloatStorage", 24, 3, (2, 3), (12, 2)),
                FLOATS[[[3, 5, 7], [15, 17, 19]]]),
    "broadcast": (Tensor("0", "FloatStorage", 24, 5, (3, 2), (0, 1)),
                  np.tile(FLOATS[5:7], (3, 1))),
    "scalar": (Tensor("0", "FloatStorage", 24, 23, (), ()), np.array(FLOATS[23])),
    "empty": (Tensor("0", "FloatStorage", 24, 0, (0, 5), (5, 1)), np.zeros((0, 5), np.float32)),
    "bfloat16": (Tensor("1", "BFloat16Storage", 4, 0, (4,), (1,)),
                 np.array([1.0, -2.0, np.inf, 2.0 ** -133], np.float32)),
    "bool": (Tensor("2", "BoolStorage", 4, 0, (2, 2), (2, 1)), np.array([[0, 1], [1, 0]], bool)),
    "long": (Tensor("3", "LongStorage", 6, 1, (5,), (1,)), LONGS[1:]),
}
# Only the legacy format has storage views: elements 10..17 of storage "0" as "9".
LEGACY_VIEW = (Tensor("0", "FloatStorage", 24, 1, (3,), (2,), ("9", 10, 8)), FLOATS[[11, 13, 15]])


def _hand_made(tmp_path, form):
  """(path, expected {name: array}) of a hand-written checkpoint with LAYOUTS."""
  layouts = dict(LAYOUTS)
  if form == "legacy":
    layouts["view"] = LEGACY_VIEW
  pkl = _data_pkl({name: t for name, (t, _) in layouts.items()}, legacy=form == "legacy")
  path = tmp_path / f"{form}.pth"
  if form == "legacy":
    _write_legacy(path, pkl, STORAGES)
  else:
    _write_zip(path, pkl, STORAGES, byteorder="big" if form == "zip-big-endian" else "little")
  return path, {name: expected for name, (_, expected) in layouts.items()}


def _assert_bitwise_equal(got, expected, where):
  assert isinstance(got, np.ndarray), where
  assert (got.dtype, got.shape) == (expected.dtype, expected.shape), where
  assert got.tobytes() == np.ascontiguousarray(expected).tobytes(), where


# ---- without torch ------------------------------------------------------------------

def test_reading_needs_neither_torch_nor_jax():
  """In a process where importing torch or jax fails, a checkpoint still reads."""
  path = reference_path("mlicpp_small.pth.tar")
  code = ("import sys\n"
          "sys.modules['torch'] = sys.modules['jax'] = None  # importing either fails\n"
          "from lic_jax import torch_checkpoint\n"
          f"obj = torch_checkpoint.read({str(path)!r})\n"
          "loaded = [m for m, v in sys.modules.items() if v is not None\n"
          "          and m.split('.')[0] in ('torch', 'jax', 'jaxlib', 'flax')]\n"
          "print(len(obj['state_dict']), loaded)")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == [str(len(conversion.load_torch_state_dict(path))), "[]"]


@pytest.mark.parametrize("name", REFERENCE_CHECKPOINTS)
def test_reference_checkpoint_reads_and_converts_without_torch(name, monkeypatch):
  monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
  sd = conversion.load_torch_state_dict(reference_path(name))
  assert sd and all(isinstance(v, np.ndarray) and v.flags.owndata and v.flags.writeable
                    for v in sd.values())
  arch = os.path.basename(name).replace("_small.pth.tar", "").replace("_", "-")
  if arch in [spec.name for spec in registry.specs()]:
    got_arch, _, params, tables = conversion.convert_state_dict(sd)
    assert got_arch == arch and params and tables
  else:  # a zoo variant lic_jax has no model for: the file reads, the keys say why
    with pytest.raises(conversion.ConversionError, match="Gain|none of the registered"):
      conversion.convert_state_dict(sd)


@pytest.mark.parametrize("form", ["zip", "zip-big-endian", "legacy"])
def test_hand_made_checkpoint_reads_every_layout(tmp_path, form):
  """Strided, transposed, broadcast, 0-d and empty views of one storage, legacy
  storage views, bfloat16 (as float32) and bool, in both formats and byte orders;
  each array its own copy."""
  path, expected = _hand_made(tmp_path, form)
  got = torch_checkpoint.read(path)
  assert list(got) == list(expected)
  for name, array in expected.items():
    _assert_bitwise_equal(got[name], array, name)
    assert got[name].flags.owndata and got[name].flags.writeable, name
  assert not np.shares_memory(got["matrix"], got["transposed"])


def test_each_storage_is_read_once_and_only_if_used(tmp_path, monkeypatch):
  path, _ = _hand_made(tmp_path, "zip")
  with zipfile.ZipFile(path, "a") as archive:  # a storage that no tensor uses
    archive.writestr("archive/data/7", np.zeros(1000, np.float32).tobytes())
  reads = []
  original = zipfile.ZipFile.read
  monkeypatch.setattr(zipfile.ZipFile, "read",
                      lambda self, name, pwd=None: reads.append(name) or original(self, name, pwd))
  torch_checkpoint.read(path)
  storages = [name for name in reads if "/data/" in name]
  assert sorted(storages) == [f"archive/data/{key}" for key in sorted(STORAGES)]


def _payload(module, name, arg, stack_global=False):
  """A pickle that calls module.name(arg) when plain pickle unpickles it."""
  if stack_global:  # protocol 4's form: the names come from the stack
    return b"\x80\x04" + _op(module) + _op(name) + b"\x93" + _op((arg,)) + b"R."
  return b"\x80\x02" + _global(module, name) + _op((arg,)) + b"R."


@pytest.mark.parametrize("container", ["zip", "legacy"])
@pytest.mark.parametrize("module,name,stack_global,refused", [
    ("os", "system", False, "os.system"),
    ("os", "system", True, "os.system"),
    ("builtins", "exec", False, "builtins.exec"),
    ("__builtin__", "eval", False, "builtins.eval"),
])
def test_a_pickled_call_is_refused_and_never_runs(tmp_path, container, module, name,
                                                 stack_global, refused):
  def payload(marker):
    if module == "os":
      arg = f"touch {shlex.quote(str(marker))}"
    else:
      arg = f"open({str(marker)!r}, 'w').close()"
    return _payload(module, name, arg, stack_global)

  # The payload is live: plain pickle runs it.
  live_marker = tmp_path / "ran-in-plain-pickle"
  pickle.loads(payload(live_marker))
  assert live_marker.exists()

  marker = tmp_path / "ran"
  path = tmp_path / "evil.pth"
  if container == "zip":
    _write_zip(path, payload(marker), {})
  else:
    _write_legacy(path, payload(marker), {}, keys=[])
  with pytest.raises(torch_checkpoint.CheckpointError, match=refused.replace(".", r"\.")):
    torch_checkpoint.read(path)
  with pytest.raises(conversion.ConversionError) as error:
    conversion.load_torch_state_dict(path)
  assert str(path) in str(error.value) and refused in str(error.value)
  assert "state_dict()" in str(error.value)  # says what to do
  assert not marker.exists()


def _reference_bytes():
  with open(reference_path("mlicpp_old_small.pth.tar"), "rb") as f:
    return f.read()


def _file(tmp_path, name, data):
  path = tmp_path / name
  path.write_bytes(data)
  return path


def _rewritten(tmp_path, edit):
  """A copy of a reference checkpoint, each record's bytes passed through edit(name, data)."""
  path = tmp_path / "edited.pth.tar"
  with zipfile.ZipFile(reference_path("mlicpp_old_small.pth.tar")) as source, \
      zipfile.ZipFile(path, "w") as archive:
    for info in source.infolist():
      archive.writestr(info.filename, edit(info.filename, source.read(info.filename)))
  return path


def _flip_a_storage_byte(tmp_path):
  data = bytearray(_reference_bytes())
  with zipfile.ZipFile(reference_path("mlicpp_old_small.pth.tar")) as archive:
    header = archive.getinfo("mlicpp_old_small.pth/data/0").header_offset
  name_length, extra_length = struct.unpack("<HH", data[header + 26:header + 30])
  data[header + 30 + name_length + extra_length] ^= 0xFF  # the record's first byte
  return _file(tmp_path, "flipped.pth.tar", bytes(data))


def _legacy_cut(tmp_path, keep):
  path, _ = _hand_made(tmp_path, "legacy")
  data = path.read_bytes()
  return _file(tmp_path, "cut.pth", data[:keep(len(data))])


@pytest.mark.parametrize("make_input,expected", [
    (lambda tmp: tmp / "nothing.pth", None),
    (lambda tmp: _file(tmp, "random.pth", np.random.default_rng(0).bytes(4096)),
     "is not a PyTorch checkpoint"),
    (lambda tmp: _file(tmp, "empty.pth", b""), "is not a PyTorch checkpoint"),
    (lambda tmp: _file(tmp, "half.pth.tar", _reference_bytes()[:len(_reference_bytes()) // 2]),
     "truncated or damaged zip archive"),
    (lambda tmp: _file(tmp, "most.pth.tar", _reference_bytes()[:-100]),
     "truncated or damaged zip archive"),
    (_flip_a_storage_byte, "truncated or damaged zip archive (Bad CRC-32"),
    (lambda tmp: _rewritten(
        tmp, lambda name, data: data[:-4] if name.endswith("/data/3") else data),
     "storage '3' is declared as"),
    (lambda tmp: _rewritten(tmp, lambda name, data: b"x" if name.endswith("data.pkl") else data),
     "its data.pkl is damaged"),
    (lambda tmp: _legacy_cut(tmp, lambda n: n - 10),
     "storage '3' holds 38 bytes, its tensors need 48"),
    (lambda tmp: _legacy_cut(tmp, lambda n: 200), "its pickled data is damaged"),
    (lambda tmp: _write_zip(tmp / "past.pth", _data_pkl(
        {"w": Tensor("0", "FloatStorage", 24, 4, (3, 3), (10, 1))}), STORAGES),
     "needs 108 bytes of storage '0', which has 96"),
])
def test_bad_file_fails_clearly(tmp_path, make_input, expected):
  """Each failure is one CheckpointError naming the file and what is wrong, and a
  ConversionError from load_torch_state_dict; a missing file says so."""
  path = make_input(tmp_path)
  if expected is None:
    with pytest.raises(FileNotFoundError):
      torch_checkpoint.read(path)
    with pytest.raises(conversion.ConversionError, match="no such file"):
      conversion.load_torch_state_dict(path)
    return
  with pytest.raises(torch_checkpoint.CheckpointError) as error:
    torch_checkpoint.read(path)
  assert str(error.value).startswith(f"{path} is not a readable PyTorch checkpoint: ")
  assert expected in str(error.value)
  with pytest.raises(conversion.ConversionError) as converted:
    conversion.load_torch_state_dict(path)
  assert str(converted.value) == str(error.value)


def test_a_file_without_a_state_dict_is_refused(tmp_path):
  path = _write_zip(tmp_path / "list.pth", b"\x80\x02" + _op([1, 2]) + b".", {})
  assert torch_checkpoint.read(path) == [1, 2]
  with pytest.raises(conversion.ConversionError, match="holds no state dict"):
    conversion.load_torch_state_dict(path)


# ---- against torch ------------------------------------------------------------------

def _numpy_tree(obj, torch):
  """torch.load's object as torch_checkpoint returns it: tensors as numpy arrays
  (bfloat16 as float32), torch.Size as a tuple."""
  if isinstance(obj, torch.Tensor):
    tensor = obj.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
  if isinstance(obj, torch.Size):
    return tuple(obj)
  if isinstance(obj, dict):
    return type(obj)((k, _numpy_tree(v, torch)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_numpy_tree(v, torch) for v in obj)
  return obj


def _assert_same_tree(got, expected, where="top"):
  if isinstance(expected, np.ndarray):
    _assert_bitwise_equal(got, expected, where)
  elif isinstance(expected, (dict, list, tuple)):
    assert type(got) is type(expected), where
    assert len(got) == len(expected), where
    if isinstance(expected, dict):
      assert list(got) == list(expected), where
      for key in expected:
        _assert_same_tree(got[key], expected[key], f"{where}/{key}")
    else:
      for i, (a, b) in enumerate(zip(got, expected)):
        _assert_same_tree(a, b, f"{where}/{i}")
  else:
    assert type(got) is type(expected) and got == expected, where


@pytest.mark.torch
@pytest.mark.parametrize("name", REFERENCE_CHECKPOINTS)
def test_reference_checkpoint_equals_torch_load(name):
  import torch
  path = reference_path(name)
  expected = _numpy_tree(torch.load(path, map_location="cpu", weights_only=True), torch)
  _assert_same_tree(torch_checkpoint.read(path), expected)


def _saved_objects(torch):
  """What the torch.save tests write: every dtype, layouts, nesting, wrappers."""
  g = torch.Generator().manual_seed(0)
  shared = torch.arange(12, dtype=torch.int32)
  grid = torch.randn(3, 4, 5, generator=g)
  state = collections.OrderedDict([("g_a.0.weight", torch.randn(2, 3, 3, 3, generator=g)),
                                   ("g_a.0.bias", torch.randn(2, generator=g))])
  return {
      "float32": torch.randn(7, generator=g),
      "float64": torch.randn(3, 2, generator=g, dtype=torch.float64),
      "float16": torch.randn(5, generator=g).half(),
      "bfloat16": torch.randn(6, generator=g).bfloat16(),
      "int64": torch.arange(-4, 4),
      "int32": shared,
      "int16": torch.arange(-300, 300, 100, dtype=torch.int16),
      "uint8": torch.arange(250, 256).to(torch.uint8),
      "int8": torch.arange(-128, -120).to(torch.int8),
      "bool": torch.tensor([True, False, True]),
      "transposed": grid.transpose(0, 2),
      "stepped": grid[:, ::2, 1::3],
      "expanded": torch.arange(3.0).expand(2, 3),
      "views of one storage": [shared[2:5], shared[7:].view(1, 5)],
      "scalar": torch.tensor(2.5),
      "empty": torch.zeros(0, 4),
      "parameter": torch.nn.Parameter(torch.ones(2)),
      "nested": {"list": [torch.ones(2), {"deep": (torch.arange(3), 4, "text", None, 1.5)}]},
      "size": grid.shape,
      "checkpoint": {"epoch": 3, "state_dict": state},
  }


@pytest.mark.torch
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_save_file_equals_torch_load(tmp_path, zip_format):
  import torch
  path = tmp_path / "saved.pth"
  torch.save(_saved_objects(torch), path, _use_new_zipfile_serialization=zip_format)
  with open(path, "rb") as f:
    assert (f.read(4) == b"PK\x03\x04") == zip_format
  expected = _numpy_tree(torch.load(path, weights_only=True), torch)
  got = torch_checkpoint.read(path)
  _assert_same_tree(got, expected)
  assert got["bfloat16"].dtype == np.float32
  assert not np.shares_memory(got["int32"], got["views of one storage"][0])


@pytest.mark.torch
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_wrapped_state_dict_equals_torch(tmp_path, zip_format):
  """{'epoch': 3, 'state_dict': OrderedDict(...)} unwraps to the state dict torch reads."""
  import torch
  state = _saved_objects(torch)["checkpoint"]
  path = tmp_path / "wrapped.pth.tar"
  torch.save(state, path, _use_new_zipfile_serialization=zip_format)
  sd = conversion.load_torch_state_dict(path)
  expected = torch.load(path, weights_only=True)["state_dict"]
  assert list(sd) == list(expected)
  for key, tensor in expected.items():
    _assert_bitwise_equal(sd[key], tensor.numpy(), key)


@pytest.mark.torch
@pytest.mark.parametrize("form", ["zip", "zip-big-endian", "legacy"])
def test_hand_made_checkpoint_is_what_torch_reads(tmp_path, form):
  """The hand-written files of the tests above are real checkpoints: torch.load reads
  them to the arrays expected of torch_checkpoint."""
  import torch
  path, expected = _hand_made(tmp_path, form)
  loaded = _numpy_tree(torch.load(path, weights_only=True), torch)
  assert list(loaded) == list(expected)
  for name, array in expected.items():
    _assert_bitwise_equal(loaded[name], array, name)
