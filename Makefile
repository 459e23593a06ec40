# Two commands for a fresh machine: `make run` and `make test`. Both idempotent and quick once set up.
# `make test-quick` is the developer's inner loop (tests not marked `slow`: under 5 minutes on 2 cores).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Where no NVIDIA GPU is visible, install the CPU build of torch first (no multi-GB CUDA download);
# on a GPU machine the pyproject range resolves to a CUDA build.
TORCH_CPU ?= torch==2.13.0
STAMP  := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-quick test-slow setup setup-dev tracking demo bench clean wheel-smoke lint

# `make run` installs only what running needs; `make test` / `lint` / `bench` add the dev extra
# (pytest, ruff, mypy, keras, tensorboard, mlflow, psycopg) on top, once.
setup: $(STAMP)
setup-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install --quiet "$(TORCH_CPU)"; fi
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

# the optional tracking back ends (tensorboard, mlflow) for `--log` and the Train panel's "Log to"
tracking: setup
	$(PY) -m pip install --quiet -e ".[tracking]"

run: setup
	$(VENV)/bin/rnn-studio run-or-demo

demo: setup
	$(VENV)/bin/rnn-studio demo

PYTEST := QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test: setup-dev
	$(PYTEST) $(PYTEST_ARGS)

# every change: engine, CLI, offscreen GUI basics; the tests marked `slow` (real CLI processes, training,
# servers, Xvfb) are left to `make test-slow`, `make test` and CI
test-quick: setup-dev
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

test-slow: setup-dev
	$(PYTEST) -m slow $(PYTEST_ARGS)

# ruff (lint + format check) and mypy, configured in pyproject.toml
lint: setup-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy engine exports

bench: setup-dev
	for f in tests/benchmarks/bench_*.py; do echo "== $$f"; QT_QPA_PLATFORM=offscreen $(PY) $$f || exit 1; done

# Build the wheel, install it outside the repository into a fresh venv, run --version/demo/gui there.
wheel-smoke: setup
	bash .ci/wheel-smoke $(PY)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
