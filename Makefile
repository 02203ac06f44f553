# Two commands: `make run` (the service with demo data) and `make test` (the suite).
# Both create .venv from the pinned requirements on first use; only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench-sweep bench-ingest bench-api clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "mtxmonitor needs Python 3.11, found " + sys.version'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	./scripts/run.sh

# Runs on SQLite with no services; with DATABASE_URL / REDIS_URL set (as .ci/run does), on
# PostgreSQL and Redis, including the tests that start a real Celery worker.
test: $(VENV)/.installed
	$(BIN)/ruff check .
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-test-only-not-secret} $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Benchmarks (bench/README.md): PostgreSQL and Redis on this machine, databases named *bench*.
BENCH_ENV = DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mtxmonitor_bench} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} DJANGO_SECRET_KEY=bench-only
bench-sweep: $(VENV)/.installed
	$(BENCH_ENV) $(BIN)/python bench/bench_sweep.py
bench-ingest: $(VENV)/.installed
	$(BENCH_ENV) $(BIN)/python bench/bench_ingest.py
bench-api: $(VENV)/.installed
	$(BENCH_ENV) $(BIN)/python bench/bench_api_load.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .hypothesis
