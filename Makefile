# Every target creates and reuses .venv; `make test` and `make serve` are the
# two set-up commands of the README and need nothing but python3 (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv test test-fast serve lint format protos bench clean

venv: $(STAMP)

# Reinstall whenever pyproject.toml changes. torch==2.13.0 resolves to the CPU
# build; the pin keeps pip from pulling the CUDA wheels.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "game-agent needs Python >= 3.11, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite without the long learning, fault and load tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

serve: $(STAMP)
	$(BIN)/game-agent serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

protos: $(STAMP)
	$(BIN)/python -m protos.generate

bench: $(STAMP)
	$(BIN)/python -m benchmarks.kernel_bench --out BENCHMARKS.kernels.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
