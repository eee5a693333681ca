# The two commands of the README: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: run test lint install bench clean docs

run: $(STAMP)
	$(BIN)/klvae train

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff (lint and format) over the sources, tests and benchmarks, then mypy over src/ (settings in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

install: $(STAMP)

# torch==2.13.0 is this machine's local CPU build; an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# the documentation site, offline, in docs/_build/html (needs apt's libjs-mathjax; .ci/run installs it):
# the docs pages' examples run as doctests, then Sphinx runs the gallery and fails on any warning
DOCS_STAMP := $(VENV)/.installed-docs
SPHINXOPTS ?= -W --keep-going -q

docs: $(DOCS_STAMP)
	$(BIN)/python -m pytest docs --doctest-glob='*.rst' --ignore=docs/auto_examples --ignore=docs/_build -q -p no:cacheprovider
	$(BIN)/sphinx-build -b html $(SPHINXOPTS) -j 2 docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,docs]"
	touch $(DOCS_STAMP)

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs docs/_build
