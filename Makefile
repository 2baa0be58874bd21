# Quick start on a fresh clone:  `make run`  (the pipeline on sample data)  and  `make test`.
# Both create .venv from requirements.lock when it is missing or stale.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.10
# One place for uv's version: the Dockerfile's ARG.
UV_VERSION := $(shell sed -n 's/^ARG UV_VERSION=//p' Dockerfile)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Deployment checkers (checkov, hadolint) live apart: the image does not need them.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
SAMPLE_CONFIG := pipelines/configs/local.yaml
CONFIG ?= $(SAMPLE_CONFIG)
KFP_CONFIG ?= pipelines/configs/kubeflow.yaml
# The bundled sample is written only for the sample's own config, never into
# the input folders of a config of yours (make run CONFIG=my.yaml).
SAMPLE_DATA := $(if $(filter $(SAMPLE_CONFIG),$(CONFIG)),data)
ARGS ?=
DATA_ARGS ?=
# Tests run on this many processes (pytest-xdist); tests sharing an expensive fixture share one (xdist_group).
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
TENSORBOARD_PORT ?= 6006

# Only warnings and errors from TensorFlow's C++ logging.
export TF_CPP_MIN_LOG_LEVEL ?= 1

.PHONY: help run retrain status rollback test check-deploy data lint format lock tensorboard bench-beam \
	bench-multi-worker bench-quality bench-scale bench-commands bench-drift bench-reads tfx-cli-create tfx-cli-run kfp-compile kfp-upload kfp-run kfp-schedule \
	clean clean-outputs

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Bytecode. Where Python may write .pyc files, it compiles each module as it is first imported:
# only what runs (a pipeline imports about a third of the 20 000 installed files; ~11 s once, on the
# first run). Where PYTHONDONTWRITEBYTECODE is set (the image, many CI machines) nothing would be
# cached and every process would compile TensorFlow, TFX and Beam again, so there the install
# compiles everything once (~22 s on 2 cores). The Makefile is a prerequisite so that a change to
# these recipes reaches an existing venv.
COMPILE_BYTECODE := $(if $(PYTHONDONTWRITEBYTECODE),--compile-bytecode)

$(STAMP): requirements.lock setup.py Makefile
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found. Install Python 3.10 (e.g. 'pyenv install 3.10.13') or pass PYTHON=/path/to/python3.10" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --isolated install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --python $(BIN)/python --require-hashes $(COMPILE_BYTECODE) requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	@touch $@

$(TOOLS_STAMP): requirements-tools.lock $(STAMP)
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(BIN)/uv pip sync --python $(TOOLS_VENV)/bin/python --require-hashes $(COMPILE_BYTECODE) requirements-tools.lock
	@touch $@

run: $(STAMP) $(SAMPLE_DATA) ## Run the local pipeline (sample data by default; CONFIG=my.yaml, ARGS="--set key=value")
	$(BIN)/python -m pipelines.local_runner --config $(CONFIG) $(ARGS)

retrain: $(STAMP) ## Retrain whenever a new span lands (ARGS="--once" for cron, "--poll-seconds 60")
	$(BIN)/python -m pipelines.retrain --config $(CONFIG) $(ARGS)

status: $(STAMP) ## The served versions, the spans and run behind each, and the runs that pushed nothing
	$(BIN)/python -m pipelines.status --config $(CONFIG)

rollback: $(STAMP) ## Serve an earlier version again, deleting nothing (VERSION=<number>)
	$(BIN)/python -m pipelines.status rollback --to $(VERSION) --config $(CONFIG)

test: $(STAMP) $(TOOLS_STAMP) ## Run the whole test suite on TEST_WORKERS processes (PYTEST_ARGS="-m 'not integration'")
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

check-deploy: $(STAMP) $(TOOLS_STAMP) ## Check Dockerfile, k8s/, skaffold.yaml and the compiled KFP spec offline
	$(BIN)/python -m pytest -m deploy $(PYTEST_ARGS)

data: $(STAMP) ## Write the bundled taxi sample under data/ (DATA_ARGS="--num-spans 3 --overwrite")
	$(BIN)/python -m pipelines.sample_data --config $(SAMPLE_CONFIG) $(DATA_ARGS)

lint: $(STAMP) ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Format and fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: $(STAMP) ## Re-resolve requirements.lock (setup.py), the image's requirements-runtime.lock and requirements-tools.lock
	$(BIN)/uv pip compile setup.py --extra dev --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command "make lock" -o requirements.lock
	@# The image's lock: the same versions, without the development extra (pytest, ruff, ...).
	@mkdir -p build && grep -E '^[A-Za-z0-9_.-]+==' requirements.lock | sed 's/ \\$$//' > build/requirements-pins.txt
	$(BIN)/uv pip compile setup.py -c build/requirements-pins.txt --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command "make lock" \
	  -o requirements-runtime.lock
	$(BIN)/uv pip compile requirements-tools.in --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements-tools.lock

kfp-compile: $(STAMP) ## Compile the pipeline for Kubeflow Pipelines (KFP_CONFIG, ARGS="--set kubeflow.image=...")
	$(BIN)/python -m pipelines.kubeflow_runner compile --config $(KFP_CONFIG) $(ARGS)

kfp-upload: $(STAMP) ## Upload it to kubeflow.endpoint (ARGS="--set kubeflow.endpoint=http://...")
	$(BIN)/python -m pipelines.kubeflow_runner upload --config $(KFP_CONFIG) $(ARGS)

kfp-run: $(STAMP) ## Start a run on Kubeflow Pipelines
	$(BIN)/python -m pipelines.kubeflow_runner run --config $(KFP_CONFIG) $(ARGS)

kfp-schedule: $(STAMP) ## Create the recurring (retraining) run on kubeflow.schedule
	$(BIN)/python -m pipelines.kubeflow_runner schedule --config $(KFP_CONFIG) $(ARGS)

tensorboard: $(STAMP) ## Serve TensorBoard over the pipeline root: Trainer runs and Tuner trials (HParams)
	$(BIN)/tensorboard --logdir "$$($(BIN)/python -m pipelines.config $(CONFIG) pipeline.root)" \
	  --host 127.0.0.1 --port $(TENSORBOARD_PORT)

bench-multi-worker: $(STAMP) ## Benchmark training steps/s with 1 vs 2 local workers (after make run)
	$(BIN)/python -m benchmarks.multi_worker --config $(CONFIG)

bench-beam: $(STAMP) $(SAMPLE_DATA) ## Benchmark Beam in-memory vs multi-processing on the sample data
	$(BIN)/python -m benchmarks.beam_modes --config $(CONFIG)

bench-quality: $(STAMP) ## Eval AUC over seeds: 1 vs 2 workers (ARGS="--pipeline" for the whole pipeline)
	$(BIN)/python -m benchmarks.quality_spread $(ARGS)

bench-scale: $(STAMP) ## The pipeline on 1x, 10x and 100x the sample: per component s and rows/s, peak RSS (ARGS="--scales 1 10")
	$(BIN)/python -m benchmarks.scale --config $(CONFIG) $(ARGS)

bench-reads: $(STAMP) ## Reading gzipped TFRecords: record by record through a parallel interleave vs in blocks
	$(BIN)/python -m benchmarks.record_reads $(ARGS)

bench-commands: $(STAMP) ## The everyday commands' time (status, rollback, retrain --once, a config error) beside TensorFlow's import
	$(BIN)/python -m benchmarks.commands --config $(CONFIG)

bench-drift: $(STAMP) ## Measure the drift thresholds on the sample's spans (writes schemas/taxi/drift.yaml); false alarms, detection power
	$(BIN)/python -m benchmarks.span_drift --config $(CONFIG)

tfx-cli-create: $(STAMP) $(SAMPLE_DATA) ## Register the pipeline with the TFX CLI (local engine)
	PIPELINE_CONFIG=$(CONFIG) $(BIN)/tfx pipeline create --engine=local --pipeline_path=pipelines/local_runner.py

tfx-cli-run: $(STAMP) $(SAMPLE_DATA) ## Run the registered pipeline through the TFX CLI
	PIPELINE_CONFIG=$(CONFIG) $(BIN)/tfx run create --engine=local --pipeline_name=$$($(BIN)/python -m pipelines.config $(CONFIG) pipeline.name)

clean-outputs: ## Delete pipeline outputs and metadata (outputs/)
	rm -rf outputs

clean: clean-outputs ## Delete outputs, sample data and the virtual environments
	rm -rf data build $(VENV) $(TOOLS_VENV)
