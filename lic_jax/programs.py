"""The codec's compiled programs: each jitted function compiled once per argument
signature, with its compile time counted, and kept on disk in a form that a later
process compiles from without tracing the model again.

A warm process still pays for JAX's tracing and lowering of every program before
JAX's persistent compilation cache can find its executable: a tenth of a second and
more per program of a full-size model, some 50 programs per image shape. So a
`Program` keeps each of its programs as a `jax.export.Exported` (StableHLO, JAX's
serialization with compatibility guarantees), keyed by what it depends on and known
without tracing: lic_jax's and the model's source code, JAX's version and backend,
the program's name, its compiler options, the shapes of the weights and of its other
arguments and its static arguments. A warm process deserializes it and compiles it,
and XLA's part comes from JAX's cache. Every process compiles a program from its
Exported (the first writes it, then compiles it like the others), so the encoder's
and the decoder's programs are the same wherever they were made. (Executables
serialized whole would spare the compile too, but XLA's CPU executables do not
survive it: one compiled after others in a process serializes without the kernels it
shares with them, "Function ... not found" when another process runs it.)

The programs live in $LIC_JAX_CACHE/programs (default ~/.cache/lic_jax/xla/programs;
$LIC_JAX_CACHE=off keeps nothing on disk), the newest kept within
$LIC_JAX_CACHE_MAX_MB megabytes (default 2048; JAX's cache, in $LIC_JAX_CACHE, gets
the same bound). A file that does not load is made again.

`compile_seconds()` counts the seconds this process spends tracing, lowering,
compiling and loading programs (these and any other JAX compiles, from JAX's
monitoring events), so that a caller can report compile time apart from the time its
work took without running anything twice.
"""
import contextlib
import functools
import hashlib
import json
import os
import sys
import tempfile
import threading
import time

import jax
import jaxlib.version
from jax import export

DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "lic_jax", "xla")
DEFAULT_MAX_MB = 2048
PROGRAMS = "programs"

# JAX's events of a compile: tracing, lowering, XLA (or its persistent cache).
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")
_lock = threading.Lock()
_compile_seconds = [0.0]
_inside = threading.local()  # a Program's compile counts itself, not its JAX events


def cache_dir():
  """The cache folder ($LIC_JAX_CACHE, default ~/.cache/lic_jax/xla), or None when
  $LIC_JAX_CACHE is "off"."""
  directory = os.environ.get("LIC_JAX_CACHE", DEFAULT_DIR)
  return None if directory.lower() == "off" else directory


def max_bytes():
  """The cache's size bound: $LIC_JAX_CACHE_MAX_MB megabytes (default 2048)."""
  return int(float(os.environ.get("LIC_JAX_CACHE_MAX_MB", DEFAULT_MAX_MB)) * 2 ** 20)


def compile_seconds():
  """Seconds this process has spent compiling (or loading compiled) programs."""
  _listen()
  return _compile_seconds[0]


def _count(seconds):
  with _lock:
    _compile_seconds[0] += seconds


@contextlib.contextmanager
def compiling():
  """Counts the time of the block as compile time (a compile `compile_seconds` would
  not see otherwise)."""
  start = time.perf_counter()
  try:
    yield
  finally:
    _count(time.perf_counter() - start)


@functools.lru_cache(maxsize=None)
def _listen():
  def on_event(event, seconds, **_):
    if event in _COMPILE_EVENTS and not getattr(_inside, "program", False):
      _count(seconds)
  jax.monitoring.register_event_duration_secs_listener(on_event)


def signature(tree):
  """The shapes and dtypes of a pytree's arrays and its structure (any other leaf,
  an int or a str, by value): two calls with equal signatures run one program."""
  leaves, treedef = jax.tree_util.tree_flatten(tree)
  return str(treedef), tuple(
      (tuple(leaf.shape), str(leaf.dtype)) if hasattr(leaf, "shape") else repr(leaf)
      for leaf in leaves)


@functools.lru_cache(maxsize=None)
def source_hash(*modules):
  """A hash of the source files of lic_jax and of `modules` (a model defined
  elsewhere): a program made from other code is another program."""
  digest = hashlib.sha256()
  package = os.path.dirname(os.path.abspath(__file__))
  files = sorted(os.path.join(folder, name) for folder, _, names in os.walk(package)
                 for name in names if name.endswith(".py"))
  files += [path for path in (getattr(sys.modules.get(m), "__file__", None) for m in modules)
            if path and not os.path.abspath(path).startswith(package)]
  for path in files:
    digest.update(path.encode())
    with open(path, "rb") as f:
      digest.update(f.read())
  return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _platform():
  device = jax.devices()[0]
  return [jax.__version__, jaxlib.version.__version__, device.platform, device.device_kind]


class ProgramFiles:
  """Serialized Exported programs, one file per key, the newest kept within `limit`
  bytes (written atomically: a reader never sees half a file)."""

  def __init__(self, directory, limit):
    self.directory, self.limit = os.path.join(directory, PROGRAMS), limit

  def _path(self, key):
    return os.path.join(self.directory, key + ".exported")

  def load(self, key):
    try:
      with open(self._path(key), "rb") as f:
        exported = export.deserialize(bytearray(f.read()))
      os.utime(self._path(key))  # recently used: kept longest
      return exported
    except FileNotFoundError:
      return None
    except Exception:  # noqa: BLE001 (another JAX wrote it, or it is damaged: make it again)
      return None

  def save(self, key, exported):
    os.makedirs(self.directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
    with os.fdopen(handle, "wb") as f:
      f.write(exported.serialize())
    os.replace(temporary, self._path(key))
    entries = []
    for name in os.listdir(self.directory):
      try:
        entries.append((os.stat(os.path.join(self.directory, name)), name))
      except FileNotFoundError:  # another process removed it
        pass
    total = sum(stat.st_size for stat, _ in entries)
    for stat, name in sorted(entries, key=lambda entry: entry[0].st_mtime):
      if total <= self.limit:
        break
      with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(self.directory, name))
        total -= stat.st_size


@functools.lru_cache(maxsize=None)
def _files(directory, limit):
  return ProgramFiles(directory, limit)


def program_files():
  """The program files of $LIC_JAX_CACHE, or None when it is off."""
  directory = cache_dir()
  return None if directory is None else _files(directory, max_bytes())


class Program:
  """`fn(fixed, *args, **kwargs)` jitted, with `fixed` (the weights) given once:
  compiled per signature of the other arguments (from its Exported, see the module
  doc), its compile time counted; int and str arguments are static.

  identity: what besides its name and arguments the program depends on (a model's
  class and config), part of its key; sources: modules whose code it runs beside
  lic_jax's (a model defined elsewhere). compiler_options: XLA options of this
  program (see `lic_jax.stages`).
  """

  def __init__(self, fn, name, fixed, identity=None, compiler_options=None, sources=()):
    self.fn, self.name, self.fixed, self.sources = fn, name, fixed, tuple(sources)
    self.compiler_options = compiler_options or None
    self.identity = json.dumps({"name": name, "identity": identity,
                                "options": compiler_options or {},
                                "fixed": signature(fixed)}, sort_keys=True, default=str)
    self._compiled, self._shapes = {}, {}

  def _split(self, args, kwargs):
    is_static = lambda a: isinstance(a, (int, str))
    static = tuple(i + 1 for i, a in enumerate(args) if is_static(a))
    static_names = tuple(sorted(k for k, v in kwargs.items() if is_static(v)))
    key = (static, static_names, signature((args, kwargs)))
    return key, static, static_names

  def _jitted(self, static, static_names):
    return jax.jit(self.fn, static_argnums=static, static_argnames=static_names)

  @staticmethod
  def _dynamic(args, kwargs, static, static_names):
    return ([a for i, a in enumerate(args) if i + 1 not in static],
            {k: v for k, v in kwargs.items() if k not in static_names})

  def __call__(self, *args, **kwargs):
    key, static, static_names = self._split(args, kwargs)
    compiled = self._compiled.get(key) or self._compile(key, static, static_names, args,
                                                         kwargs)
    dynamic, dynamic_kwargs = self._dynamic(args, kwargs, static, static_names)
    return compiled(self.fixed, *dynamic, **dynamic_kwargs)

  def _exported(self, key, static, static_names, args, kwargs):
    """The program as an Exported: from disk, else traced (and saved)."""
    files = program_files()
    file_key = hashlib.sha256(json.dumps([source_hash(*self.sources), _platform(),
                                          self.identity, repr(key)]).encode()).hexdigest()
    exported = files.load(file_key) if files else None
    if exported is None:
      exported = export.export(self._jitted(static, static_names))(self.fixed, *args, **kwargs)
      if files:
        files.save(file_key, exported)
    return exported

  def _compile(self, key, static, static_names, args, kwargs):
    _listen()
    start, _inside.program = time.perf_counter(), True
    try:
      exported = self._exported(key, static, static_names, args, kwargs)
      dynamic, dynamic_kwargs = self._dynamic(args, kwargs, static, static_names)
      jitted = jax.jit(exported.call, compiler_options=self.compiler_options)
      compiled = jitted.lower(self.fixed, *dynamic, **dynamic_kwargs).compile()
    finally:
      _inside.program = False
    self._compiled[key] = compiled
    self._shapes[key] = _output_shapes(exported)
    _count(time.perf_counter() - start)
    return compiled

  def output_shape(self, *args, **kwargs):
    """The output ShapeDtypeStruct(s) for arguments of these shapes (arrays or
    ShapeDtypeStructs), without running it (from its Exported when on disk)."""
    key, static, static_names = self._split(args, kwargs)
    if key not in self._shapes:
      with compiling():
        self._shapes[key] = _output_shapes(self._exported(key, static, static_names, args,
                                                          kwargs))
    return self._shapes[key]


def _output_shapes(exported):
  """An Exported's outputs as a tree of ShapeDtypeStructs."""
  return jax.tree_util.tree_unflatten(
      exported.out_tree, [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.out_avals])
