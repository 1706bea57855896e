"""Reads PyTorch checkpoints (files written by torch.save) without torch, and without
running any code from the file. Tensors come back as numpy arrays.

A torch.save file is a pickle of the saved object in which every tensor is a call,
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`, and every
storage a persistent id, `('storage', torch.FloatStorage, key, location, numel)`,
that names raw bytes kept outside the pickle (newer torch also writes
`_rebuild_tensor_v3(...)` over a `torch.storage.UntypedStorage`, passing the dtype, for
dtypes without a storage class of their own). Two layouts hold the pieces:

- zip (torch >= 1.6): a zip archive with one top folder holding `data.pkl` (the
  pickle), `data/<key>` (each storage's raw bytes), `byteorder` (`little` or `big`;
  little when absent: older torch wrote none) and `version`.
- legacy (torch < 1.6, and `_use_new_zipfile_serialization=False`): pickles one after
  the other: the magic number 0x1950a86a20f9469cfc6c, the protocol version (1001), a
  dict about the saving machine, the object, the sorted list of storage keys; then,
  in that order, each storage as its element count (8 bytes, little-endian) and its
  bytes (little-endian; torch converted on big-endian machines). A persistent id may
  add `(view_key, offset, size)`: the storage is a slice of the root storage `key`.

Why no code runs: unpickling is running a small program whose GLOBAL opcode imports
any name and whose REDUCE opcode calls it (`os.system`, say). `_Unpickler.find_class`
answers GLOBAL from a fixed table instead: plain containers and scalars,
OrderedDict, and stand-ins for torch's tensor, parameter, storage, dtype, Size and
device that build numpy arrays and tuples. Anything else is refused by its name
before it is looked up, so nothing from the file is imported or called. (BUILD can
still set attributes on what the table made, as torch's state dicts carry their
`_metadata` on the OrderedDict; that calls nothing from the file.)

Tensors are copied out of the storages into new arrays (views into one storage,
strided or not, each get their own copy); bfloat16 becomes float32 (exactly),
torch.Size a tuple, torch.device its string. Storages are read after the pickle,
each once and only if a non-empty tensor uses it, and dropped once its tensors are
filled: besides the arrays, one storage at a time is in memory.

Over 250 lines: both layouts, the restricted unpickler and the stand-ins it builds
are one reader, checked against each other in one place.
"""
import collections
import io
import os
import pickle
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001


class CheckpointError(ValueError):
  """The file cannot be read as a checkpoint; the message names the file and says why."""

  def __init__(self, path, reason):
    super().__init__(f"{path} is not a readable PyTorch checkpoint: {reason}")
    self.path = path
    self.reason = reason


class _Unreadable(Exception):
  """Raised inside the reader, which does not know the path; `read` adds it."""

  def __init__(self, reason):
    super().__init__(reason)
    self.reason = reason


# torch dtype name -> numpy dtype of its stored bytes (little-endian). bfloat16 is
# read as its 16 bits and widened to float32; bool as bytes, nonzero -> True.
_STORED = {
    "float64": "<f8", "float32": "<f4", "float16": "<f2", "bfloat16": "<u2",
    "complex128": "<c16", "complex64": "<c8",
    "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "i1",
    "uint64": "<u8", "uint32": "<u4", "uint16": "<u2", "uint8": "u1", "bool": "u1",
}
_RETURNED = {"bfloat16": np.dtype(np.float32), "bool": np.dtype(np.bool_)}

# The legacy typed storage classes (torch.FloatStorage, ...) -> their dtype.
_STORAGE_CLASSES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


def _stored_dtype(dtype, big_endian):
  stored = np.dtype(_STORED[dtype])
  return stored.newbyteorder(">") if big_endian and stored.itemsize > 1 else stored


class _StorageType(collections.namedtuple("_StorageType", "dtype")):
  """Stands for a storage class (torch.FloatStorage, torch.UntypedStorage, ...)."""


class _Dtype(collections.namedtuple("_Dtype", "name")):
  """Stands for a torch dtype (torch.float32, ...), as _rebuild_tensor_v3 receives it."""


class _StorageView(collections.namedtuple("_StorageView", "key dtype start nbytes")):
  """What a storage's persistent id unpickles to: bytes [start, start + nbytes) of
  storage `key`, whose elements are `dtype`. Immutable, so the pickle cannot edit it."""


def _size(*args):
  """torch.Size(sizes) -> a tuple."""
  return tuple(*args)


def _device(*args):
  """torch.device('cuda', 0) or torch.device('cuda:0') -> 'cuda:0'."""
  return ":".join(str(a) for a in args)


def _encode(text, encoding="utf-8"):
  """_codecs.encode, with which protocol 2 pickles bytes objects (as latin-1 text)."""
  if not isinstance(text, str) or encoding.lower() not in (
      "latin1", "latin-1", "iso-8859-1", "utf-8", "utf8", "ascii"):
    raise _Unreadable(f"it encodes bytes as {encoding!r}, which no torch.save file does")
  return text.encode(encoding)


_PLAIN = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _encode,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    **{("builtins", t.__name__): t for t in (
        dict, list, tuple, set, frozenset, bytearray, bytes, str, int, float, complex,
        bool, slice)},
    **{(module, name): _StorageType(dtype) for name, dtype in _STORAGE_CLASSES.items()
       for module in ("torch", "torch.cuda")},
    **{(module, name): _StorageType("uint8") for name in ("UntypedStorage", "_UntypedStorage")
       for module in ("torch", "torch.storage")},
    **{("torch", name): _Dtype(name) for name in _STORED},
}
# Python 2 pickles (protocol 2 also when written by Python 3) name builtins `__builtin__`.
_PY2_MODULES = {"__builtin__": "builtins"}


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


class _Reader:
  """The storages and tensors one file declares, and the tensors' arrays, which are
  filled in once their storage's bytes are read.

  storage_bytes(key): how many bytes the file can hold for storage `key` (its zip
  record's size, or the legacy file's size), to refuse absurd sizes before anything
  is allocated.
  """

  def __init__(self, storage_bytes, big_endian=False, legacy=False):
    self.storage_bytes = storage_bytes
    self.big_endian = big_endian
    self.legacy = legacy
    self.storages = {}  # key -> (dtype, nbytes)
    self.waiting = {}  # key -> [(array, dtype, start byte, shape, byte strides)]

  def find(self, module, name):
    """The object GLOBAL `module.name` unpickles to, if it is one we allow."""
    module = _PY2_MODULES.get(module, module)
    if (module, name) in _PLAIN:
      return _PLAIN[module, name]
    if module == "torch._utils" and name in (
        "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
        "_rebuild_parameter", "_rebuild_parameter_with_state"):
      return getattr(self, name)
    raise _Unreadable(
        f"it refers to {module}.{name}, which this reader refuses: it reads tensors, "
        "storages and plain containers only, so that no code in the file can run. A "
        "checkpoint of a whole model or of other objects cannot be read; save the "
        "model's state_dict() with torch.save instead")

  def storage(self, pid):
    """The `_StorageView` a persistent id stands for; notes the storage it needs."""
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      if isinstance(pid, tuple) and pid and pid[0] == "module":
        raise _Unreadable("it holds a pickled model (torch.save(model)), not tensors: "
                          "save the model's state_dict() with torch.save instead")
      raise _Unreadable(f"it refers to {str(pid)[:80]}, which is not a storage")
    if len(pid) != (6 if self.legacy else 5):
      raise _Unreadable(f"a storage reference has {len(pid)} fields, not "
                        f"{6 if self.legacy else 5}")
    _, storage_type, key, _location, numel = pid[:5]
    if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not (
        _is_int(numel) and numel >= 0):
      raise _Unreadable(f"storage reference {str(pid)[:120]} is malformed")
    dtype = storage_type.dtype
    itemsize = np.dtype(_STORED[dtype]).itemsize
    nbytes = numel * itemsize
    if self.storages.setdefault(key, (dtype, nbytes)) != (dtype, nbytes):
      raise _Unreadable(f"storage {key!r} is declared twice, differently")
    available = self.storage_bytes(key)
    if nbytes > available:
      raise _Unreadable(f"storage {key!r} is declared as {nbytes} bytes, but the file "
                        f"has only {available} for it: it is truncated or damaged")
    start, size = 0, nbytes
    if self.legacy and pid[5] is not None:  # a slice of the root storage
      view = pid[5]
      if not (isinstance(view, tuple) and len(view) == 3 and _is_int(view[1])
              and _is_int(view[2]) and 0 <= view[1] and 0 <= view[2]
              and view[1] + view[2] <= numel):
        raise _Unreadable(f"storage view {str(view)[:80]} does not fit in storage {key!r} "
                          f"of {numel} elements")
      start, size = view[1] * itemsize, view[2] * itemsize
    return _StorageView(key, dtype, start, size)

  def _tensor(self, storage, offset, size, stride, dtype=None):
    """A new array for the tensor, registered to be filled from its storage."""
    if not isinstance(storage, _StorageView):
      raise _Unreadable(f"a tensor is built from {type(storage).__name__}, not a storage")
    dtype = storage.dtype if dtype is None else dtype
    shape, strides = tuple(size), tuple(stride)
    if not (_is_int(offset) and offset >= 0 and len(shape) == len(strides)
            and all(_is_int(n) and n >= 0 for n in shape)
            and all(_is_int(s) and s >= 0 for s in strides)):
      raise _Unreadable(f"a tensor has a malformed layout: offset {offset!r}, size "
                        f"{size!r}, stride {stride!r}")
    itemsize = np.dtype(_STORED[dtype]).itemsize
    empty = 0 in shape
    last = offset + sum((n - 1) * s for n, s in zip(shape, strides))  # its last element
    if not empty and (last + 1) * itemsize > storage.nbytes:
      raise _Unreadable(
          f"a tensor of shape {shape}, stride {strides} at offset {offset} needs "
          f"{(last + 1) * itemsize} bytes of storage {storage.key!r}, which has "
          f"{storage.nbytes}")
    array = np.empty(shape, _RETURNED.get(dtype, np.dtype(_STORED[dtype]).newbyteorder("=")))
    if not empty:
      self.waiting.setdefault(storage.key, []).append(
          (array, dtype, storage.start + offset * itemsize, shape,
           tuple(s * itemsize for s in strides)))
    return array

  # The stand-ins for torch._utils' rebuild functions, under their names.
  def _rebuild_tensor(self, storage, storage_offset, size, stride):
    return self._tensor(storage, storage_offset, size, stride)

  def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                         backward_hooks=None, metadata=None):
    return self._tensor(storage, storage_offset, size, stride)

  def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad,
                         backward_hooks, dtype, metadata=None):
    if not isinstance(dtype, _Dtype):
      raise _Unreadable(f"a tensor's dtype is {str(dtype)[:40]}, not a torch dtype")
    return self._tensor(storage, storage_offset, size, stride, dtype.name)

  def _rebuild_parameter(self, data, requires_grad, backward_hooks, state=None):
    if not isinstance(data, np.ndarray):
      raise _Unreadable(f"a parameter holds {type(data).__name__}, not a tensor")
    return data

  _rebuild_parameter_with_state = _rebuild_parameter

  def fill(self, key, buffer):
    """Copies storage `key`'s bytes into the arrays of the tensors that use it."""
    _, nbytes = self.storages[key]
    if len(buffer) < nbytes:
      raise _Unreadable(f"storage {key!r} holds {len(buffer)} bytes, its tensors need "
                        f"{nbytes}: the file is truncated or damaged")
    for array, tensor_dtype, start, shape, strides in self.waiting.pop(key, ()):
      try:  # the ndarray constructor checks that the view lies within the buffer
        stored = np.ndarray(shape, _stored_dtype(tensor_dtype, self.big_endian), buffer,
                            start, strides)
      except ValueError as e:
        raise _Unreadable(f"a tensor does not fit in storage {key!r} ({e})") from e
      if tensor_dtype == "bfloat16":  # the high half of a float32
        array.view(np.uint32)[...] = stored.astype(np.uint32) << 16
      elif tensor_dtype == "bool":
        np.not_equal(stored, 0, out=array)
      else:
        array[...] = stored


class _Unpickler(pickle.Unpickler):
  """Unpickles with GLOBAL answered by `_Reader.find` and persistent ids by
  `_Reader.storage`; without a reader, persistent ids are refused."""

  def __init__(self, file, reader=None):
    super().__init__(file, encoding="utf-8")
    self.reader = reader or _Reader(lambda key: 0)
    self.accepts_storages = reader is not None

  def find_class(self, module, name):
    return self.reader.find(module, name)

  def persistent_load(self, pid):
    if not self.accepts_storages:
      raise _Unreadable("a storage appears where the format has none")
    return self.reader.storage(pid)


def _unpickle(file, reader=None, what="pickled data"):
  """One object from `file`; damage of any kind becomes `_Unreadable`."""
  try:
    return _Unpickler(file, reader).load()
  except _Unreadable:
    raise
  except Exception as e:  # a damaged pickle fails in many ways
    raise _Unreadable(f"its {what} is damaged ({type(e).__name__}: "
                      f"{str(e).splitlines()[0][:200] if str(e) else ''})") from e


def _read_zip(file):
  try:
    archive = zipfile.ZipFile(file)
  except (zipfile.BadZipFile, EOFError, ValueError) as e:  # e.g. the end is cut off
    raise _Unreadable("it is a truncated or damaged zip archive (its table of contents, "
                      "at the end, is missing or unreadable)") from e
  with archive:
    try:
      return _read_archive(archive)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as e:  # a bad CRC, a cut record, an unknown compression
      raise _Unreadable(f"it is a truncated or damaged zip archive ({e})") from e


def _read_archive(archive):
  names = archive.namelist()
  tops = {n.split("/")[0] for n in names if n.count("/") == 1
          and n.endswith(("/data.pkl", "/constants.pkl"))}
  if any(f"{top}/constants.pkl" in names for top in tops):
    raise _Unreadable("it is a TorchScript archive (torch.jit.save), not a torch.save "
                      "file: save the model's state_dict() with torch.save instead")
  if len(tops) != 1:
    raise _Unreadable("it is a zip archive, but not one written by torch.save (it "
                      f"has {len(tops)} top folders with a data.pkl, not 1)")
  top = tops.pop()
  byteorder = archive.read(f"{top}/byteorder") if f"{top}/byteorder" in names else b"little"
  if byteorder not in (b"little", b"big"):
    raise _Unreadable(f"its byte order is {byteorder[:20]!r}, neither little nor big")

  def record_size(key):
    try:
      return archive.getinfo(f"{top}/data/{key}").file_size
    except KeyError:
      raise _Unreadable(f"it has no record {top}/data/{key} for a storage it uses") from None

  reader = _Reader(record_size, big_endian=byteorder == b"big")
  obj = _unpickle(io.BytesIO(archive.read(f"{top}/data.pkl")), reader, "data.pkl")
  for key in list(reader.waiting):  # each storage once, in the order first used
    reader.fill(key, archive.read(f"{top}/data/{key}"))
  return obj


def _skip_legacy_magic(file):
  """Whether `file` starts with the legacy format's magic number; if so, leaves the
  file just after it."""
  head = io.BytesIO(file.read(64))  # the magic pickle is 15-30 bytes
  try:
    magic = _Unpickler(head).load()
  except Exception:  # noqa: BLE001 - any failure: not the magic pickle
    return False
  if not (_is_int(magic) and magic == LEGACY_MAGIC):
    return False
  file.seek(head.tell())
  return True


def _read_legacy(file, file_size):
  protocol = _unpickle(file, what="header")
  if protocol != LEGACY_PROTOCOL:
    raise _Unreadable(f"its legacy protocol version is {protocol!r}, not {LEGACY_PROTOCOL}")
  _unpickle(file, what="header")  # sys_info: the data is little-endian regardless
  reader = _Reader(lambda key: file_size, legacy=True)
  obj = _unpickle(file, reader)
  keys = _unpickle(file, what="list of storages")
  if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
    raise _Unreadable("its list of storages is damaged")
  for key in keys:
    if key not in reader.storages:
      raise _Unreadable(f"it lists storage {key!r}, which nothing in it uses")
    dtype, nbytes = reader.storages[key]
    count = file.read(8)
    if len(count) < 8:
      raise _Unreadable(f"it ends before storage {key!r}: it is truncated")
    numel = int.from_bytes(count, "little", signed=True)
    if numel * np.dtype(_STORED[dtype]).itemsize != nbytes:
      raise _Unreadable(f"storage {key!r} holds {numel} elements, its tensors declare "
                        f"{nbytes // np.dtype(_STORED[dtype]).itemsize}")
    if key in reader.waiting:
      reader.fill(key, file.read(nbytes))
    else:
      file.seek(nbytes, os.SEEK_CUR)
  if reader.waiting:
    raise _Unreadable("storages " + ", ".join(map(repr, reader.waiting)) + " are used "
                      "but not in the file")
  if file.tell() > file_size:
    raise _Unreadable("it ends inside its last storage: it is truncated")
  return obj


def read(path):
  """The object a torch.save file holds, with every tensor (and parameter) a new numpy
  array, torch.Size a tuple and torch.device a string; dicts and OrderedDicts stay
  what they were. Reads the zip and the legacy format; runs no code from the file.

  Raises CheckpointError when the file is not a checkpoint, is truncated or damaged,
  or holds anything but tensors and plain containers; OSError (FileNotFoundError, ...)
  when it cannot be opened.
  """
  path = os.fspath(path)
  with open(path, "rb") as file:
    file_size = os.fstat(file.fileno()).st_size
    try:
      if file.read(4) == b"PK\x03\x04":
        file.seek(0)
        return _read_zip(file)
      file.seek(0)
      if _skip_legacy_magic(file):
        return _read_legacy(file, file_size)
      raise _Unreadable(
          "it is not a PyTorch checkpoint at all, neither a zip archive (torch.save since "
          "torch 1.6) nor torch's legacy format (its magic number is missing)")
    except _Unreadable as e:
      raise CheckpointError(path, e.reason) from e.__cause__
