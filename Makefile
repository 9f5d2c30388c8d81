# The two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The message catalogues (docs/i18n.md): .po sources in git, .mo compiled here, never committed.
PO := $(wildcard common/i18n/locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
READY := $(STAMP) $(MO)

.PHONY: run test chaos install services lint typecheck bench chat migrate lock clean beat-now i18n

# The locked versions (requirements/dev.txt), then the project itself without resolving anything again.
$(STAMP): pyproject.toml requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

$(MO): %.mo: %.po $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

install: $(READY)

## i18n: extract the messages from the code, merge them into every .po, compile (then translate what is new).
i18n: $(STAMP)
	$(BIN)/python -m scripts.i18n update

## run: the whole system on embedded defaults (sandboxes, embedded Redis, SQLite). Ctrl-C stops it.
run: $(READY)
	$(BIN)/python -m scripts.run_local

## test: every test but the chaos suite, against real Redis, PostgreSQL and Celery workers (started when down).
test: $(READY) services
	$(BIN)/python -m pytest -m "not chaos"

## chaos: the fault-injection suite (killed workers, Redis and PostgreSQL outages, hostile peers); slow.
chaos: $(READY) services
	$(BIN)/python -m pytest -m chaos

services:
	@bash scripts/ensure_services.sh

migrate: $(READY)
	$(BIN)/python -m common.db.migrate upgrade

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m scripts.i18n check

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(READY) services
	$(BIN)/python -m bench

## chat: talk to the bot running under `make run` as a Telegram user (ARGS='--chat-id ...' to change chat).
chat: $(READY)
	$(BIN)/python -m sandbox.chat $(ARGS)

## beat-now: fire one beat entry now, as beat does, on the stack `make run` is running; wait for its check-in.
ENTRY ?= sentry-cleanup-weekly-test-issues
WAIT ?= 60
STATE_DIR ?= var
beat-now: $(STAMP)
	@test -f $(STATE_DIR)/make-run.env || { echo "no $(STATE_DIR)/make-run.env: is \`make run\` running? (elsewhere: python scripts/beat_now.py --help)"; exit 2; }
	@set -a && . $(STATE_DIR)/make-run.env && set +a && $(BIN)/python scripts/beat_now.py $(ENTRY) --wait $(WAIT)

## lock: re-resolve requirements/prod.txt (the image) and requirements/dev.txt (make run/test) from pyproject.toml.
LOCK_FLAGS := --quiet --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host
lock: $(STAMP)
	$(BIN)/pip-compile $(LOCK_FLAGS) --output-file requirements/prod.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev --extra local --output-file requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(MO)
