# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench proof install clean messages

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

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

# Security figures (SECURITY.md): IDOR matrix, plaintext canaries, fuzzing, backup
# drill, on throwaway PostgreSQL and Redis; writes var/proof.json and README's table.
proof: $(STAMP)
	$(PY) -m proof

# Translations: .po sources and compiled .mo files are both committed, so a
# fresh machine needs no gettext tools. After editing a .po, run this (needs msgfmt).
messages: export DEBUG = true
messages: $(STAMP)
	$(PY) manage.py makemessages -l es --ignore ".venv/*" --ignore "var/*" --ignore "tests/*" --ignore "bench/*" --ignore "static/vendor/*" --no-obsolete
	$(PY) manage.py makemessages -d djangojs -l es --ignore ".venv/*" --ignore "var/*" --ignore "static/vendor/*" --no-obsolete
	$(PY) manage.py compilemessages --ignore ".venv/*"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
