# The few targets a newcomer needs. `make serve` and `make test` are the README's commands.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= work/data
RUNS ?= work/runs
MODEL ?= models/en-es

.PHONY: install install-dev serve test lint typecheck pytest bench gpu-check prepare train export evaluate container-smoke

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

# On a machine with an NVIDIA GPU: onnxruntime-gpu, the service on CUDA, the bench against
# PyTorch eager on the same GPU at batch 1, 64 and 256.
gpu-check:
	PYTHON=$(PYTHON) MODEL=$(MODEL) bash scripts/gpu-check.sh

# The pipeline that made the bundled model (see README for running times).
prepare:
	mkdir -p $(RUNS)
	$(PYTHON) -m model_export prepare --out $(DATA)

# Both models at once, one thread each, with the same 95-minute budget (as the bundled
# model was trained on a 2-core machine). Interrupted runs resume from RUN/last.pt.
TRAIN_MINUTES ?= 95
train:
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/attention --threads 1 \
		--max-minutes $(TRAIN_MINUTES) > $(RUNS)/attention.log 2>&1 & \
	$(PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/baseline --no-attention \
		--threads 1 --max-minutes $(TRAIN_MINUTES) > $(RUNS)/baseline.log 2>&1 & \
	wait

export:
	$(PYTHON) -m model_export export --checkpoint $(RUNS)/attention/best.pt --out $(MODEL)

evaluate:
	$(PYTHON) -m model_export evaluate --model $(MODEL) --data $(DATA) --run $(RUNS)/attention \
		--baseline-checkpoint $(RUNS)/baseline/best.pt \
		--training-hardware "2-core x86_64 CPU, PyTorch 2.13 CPU build, both models trained at once with 1 thread each"

container-smoke:
	bash scripts/container-smoke.sh
