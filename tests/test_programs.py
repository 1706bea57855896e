"""lic_jax.programs: a program is traced once per argument signature, kept on disk as
an Exported that a later process compiles without tracing the model again, made
again when its file is damaged or its code changed, and counted as compile time;
$LIC_JAX_CACHE=off keeps nothing on disk. And the persistent cache is on wherever
lic_jax codes."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lic_jax
from lic_jax import programs


class Traced:
  """fn(weights, x, k) = tanh(x @ w) * k, counting how often JAX traces it."""

  def __init__(self):
    self.traces = 0

  def __call__(self, weights, x, k=2):
    self.traces += 1
    return jnp.tanh(x @ weights["w"]) * k


WEIGHTS = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(8, 8)), jnp.float32)}
X = jnp.ones((4, 8), jnp.float32)


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv("LIC_JAX_CACHE", str(tmp_path))
  return tmp_path


def program(fn, identity="test"):
  return programs.Program(fn, "traced", WEIGHTS, identity)


def test_a_later_process_compiles_from_disk_without_tracing(cache):
  fn = Traced()
  first = program(fn)
  out = first(X, k=3)
  np.testing.assert_allclose(out, np.tanh(np.asarray(X) @ np.asarray(WEIGHTS["w"])) * 3,
                             rtol=1e-6)
  first(X * 2, k=3)  # same signature: no new trace
  assert fn.traces == 1
  first(jnp.ones((2, 8)), k=3)  # another shape; another static value
  first(X, k=4)
  assert fn.traces == 3 and len(os.listdir(cache / programs.PROGRAMS)) == 3
  # A fresh Program (as in another process) with the same identity: from the files.
  again = Traced()
  np.testing.assert_array_equal(program(again)(X, k=3), out)
  assert program(again).output_shape(jax.ShapeDtypeStruct((2, 8), jnp.float32), k=3).shape == (
      2, 8)
  assert again.traces == 0
  # Another identity (another model, or its code changed): traced anew.
  program(again, identity="other")(X, k=3)
  assert again.traces == 1


def test_a_damaged_file_is_made_again(cache):
  program(Traced())(X, k=3)
  (path,) = (cache / programs.PROGRAMS).iterdir()
  path.write_bytes(b"not an Exported")
  fn = Traced()
  assert float(program(fn)(X, k=3)[0, 0]) == pytest.approx(
      float(np.tanh(np.asarray(X) @ np.asarray(WEIGHTS["w"]))[0, 0] * 3), rel=1e-6)
  assert fn.traces == 1 and path.read_bytes() != b"not an Exported"


def test_off_keeps_nothing_on_disk(tmp_path, monkeypatch):
  monkeypatch.setenv("LIC_JAX_CACHE", "off")
  assert programs.cache_dir() is None and programs.program_files() is None
  assert lic_jax.enable_compilation_cache() is None
  np.testing.assert_allclose(program(Traced())(X, k=3), program(Traced())(X, k=3))
  assert not list(tmp_path.iterdir())


def test_compile_time_is_counted(cache):
  """Tracing, compiling, and compiling from a file count; running does not."""
  start = programs.compile_seconds()
  first = program(Traced())
  first(jnp.ones((3, 8)), k=5)
  after_compile = programs.compile_seconds()
  assert after_compile > start
  first(jnp.ones((3, 8)), k=5)
  assert programs.compile_seconds() == after_compile
  program(Traced())(jnp.ones((3, 8)), k=5)  # a new Program: from its file
  assert programs.compile_seconds() > after_compile


def test_the_persistent_cache_is_on_where_lic_jax_codes(cache, monkeypatch):
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_compilation_cache_max_size")
  before = {name: getattr(jax.config, name) for name in names}
  monkeypatch.setenv("LIC_JAX_CACHE_MAX_MB", "64")
  try:
    assert lic_jax.enable_compilation_cache() == str(cache)
    assert [getattr(jax.config, name) for name in names] == [str(cache), 0.0, 64 * 2 ** 20]
  finally:  # the rest of the session keeps its own cache
    for name, value in before.items():
      jax.config.update(name, value)
