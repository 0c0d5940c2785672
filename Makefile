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
# REVERSE=1 prepares the corpus the other way round (the Bible's Spanish to English).
REVERSE ?=

.PHONY: install install-dev serve test lint typecheck pytest bench bench-documents bench-shortlist bench-marian soak gpu-check prepare train train-baseline self-train masked-head export shortlist evaluate container-smoke

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
	PYTHON=$(VENV_PYTHON) bash scripts/install-test-services.sh

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

# The load bench, then (with DATA prepared) fp32 and int8 with and without the shortlist on
# dev BLEU and speed, greedy and beam 5.
bench: install-dev
	$(VENV_PYTHON) -m bench.load --model $(MODEL)
	@if [ -f $(DATA)/train.align ]; then \
		$(VENV_PYTHON) -m bench.shortlist --model $(MODEL) --data $(DATA) --k 20,50 \
			--frequent 100 --beams 1,5 --rounds 2; \
	else echo "shortlist and int8 tables: run make prepare first (DATA=$(DATA))"; fi

# Paragraphs of five verses through the server's sentence splitting against the same verses
# one by one (BLEU, blank lines, word offsets), and <b> placed onto the reference through
# /v1/align against eflomal's links. Needs `make prepare` (DATA) first; SPLIT=test for test.
SPLIT ?= dev
bench-documents: install-dev
	$(VENV_PYTHON) -m bench.documents --model $(MODEL) --data $(DATA) --split $(SPLIT)

# Mixed traffic for SOAK_MINUTES with Redis frozen for 20 s in the middle: prints errors,
# latency percentiles, memory and the write buffer every 15 s.
SOAK_MINUTES ?= 3
soak: install-dev
	$(VENV_PYTHON) -m bench.soak --model $(MODEL) --minutes $(SOAK_MINUTES) --redis

# On a machine with an NVIDIA GPU: onnxruntime-gpu, the service on CUDA, the bench against
# PyTorch eager on the same GPU at batch 1, 64 and 256.
gpu-check:
	PYTHON=$(PYTHON) MODEL=$(MODEL) bash scripts/gpu-check.sh

# The pipeline that made the bundled model (see README for running times).
prepare: $(VENV)/.installed-dev
	mkdir -p $(RUNS)
	$(VENV_PYTHON) -m model_export prepare --out $(DATA) $(if $(REVERSE),--reverse)
	$(VENV_PYTHON) -m model_export word-align --data $(DATA)

# The attention model on both cores (86 minutes), one epoch of guided alignment (7 minutes),
# then the alignment head on the frozen weights (8 minutes). Interrupted runs resume from
# RUN/last.pt.
TRAIN_MINUTES ?= 86
HEAD_MINUTES ?= 8
train: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/attention --threads 2 \
		--max-minutes $(TRAIN_MINUTES) > $(RUNS)/attention.log 2>&1
	$(VENV_PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/guided --threads 2 \
		--init $(RUNS)/attention/best.pt --guided-alignment 0.5 --epochs 1 \
		--learning-rate 5e-4 > $(RUNS)/guided.log 2>&1
	$(VENV_PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/head --threads 2 \
		--init $(RUNS)/guided/best.pt --alignment-head --freeze-model \
		--max-minutes $(HEAD_MINUTES) > $(RUNS)/head.log 2>&1

# The no-attention RNNenc baseline of the paper's comparison (95 minutes on one thread).
train-baseline: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export train --data $(DATA) --run $(RUNS)/baseline --no-attention \
		--threads 1 --max-minutes 95 > $(RUNS)/baseline.log 2>&1

# A round of self-training of MODEL's alignment head (after `make prepare` for MODEL's
# direction; BACKWARD is the other direction's artifact): the training links become both
# models' links by agreement, the head is retrained on them on the frozen weights
# (HEAD_MINUTES), and the new head replaces MODEL's once every graph passes parity.
BACKWARD ?= models/es-en
self-train: $(VENV)/.installed-dev
	mkdir -p $(RUNS)
	$(VENV_PYTHON) -m model_export agreement-data --forward $(MODEL) --backward $(BACKWARD) \
		--data $(DATA) --out $(DATA)-agreement --threads 2
	$(VENV_PYTHON) -m model_export train --data $(DATA)-agreement --run $(RUNS)/self-trained-head \
		--threads 2 --init $(MODEL) --alignment-head --freeze-model \
		--max-minutes $(HEAD_MINUTES) > $(RUNS)/self-trained-head.log 2>&1
	$(VENV_PYTHON) -m model_export export-head --checkpoint $(RUNS)/self-trained-head/best.pt \
		--model $(MODEL)

# MODEL's alignment head retrained (HEAD_MINUTES, frozen weights, after `make prepare` for
# MODEL's direction) on the links both directions of the word aligner found, the rest of
# their union masked out of the loss (MASKED_TARGETS=grow-diag-final-and: the usual links,
# only the rest of the union masked); the new head replaces MODEL's once parity passes.
MASKED_TARGETS ?= intersection
masked-head: $(VENV)/.installed-dev
	mkdir -p $(RUNS)
	$(VENV_PYTHON) -m model_export masked-data --data $(DATA) --out $(DATA)-masked \
		--targets $(MASKED_TARGETS)
	$(VENV_PYTHON) -m model_export train --data $(DATA)-masked --run $(RUNS)/masked-head \
		--threads 2 --init $(MODEL) --alignment-head --freeze-model \
		--max-minutes $(HEAD_MINUTES) > $(RUNS)/masked-head.log 2>&1
	$(VENV_PYTHON) -m model_export export-head --checkpoint $(RUNS)/masked-head/best.pt \
		--model $(MODEL)

export: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export export --checkpoint $(RUNS)/head/best.pt --out $(MODEL)

# The lexical shortlist from the word aligner's links (needs `make prepare`): each source
# piece's SHORTLIST_K best target pieces plus the SHORTLIST_FREQUENT most frequent ones,
# with the shortlist step graph for an artifact exported without one; then parity.
SHORTLIST_K ?= 50
SHORTLIST_FREQUENT ?= 100
shortlist: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export shortlist --data $(DATA) --model $(MODEL) \
		--k $(SHORTLIST_K) --frequent $(SHORTLIST_FREQUENT)

# Greedy dev BLEU with the full vocabulary against several shortlists (k, N); the speed
# column is only meaningful on a quiet machine.
bench-shortlist: install-dev
	$(VENV_PYTHON) -m bench.shortlist --model $(MODEL) --data $(DATA)

# Marian side by side (bench/marian.py): installs the optional `marian` extra (pymarian, a
# 600 MB wheel), trains Marian's s2s model for MARIAN_MINUTES on DATA's train split (once:
# kept in MARIAN_WORK), then decodes the test books with Marian and with MODEL, alternating.
MARIAN_WORK ?= work/marian
MARIAN_MINUTES ?= 30
bench-marian: install-dev
	$(VENV_PYTHON) -m pip install -q -e ".[marian]"
	test -f $(MARIAN_WORK)/train.json || $(VENV_PYTHON) -m bench.marian train --data $(DATA) \
		--model $(MODEL) --work $(MARIAN_WORK) --minutes $(MARIAN_MINUTES)
	$(VENV_PYTHON) -m bench.marian compare --data $(DATA) --model $(MODEL) --work $(MARIAN_WORK) \
		--split test

# Without a baseline checkpoint, the baseline's last measured scores are kept.
BASELINE_CHECKPOINT ?=
evaluate: $(VENV)/.installed-dev
	$(VENV_PYTHON) -m model_export evaluate --model $(MODEL) --data $(DATA) --run $(RUNS)/attention \
		$(if $(BASELINE_CHECKPOINT),--baseline-checkpoint $(BASELINE_CHECKPOINT)) \
		--training-hardware "2-core x86_64 CPU, PyTorch 2.13 CPU build, 2 threads"

container-smoke:
	bash scripts/container-smoke.sh
