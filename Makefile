# The two quick-start commands (`make demo`, `make test`): each creates .venv on first
# use, with the newest Python this machine has among 3.13, 3.12 and 3.11, and the
# newest JAX stack that resolves there (no TensorFlow), and upgrades it when
# pyproject.toml changes.
#
# CI (.ci/run) also runs the suite on Python 3.11 (test-py311: where torch has a CPU
# build, for the tests that check lic_jax against torch itself), and holds the numba
# range coder to TensorFlow's op, byte for byte, in the pinned environment TensorFlow
# 2.17 needs (test-tfc: JAX 0.5.3, numpy 1.26; pyproject.toml's `coder` extra).
EXTRAS := train,plot,progress,bdrate,classic,dev

# The first of these that runs: on PATH, or in pyenv's versions folder.
newest_python = $(shell for v in $(1); do \
  for p in $$(command -v python$$v) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python3 2>/dev/null | sort -V -r); do \
    $$p -c 'import sys' >/dev/null 2>&1 && { echo $$p; exit 0; }; done; done)
PYTHON ?= $(call newest_python,3.13 3.12 3.11)
PYTHON311 ?= $(call newest_python,3.11)

VENV := .venv
PY := $(VENV)/bin/python
# The versions a run used, in its log.
VERSIONS := import importlib.metadata as m, platform; print("python", platform.python_version()); \
  [print(p, m.version(p)) for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", \
  "numba", "numpy") + tuple(x for x in ("torch", "tensorflow", "tensorflow-compression-ops") \
  if __import__("importlib.util").util.find_spec(x.replace("-", "_")))]

.PHONY: demo test test-py311 test-tfc

# make_venv(folder, python, which python, extras, pip options)
define make_venv
	@test -n "$(2)" || { echo "no Python $(3) found (on PATH or in pyenv)"; exit 1; }
	test -x $(1)/bin/python || $(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(5) -e '.[$(4)]'
	touch $(1)/.installed
endef
# The newest of everything that resolves (each run upgrades what is there).
NEWEST := --upgrade --upgrade-strategy eager

$(VENV)/.installed: pyproject.toml
	$(call make_venv,$(VENV),$(PYTHON),3.11-3.13,$(EXTRAS),$(NEWEST))

demo: $(VENV)/.installed
	$(PY) -m lic_jax demo

# Every test but those about TensorFlow's op (test-tfc), and those that need torch
# where torch has no CPU build (Python 3.12 and 3.13).
test: $(VENV)/.installed
	@$(PY) -c '$(VERSIONS)'
	$(PY) -m pytest -q -m "$$($(PY) -c 'import importlib.util as u; print("not tfc" + ("" if u.find_spec("torch") else " and not torch"))')"

.venv-py311/.installed: pyproject.toml
	$(call make_venv,.venv-py311,$(PYTHON311),3.11,$(EXTRAS),$(NEWEST))

test-py311: .venv-py311/.installed
	@.venv-py311/bin/python -c '$(VERSIONS)'
	.venv-py311/bin/python -m pytest -q -m 'not tfc'

TFC_EXTRAS := coder,dev
.venv-tfc/.installed: pyproject.toml
	$(call make_venv,.venv-tfc,$(PYTHON311),3.11,$(TFC_EXTRAS))

# The coder tests (numba against TensorFlow's op on the same symbols and tables, and
# the codec's streams through either).
test-tfc: .venv-tfc/.installed
	@.venv-tfc/bin/python -c '$(VERSIONS)'
	.venv-tfc/bin/python -m pytest -q -m tfc
