# exchange-stress-test: the two commands users rely on are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

EXCHANGE ?= binance
SCENARIO ?= default
DURATION ?=
USERS ?=
SIM_CONFIG ?=
HOST ?=
WORKERS ?=
THRESHOLDS ?=

.PHONY: run ui test test-fast lint sim bench clean venv dev

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@# Make the repo's packages importable from the venv (no build step needed).
	$(PY) -c 'import os, sysconfig; open(os.path.join(sysconfig.get_path("purelib"), "exchange_stress_test.pth"), "w").write(os.getcwd() + "\n")'
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP)
dev: $(DEV_STAMP)

# The runner's options from the variables set; make echoes the command as one line.
RUN_ARGS = --exchange "$(EXCHANGE)" --scenario "$(SCENARIO)" $(if $(DURATION),--duration "$(DURATION)") \
	$(if $(USERS),--users "$(USERS)") $(if $(SIM_CONFIG),--sim-config "$(SIM_CONFIG)") \
	$(if $(HOST),--host "$(HOST)") $(if $(WORKERS),--workers "$(WORKERS)") \
	$(if $(THRESHOLDS),--thresholds-file "$(THRESHOLDS)")
UI_ARGS = --exchange "$(EXCHANGE)" $(if $(SIM_CONFIG),--sim-config "$(SIM_CONFIG)") $(if $(HOST),--host "$(HOST)")

## make run: simulator + headless scenario + results/<run-id>/
## (make reports any failure of the runner as its own exit code 2; the runner's own codes are in README)
run: $(STAMP)
	$(PY) -m loadgen run $(strip $(RUN_ARGS))

## make ui: simulator + Locust web UI on http://127.0.0.1:8089
ui: $(STAMP)
	$(PY) -m loadgen ui $(strip $(UI_ARGS))

## make sim: only the simulator, in the foreground
sim: $(STAMP)
	$(PY) -m simulator --host 127.0.0.1 --port 8000 $(if $(SIM_CONFIG),--config "$(SIM_CONFIG)")

test: $(DEV_STAMP)
	@.ci/install-browser
	$(PY) -m ruff check .
	$(PY) -m pytest
	@# Tests that import Locust (gevent monkey-patching) run in a process of their own.
	$(PY) -m pytest tests/gevent

## make test-fast: every test that starts no Locust process (the e2e ones are left out), in a few minutes
test-fast: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not e2e"
	$(PY) -m pytest tests/gevent -m "not e2e"

lint: $(DEV_STAMP)
	$(PY) -m ruff check .

bench: $(DEV_STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
