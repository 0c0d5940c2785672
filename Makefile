# The few targets a newcomer needs. `make serve` and `make test` are the README's commands.
# Everything runs in a project virtual environment (.venv), created with $(PYTHON), so that a
# Python that refuses system installs (PEP 668: Debian, Ubuntu) works as well as a container.
PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= work/data
RUNS ?= work/runs
MODEL ?= models/en-es

.PHONY: install install-dev serve test lint typecheck pytest bench prepare train export evaluate container-smoke

$(VENV_PYTHON):
	bash scripts/make-venv.sh "$(PYTHON)" "$(VENV)"

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -q -e ".[train,dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev
	bash scripts/install-test-services.sh

serve: install
	$(VENV_PYTHON) -m service serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m ruff check .
	$(VENV_PYTHON) -m ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m mypy

pytest: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m pytest

test: install-dev lint typecheck pytest

bench: install-dev
	$(VENV_PYTHON) -m bench.load --model $(MODEL)

# The pipeline that made the bundled model (see README for running times).
prepare: $(VENV)/.installed-dev
	mkdir -p $(RUNS)
	$(VENV_PYTHON) -m model_export prepare --out $(DATA)

# Both models at once, one thread each, with the same 95-minute budget (as the bundled
# model was trained on a 2-core machine). Interrupted runs resume from RUN/last.pt.
TRAIN_MINUTES ?= 95
train: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/attention --threads 1 \
		--max-minutes $(TRAIN_MINUTES) > $(RUNS)/attention.log 2>&1 & \
	$(VENV_PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/baseline --no-attention \
		--threads 1 --max-minutes $(TRAIN_MINUTES) > $(RUNS)/baseline.log 2>&1 & \
	wait

export: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export export --checkpoint $(RUNS)/attention/best.pt --out $(MODEL)

evaluate: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export evaluate --model $(MODEL) --data $(DATA) --run $(RUNS)/attention \
		--baseline-checkpoint $(RUNS)/baseline/best.pt \
		--training-hardware "2-core x86_64 CPU, PyTorch 2.13 CPU build, both models trained at once with 1 thread each"

container-smoke:
	bash scripts/container-smoke.sh
