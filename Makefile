# Two commands matter: `make dev` runs the product locally, `make test` runs every test.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: dev test install clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

dev: $(STAMP)
	$(PY) -m infra.dev

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .local build .pytest_cache
