# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run serve test bench lint setup clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/python -m disclosure.instance init
	DISCLOSURE_DEV=1 $(BIN)/flask db upgrade
	DISCLOSURE_DEV=1 $(BIN)/flask keys init
	DISCLOSURE_DEV=1 $(BIN)/flask demo seed

# Development server on plain http://127.0.0.1:5000 (DISCLOSURE_DEV relaxes the Secure cookie for it only), with a
# job worker beside it (bundles are built by jobs); stopping the server stops the worker.
run: setup
	DISCLOSURE_DEV=1 $(BIN)/flask jobs worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DISCLOSURE_DEV=1 $(BIN)/flask run --host 127.0.0.1 --port 5000

# Production server: gunicorn (gunicorn.conf.py) on the configured database, the SQLite file in instance/ unless
# DISCLOSURE_DATABASE_URL says otherwise, after its migrations. It creates no keys and seeds nothing: run
# `flask keys init` once (or restore the organisation's keys) before serving; /ready says whether they are in place.
serve: $(STAMP)
	$(BIN)/python -m disclosure.instance init
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Each benchmark prints its figures with their ratios to DESIGN's anchors and ends with one JSON line.
bench: $(STAMP)
	$(BIN)/python bench/audit_bench.py
	$(BIN)/python bench/proof_bench.py
	$(BIN)/python bench/cases_bench.py
	$(BIN)/python bench/bundle_bench.py
	$(BIN)/python bench/blob_bench.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/soak_bench.py
	$(BIN)/python bench/signin_contention_bench.py

# ruff everywhere; mypy on the package, strict on the cores and every service (pyproject.toml says which).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
