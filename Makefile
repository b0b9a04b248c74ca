# Sijill — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
WORKERS ?= 1
export FLASK_APP := run.py

.PHONY: run test setup catalog bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# The catalog is compiled on every setup: a stale .mo can never be served.
catalog: $(VENV)/.installed
	$(BIN)/pybabel compile -d app/translations -D messages

setup: catalog

run: setup
	$(BIN)/flask sijill init --demo
	SCHEDULER_ENABLED=$${SCHEDULER_ENABLED:-1} $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --threads 4 --access-logfile - run:app

test: setup
	bash tests/run.sh

bench: setup
	$(BIN)/python bench/run.py --scale $${SCALE:-1}

clean:
	rm -rf $(VENV) .pytest_cache test-output
