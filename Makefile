# The few targets a newcomer needs. `make serve` and `make test` are the README's commands.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= work/data
RUNS ?= work/runs
MODEL ?= models/en-es

.PHONY: install install-dev serve test lint typecheck pytest bench prepare train train-baseline export evaluate container-smoke

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
	mkdir -p $(RUNS)
	$(PYTHON) -m model_export prepare --out $(DATA)
	$(PYTHON) -m model_export word-align --data $(DATA)

# The attention model on both cores, then its alignment head on the frozen weights: 95
# minutes in all. Interrupted runs resume from RUN/last.pt.
TRAIN_MINUTES ?= 86
HEAD_MINUTES ?= 9
train:
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/attention --threads 2 \
		--max-minutes $(TRAIN_MINUTES) > $(RUNS)/attention.log 2>&1
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/head --threads 2 \
		--init $(RUNS)/attention/best.pt --alignment-head --freeze-model \
		--max-minutes $(HEAD_MINUTES) > $(RUNS)/head.log 2>&1

# The no-attention RNNenc baseline of the paper's comparison (95 minutes on one thread).
train-baseline:
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/baseline --no-attention \
		--threads 1 --max-minutes 95 > $(RUNS)/baseline.log 2>&1

export:
	$(PYTHON) -m model_export export --checkpoint $(RUNS)/head/best.pt --out $(MODEL)

# Without a baseline checkpoint, the baseline's last measured scores are kept.
BASELINE_CHECKPOINT ?=
evaluate:
	$(PYTHON) -m model_export evaluate --model $(MODEL) --data $(DATA) --run $(RUNS)/attention \
		$(if $(BASELINE_CHECKPOINT),--baseline-checkpoint $(BASELINE_CHECKPOINT)) \
		--training-hardware "2-core x86_64 CPU, PyTorch 2.13 CPU build, 2 threads"

container-smoke:
	bash scripts/container-smoke.sh
