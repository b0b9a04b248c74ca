# Sijill — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
WORKERS ?= 1
export FLASK_APP := run.py

.PHONY: run test setup catalog catalog-update bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# The catalog is compiled on every setup: a stale .mo can never be served.
catalog: $(VENV)/.installed
	$(BIN)/pybabel compile -d app/translations -D messages

# After adding or changing strings: extract every msgid (the app's and FAB's,
# see babel.cfg) into messages.pot and merge it into the Arabic catalog,
# keeping its translations; then translate what tests/test_i18n.py names.
catalog-update: $(VENV)/.installed
	$(BIN)/python -m app.catalog app/translations/messages.pot
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations -D messages -l ar --no-fuzzy-matching --ignore-obsolete -w 100

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
