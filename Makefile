# The two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install services lint typecheck bench chat migrate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run: the whole system on embedded defaults (sandboxes, embedded Redis, SQLite). Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/python -m scripts.run_local

## test: every test, against real Redis, PostgreSQL and Celery workers (started here when down).
test: $(STAMP) services
	$(BIN)/python -m pytest

services:
	@bash scripts/ensure_services.sh

migrate: $(STAMP)
	$(BIN)/python -m common.db.migrate upgrade

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) services
	$(BIN)/python -m bench

## chat: talk to the bot running under `make run` as a Telegram user (ARGS='--chat-id ...' to change chat).
chat: $(STAMP)
	$(BIN)/python -m sandbox.chat $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
