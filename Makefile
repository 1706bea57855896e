# The two quick-start commands. Each creates .venv on first use and installs what it needs:
# the pinned environment, with both range coder implementations (numba, and
# TensorFlow's op from the `coder` extra, which the tests hold numba to).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

# test-latest: the same code on the newest JAX, flax, optax, orbax-checkpoint, grain,
# numba and numpy that resolve, without TensorFlow (how GPU/TPU users install), running
# every test but those about TensorFlow's op (marked tfc). The venv is kept; each run
# upgrades it to the newest.
VENV_LATEST := .venv-latest
PY_LATEST := $(VENV_LATEST)/bin/python

.PHONY: demo test test-latest

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[coder,train,plot,progress,bdrate,classic,dev,convert]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m lic_jax demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-latest:
	test -x $(PY_LATEST) || $(PYTHON) -m venv $(VENV_LATEST)
	$(PY_LATEST) -m pip install --quiet --upgrade pip
	$(PY_LATEST) -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[train,plot,progress,bdrate,classic,dev,convert]'
	@$(PY_LATEST) -c 'import importlib.metadata as m, importlib.util as u, platform; \
	  print("python", platform.python_version()); \
	  [print(p, m.version(p)) for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "numba", "numpy", "torch")]; \
	  tf = [p for p in ("tensorflow", "tensorflow_compression_ops") if u.find_spec(p)]; \
	  assert not tf, f"{tf} installed in $(VENV_LATEST): it must stay without the coder"'
	$(PY_LATEST) -m pytest -q -m 'not tfc'
