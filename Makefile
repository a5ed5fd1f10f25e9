# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# What is installed comes from the hash-locked, fully resolved *.lock files (every
# package, every dependency, each with its sha256), never from the loose *.txt pins:
# a changed or substituted file on the index fails the install instead of running.
# requirements.lock is production's (requirements.txt); requirements-dev.lock adds the
# local servers (requirements-local.txt) and the test tools (requirements-dev.txt).
LOCK := requirements-dev.lock
UV ?= $(VENV)/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes

.PHONY: run test lint format bench install clean messages lock

$(STAMP): requirements.lock requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	touch $(STAMP)

# After editing a requirements*.txt: re-resolve both locks (needs the network), then
# `make test`. Pins already in the .txt files are kept; only new ones are resolved.
lock: $(STAMP)
	$(UV_COMPILE) -o requirements.lock requirements.txt
	$(UV_COMPILE) -o requirements-dev.lock requirements-dev.txt

install: $(STAMP)

run: $(STAMP)
	$(PY) -m amparo.devserver

# pytest exits 5 when it collects nothing; that is a failure here, as any other.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) -m bench

# Translations: .po sources and compiled .mo files are both committed, so a
# fresh machine needs no gettext tools. After editing a .po, run this (needs msgfmt).
messages: export DEBUG = true
messages: $(STAMP)
	$(PY) manage.py makemessages -l es --ignore ".venv/*" --ignore "var/*" --ignore "tests/*" --ignore "bench/*" --ignore "static/vendor/*" --no-obsolete
	$(PY) manage.py makemessages -d djangojs -l es --ignore ".venv/*" --ignore "var/*" --ignore "static/vendor/*" --no-obsolete
	$(PY) manage.py compilemessages --ignore ".venv/*"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
