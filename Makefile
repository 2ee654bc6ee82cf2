# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BASE   := $(VENV)/.installed-base
FULL   := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: install demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only: enough for the demo.
$(BASE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

# Everything the CPU test suite needs (torch is the oracle).
$(FULL): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@ $(BASE)

install: $(FULL)

demo: $(BASE)
	$(PY) examples/digits_cnn.py

test: $(FULL)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# nyang vs PyTorch, interleaved in one process; writes bench_*.json and bench_*.md
bench: $(FULL)
	$(PY) -m benchmarks.bench_layers

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
