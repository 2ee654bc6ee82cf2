# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BASE   := $(VENV)/.installed-base
FULL   := $(VENV)/.installed-test
DOCS   := $(VENV)/.installed-docs
DOCS_PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: install demo test bench bench-gpu compare docs clean

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

# nyang vs PyTorch, interleaved in one process; writes bench_*.json and bench_*.md,
# then whole models (one process per workload); writes bench.json and bench.md;
# then images/s through ImageFolder + augmentation with 0 and 2 workers
bench: $(FULL)
	$(PY) -m benchmarks.bench_layers
	$(PY) -m benchmarks.bench_models
	$(PY) -m benchmarks.bench_data

# nyang on CuPy vs PyTorch CUDA, interleaved in one process; writes bench_gpu.json and
# bench_gpu.md. Needs an NVIDIA GPU (it says so and stops without one); installs CuPy
# (the cuda extra) first when nvidia-smi sees a GPU and CuPy is missing.
bench-gpu: $(FULL)
	@if command -v nvidia-smi >/dev/null 2>&1 && ! $(PY) -c "import cupy" 2>/dev/null; then \
		$(PY) -m pip install --quiet -e ".[cuda]"; fi
	$(PY) -m benchmarks.bench_gpu

# the `make demo` recipe trained in nyang and PyTorch side by side; writes runs/compare-digits-cnn/
compare: $(FULL)
	$(PY) -m nyang compare --data digits --model cnn --epochs 30 --patience 8

# The documentation site (API reference, concepts, playgrounds) on http://127.0.0.1:$(DOCS_PORT);
# without fastReruns a click waits for the running page to stop (a training run ends its epoch first)
$(DOCS): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@ $(BASE)

docs: $(DOCS)
	$(PY) -m streamlit run docs/app.py --server.address 127.0.0.1 --server.port $(DOCS_PORT) \
		--server.headless true --browser.gatherUsageStats false \
		--runner.fastReruns false --client.toolbarMode minimal

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
