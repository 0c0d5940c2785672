# The few targets a newcomer needs. `make serve` and `make test` are the README's commands.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= work/data
RUNS ?= work/runs
MODEL ?= models/en-es

.PHONY: install install-dev serve test lint typecheck pytest bench prepare train export evaluate container-smoke

install:
	$(PYTHON) -m pip install -q -e .

install-dev:
	$(PYTHON) -m pip install -q -e ".[train,dev]"
	bash scripts/install-test-services.sh

serve: install
	$(PYTHON) -m service serve --host $(HOST) --port $(PORT)

lint:
	ruff check .
	ruff format --check .

typecheck:
	mypy

pytest:
	$(PYTHON) -m pytest

test: install-dev lint typecheck pytest

bench: install-dev
	$(PYTHON) -m bench.load --model $(MODEL)

# The pipeline that made the bundled model (see README for running times).
prepare:
	$(PYTHON) -m model_export prepare --out $(DATA)

train:
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/attention --max-minutes 95
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/baseline --no-attention --max-minutes 95

export:
	$(PYTHON) -m model_export export --checkpoint $(RUNS)/attention/best.pt --out $(MODEL)

evaluate:
	$(PYTHON) -m model_export evaluate --model $(MODEL) --data $(DATA) --run $(RUNS)/attention \
		--baseline-checkpoint $(RUNS)/baseline/best.pt

container-smoke:
	bash scripts/container-smoke.sh
