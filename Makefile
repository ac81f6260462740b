# One-command set-up: `make demo` and `make test` create .venv, install, and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-numpy1 lint bench bench-deps bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test,torch,plots]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m convexnn.demo

# Two pytest-xdist workers (the CI machine's two cores): 318 s against about 600 s.
PYTEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

# The benchmark environment runs the library on NumPy 1.x (adelie pins numpy<2), which
# pyproject allows: the numerical core's tests run there too, so that a call only NumPy 2
# accepts cannot slip in (np.eye(..., device=) did, in the gated Newton step).
NP1_VENV ?= .venv-numpy1
NP1_PY := $(NP1_VENV)/bin/python
NP1_STAMP := $(NP1_VENV)/.installed

$(NP1_STAMP): pyproject.toml
	$(PYTHON) -m venv $(NP1_VENV)
	$(NP1_PY) -m pip install --quiet -e ".[test,torch]" "numpy<2"
	touch $(NP1_STAMP)

test-numpy1: $(NP1_STAMP)
	$(NP1_PY) -m pytest -q -n $(PYTEST_WORKERS) tests/solvers tests/patterns tests/test_duality.py tests/test_nnls.py tests/test_solve.py \
		tests/test_gated_network.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

# Peers for side-by-side benchmarks live in their own environment: adelie pins numpy<2 and
# pyscnn must be installed without its dependencies (see BENCHMARKS.md).
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet -e ".[test,torch,bench]" "numpy<2"
	$(BENCH_PY) -m pip install --quiet --no-deps pyscnn==0.0.10 linalg_backends==0.0.1b0
	touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

BENCHMARKS := $(wildcard benchmarks/bench_*.py)

bench: $(BENCH_STAMP)
	for b in $(BENCHMARKS); do $(BENCH_PY) $$b || exit 1; done

bench-quick: $(STAMP)
	for b in $(BENCHMARKS); do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(NP1_VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
