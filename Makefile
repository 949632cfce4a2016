# django-fortress: `make demo` generates and serves a project with the defaults; `make test` runs the
# template's whole test suite, `make test-fast` all of it but the tests that need root, a system
# server or a browser. They bootstrap .venv (the template's own tools) on first use.

SHELL := /bin/sh
# Copier and the template's tools run on any Python 3.11+; the generated projects need 3.12+ and
# find it with scripts/find-python.
PYTHON ?= python3
VENV := .venv
DEST ?= demo
# More workers than cores keeps the cores busy while tests wait on subprocesses.
TEST_WORKERS ?= auto
# The tiers are pytest markers (pyproject.toml); test-fast deselects them, it never skips them.
FAST_TIER := not root and not servers and not browser

.PHONY: demo machine test test-fast mutants check-answers lint requirements bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "make needs Python 3.11+ as PYTHON")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --group dev
	touch $@

demo: $(VENV)/.installed
	VENV=$(VENV) scripts/demo "$(DEST)"

# What the machine lacks (servers, Chromium, Python 3.12+), listed before anything runs.
machine:
	@scripts/check-machine

test: machine $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup -m "$(FAST_TIER)"

# The named mutants of tests/mutants.py, each run against the tests that must catch it: before each
# release (docs/testing.md records the score). About 15 minutes on 2 cores.
mutants: $(VENV)/.installed
	$(VENV)/bin/python scripts/mutation-run

# Every problem of a Copier data file at once: make check-answers DATA=company.yml
check-answers: $(VENV)/.installed
	$(VENV)/bin/python scripts/check-answers $(DATA)

requirements: $(VENV)/.installed
	scripts/compile-requirements

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/copier_copy.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/copier_update.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/login.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/lockout.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/requests.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/connection_restart.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/connection_check.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/connection_cost.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/middleware.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/login_load.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/project_suite.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/signup_enumeration.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/backup.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/worker_startup.py --write docs/performance.md
	$(VENV)/bin/python benchmarks/template_suite.py --write docs/performance.md

clean:
	rm -rf $(VENV) .cache
