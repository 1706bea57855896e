# The two quick-start commands. Each creates .venv on first use and installs what it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,convert]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m lic_jax demo

test: $(VENV)/.installed
	$(PY) -m pytest -q
