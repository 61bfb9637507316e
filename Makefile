# make demo   run the demo site on http://127.0.0.1:8000 (SQLite in ./demo.db)
# make test   lint, type-check and run the whole test suite
# make bench  the per-request benchmarks and the banner's cost in Chromium
# make config-reference  rewrite the generated tables in docs/configuration.md
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: demo demo-traffic test lint typecheck bench docs browser clean config-reference

$(STAMP): pyproject.toml setup.py src/consentkit/_scan.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,postgres,docs]"
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

browser:
	sh scripts/ensure-chromium.sh

demo: $(STAMP)
	$(PY) -m examples.seed_site

demo-traffic: $(STAMP)
	$(PY) -m examples.seed_site --traffic

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples docs/hooks
	$(VENV)/bin/ruff format --check src

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) $(NODE_STAMP) browser lint typecheck
	$(VENV)/bin/pytest

config-reference: $(STAMP)
	$(PY) docs/hooks/config_reference.py

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

bench: $(STAMP) browser
	$(PY) benchmarks/bench_middleware.py
	$(PY) benchmarks/bench_compression.py
	$(PY) benchmarks/bench_autoblock.py
	$(PY) benchmarks/bench_frontend.py

# The browser scan of the whole demo site (Chromium; about a minute on 2 cores).
bench-scan: $(STAMP)
	$(PY) benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache site
