# Two commands for a newcomer: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-data.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[data,dev]'
	scripts/install-data.sh
	touch $@

demo: setup
	$(BIN)/mudjack demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/vision_default.py

clean-venv:
	rm -rf $(VENV)
