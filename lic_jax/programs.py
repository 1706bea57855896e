"""The codec's compiled programs: each jitted function compiled once per argument
signature, with its compile time counted, and compiled ahead of its first call, in
parallel, where the signatures are known (`precompile_all`).

Compiled programs persist in JAX's compilation cache (`lic_jax.enable_compilation_cache`,
on wherever lic_jax codes), so a warm process traces and lowers them but does not
compile them again. (Executables serialized by lic_jax itself would spare the tracing
too, but XLA's CPU executables do not survive it: one compiled after others in a
process serializes without the kernels it shares with them, "Function ... not found"
when another process runs it; JAX's own cache stores them whole.)

`compile_seconds()` counts the seconds this process spends tracing, lowering,
compiling and loading programs (these and any other JAX compiles, from JAX's
monitoring events), so that a caller can report compile time apart from the time its
work took without running anything twice.
"""
import concurrent.futures
import contextlib
import functools
import os
import threading
import time

import jax

DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "lic_jax", "xla")
DEFAULT_MAX_MB = 2048

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


class Program:
  """`fn(fixed, *args, **kwargs)` jitted, with `fixed` (the weights) given once:
  compiled per signature of the other arguments, its compile time counted; int and
  str arguments are static. compiler_options: XLA options of this program (see
  `lic_jax.stages`)."""

  def __init__(self, fn, name, fixed, compiler_options=None):
    self.fn, self.name, self.fixed = fn, name, fixed
    self.compiler_options = compiler_options or None
    self._compiled, self._shapes = {}, {}

  def _split(self, args, kwargs):
    is_static = lambda a: isinstance(a, (int, str))
    static = tuple(i + 1 for i, a in enumerate(args) if is_static(a))
    static_names = tuple(sorted(k for k, v in kwargs.items() if is_static(v)))
    key = (static, static_names, signature((args, kwargs)))
    return key, static, static_names

  def _jitted(self, static, static_names):
    return jax.jit(self.fn, static_argnums=static, static_argnames=static_names,
                   compiler_options=self.compiler_options)

  def __call__(self, *args, **kwargs):
    key, static, static_names = self._split(args, kwargs)
    compiled = self._compiled.get(key) or self._compile(key, static, static_names, args,
                                                         kwargs)
    return compiled(self.fixed, *(a for i, a in enumerate(args) if i + 1 not in static),
                    **{k: v for k, v in kwargs.items() if k not in static_names})

  def _compile(self, key, static, static_names, args, kwargs):
    _listen()
    start, _inside.program = time.perf_counter(), True
    try:
      compiled = self._jitted(static, static_names).lower(self.fixed, *args, **kwargs).compile()
    finally:
      _inside.program = False
    self._compiled[key] = compiled
    _count(time.perf_counter() - start)
    return compiled

  def output_shape(self, *args, **kwargs):
    """The output ShapeDtypeStruct(s) for arguments of these shapes (arrays or
    ShapeDtypeStructs), without running it."""
    key, static, static_names = self._split(args, kwargs)
    if key in self._compiled:
      return self._compiled[key].out_info
    if key not in self._shapes:
      with compiling():  # a trace
        self._shapes[key] = jax.eval_shape(self._jitted(static, static_names), self.fixed,
                                           *args, **kwargs)
    return self._shapes[key]

  def precompile(self, *args, **kwargs):
    """Compiles the program for these arguments (arrays or ShapeDtypeStructs) now."""
    key, static, static_names = self._split(args, kwargs)
    if key not in self._compiled:
      self._compile(key, static, static_names, args, kwargs)


def precompile_all(calls, threads=2):
  """Compiles [(program, args, kwargs)] in `threads` threads: XLA compiles with the
  interpreter lock released, so two cores compile two programs at once."""
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    for future in [pool.submit(program.precompile, *args, **kwargs)
                   for program, args, kwargs in calls]:
      future.result()
