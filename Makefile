# `make test` installs everything the tests need (Debian's chromium included) and runs them all.
PYTHON ?= python3

.PHONY: install test test-deps lint site clean

install:
	$(PYTHON) -m pip install -e .

test-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
	$(PYTHON) -m pip install -q -e ".[test]"
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq npm; }
	npm install --no-save --no-audit --no-fund --silent --prefix build/npm axe-core@4

lint:
	$(PYTHON) -m ruff check zoo_site tests $(wildcard benchmarks)
	$(PYTHON) -m ruff format --check zoo_site tests $(wildcard benchmarks)
	$(PYTHON) -m mypy

test: test-deps lint
	$(PYTHON) -m pytest -q

site: install
	zoo-site build

clean:
	rm -rf site .zoo-site-cache dist build *.egg-info
