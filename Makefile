# Two entry points: `make serve` (site only, no torch) and `make test` (everything).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The torch pin lives in pyproject.toml; it is installed first, alone, so pip
# takes the CPU wheel. Elsewhere set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
TORCH  := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
TORCH_INDEX_URL ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve build test browser node clean

serve: $(VENV)/.site-installed
	$(BIN)/mkdocs serve -a 127.0.0.1:8000

build: $(VENV)/.site-installed
	$(BIN)/mkdocs build --strict

test: $(VENV)/.all-installed browser node
	$(BIN)/python -m pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.site-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[site]'
	touch $@

$(VENV)/.all-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) '$(TORCH)'
	$(BIN)/pip install -e '.[site,export,test]'
	touch $@ $(VENV)/.site-installed

browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

# npm keeps node_modules/.package-lock.json: a tree newer than the lockfile is up to date.
node:
	@if [ -f package.json ]; then \
	  command -v npm >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y npm; }; \
	  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	    ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts; \
	  fi; \
	fi

clean:
	rm -rf site build .pytest_cache
