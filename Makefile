# Gestalt Live. `make run` serves a live map of this machine; `make test` runs every test
# against real components; `make bench` writes bench/results/*.json.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CONFIG ?= config/infrastructure.yaml
WEB_BUILT := src/gestalt/web/index.html

.PHONY: run test bench lint web services services-stop demo clean help image

help:
	@echo "make run      set up and serve the live map on http://127.0.0.1:8765/"
	@echo "make test     set up, start real components (Docker, NATS, ...), run all tests"
	@echo "make bench    run the benchmarks, results in bench/results/"
	@echo "make demo     a lively simulated cluster (kubesim) plus this machine"
	@echo "make image    build the container image (docs/deploy.md)"

$(INSTALLED): pyproject.toml requirements.lock scripts/bootstrap.sh
	scripts/bootstrap.sh $(PYTHON) $(VENV)
	@touch $@

web: $(INSTALLED)
	@if [ -f web/package.json ]; then scripts/build-web.sh; fi

run: $(INSTALLED) web
	$(BIN)/gestalt serve --config $(CONFIG)

demo: $(INSTALLED) web
	$(BIN)/gestalt demo

services:
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(INSTALLED) web services lint
	@if [ -f web/package.json ]; then cd web && npm test --silent; fi
	$(BIN)/python -m pytest

image:
	scripts/build-image.sh

bench: $(INSTALLED) web services
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) src/gestalt/web web/node_modules .pytest_cache
