# Every target installs what it needs first, so `make run` and `make test` work from a fresh clone
# with nothing but Python 3.11. All targets are idempotent.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# apt-get as root, or through sudo when we are not root.
APT    := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

.DEFAULT_GOAL := help
.PHONY: help setup setup-java setup-chromium setup-wrk setup-promtool setup-postgres data normalised \
        train tune export calibrate ship digit-check pair-reader feedback-export \
        bench-train bench-serve bench-compare bench-preprocess bench-decode-cost archive serve register \
        token webui run realistic bench-realistic bench-chain bench-threshold bench-feedback-gain \
        bench-numbers setup-podman images up down \
        bench-stack test test-fast test-containers test-chaos lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# ---- setup -------------------------------------------------------------------------------------

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup-java:
	@command -v java >/dev/null 2>&1 || { echo "Installing Java 17 (TorchServe needs it)…"; \
	  $(APT) update -qq && $(APT) install -y -qq openjdk-17-jre-headless; }

setup-chromium:
	@test -x /usr/bin/chromium || { echo "Installing Chromium (browser tests need it)…"; \
	  $(APT) update -qq && $(APT) install -y -qq chromium; }

setup-wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "Installing wrk (the benchmarks' load generator)…"; \
	  $(APT) update -qq && $(APT) install -y -qq wrk; }

# promtool checks deploy/prometheus (tests/unit/deploy/test_prometheus.py). Without the
# recommended extras (node exporter); where systemd runs, the package also enables a Prometheus
# server on :9090.
setup-promtool:
	@command -v promtool >/dev/null 2>&1 || { echo "Installing promtool (checks deploy/prometheus)…"; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends prometheus; }

# A PostgreSQL server for the corrections store's tests (tests/integration/feedback start their
# own, in a temporary directory on a free port). Without the recommended extras; where systemd
# runs, the package also starts a cluster of its own on :5432, which the tests never use.
setup-postgres:
	@test -x "$$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n1)/initdb" || { \
	  echo "Installing PostgreSQL (the corrections store's tests run against it)…"; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends postgresql; }

setup-podman:
	@command -v podman >/dev/null 2>&1 && command -v mmdebstrap >/dev/null 2>&1 || { \
	  echo "Installing podman (containers) and mmdebstrap (a base image without a registry)…"; \
	  $(APT) update -qq && $(APT) install -y -qq podman runc crun fuse-overlayfs slirp4netns uidmap \
	    containernetworking-plugins netavark aardvark-dns mmdebstrap; }

setup: $(STAMP) setup-java  ## create .venv and install everything needed to train and serve

# ---- training ----------------------------------------------------------------------------------

data: $(STAMP)  ## fetch and verify genuine MNIST into data/mnist
	$(PY) -m training.data

# The handler's output for every MNIST digit written as PNG: built once (a minute or two), rebuilt
# when MNIST or the handler's code changes; the tool prints the cache file's path.
normalised: $(STAMP)  ## cache the handler's preprocessing of all 70,000 MNIST digits (data/normalised)
	$(PY) -m tools.normalised_mnist

# EXTRA_DATA=dir (a `make feedback-export` folder) adds those digits to training, EXTRA_WEIGHT=2 each.
train: $(STAMP)  ## train on the served digits (data/normalised, built first; CONFIG=file.json), export, report
	NORMALISED=$$($(PY) -m tools.normalised_mnist) && \
	  $(PY) -m training.train --normalised "$$NORMALISED" $(if $(CONFIG),--config $(CONFIG)) \
	    $(if $(EXTRA_DATA),--extra-data $(EXTRA_DATA)) $(if $(EXTRA_WEIGHT),--extra-weight $(EXTRA_WEIGHT))

# Resumable: running it again continues the study in runs/tune/study.db.
tune: $(STAMP)  ## search hyperparameters on validation for BUDGET_MIN minutes (default 5) → runs/tune/
	NORMALISED=$$($(PY) -m tools.normalised_mnist) && \
	  $(PY) -m training.tune --normalised "$$NORMALISED" $(if $(BUDGET_MIN),--budget-min $(BUDGET_MIN))

export: $(STAMP)  ## export a checkpoint to TorchScript (CKPT=runs/…/best.pt)
	$(PY) -m training.export $(if $(CKPT),--checkpoint $(CKPT))

# The shipped model predates make train's temperature; this fits one on its validation split
# (the served digits) into model.pt, adds ECE and reliability.png to its report, rebuilds the .mar.
calibrate: $(STAMP)  ## fit a temperature on validation into an exported model (MODEL=…, default the shipped one)
	NORMALISED=$$($(PY) -m tools.normalised_mnist) && \
	  $(PY) -m training.calibrate_exported --normalised "$$NORMALISED" $(if $(MODEL),--model $(MODEL))
	$(if $(MODEL),,$(MAKE) archive)

# Reading whole numbers asks a second, small network whether each candidate cut gives whole digits.
digit-check: $(STAMP)  ## train the digit check on strings of MNIST training digits → training/shipped/, rebuild the .mar
	$(PY) -m tools.digit_check
	$(MAKE) archive

# …and a third reads a wide piece whole: two touching digits (which two), or one digit.
pair-reader: $(STAMP)  ## train the pair reader on strings of MNIST training digits (scored on validation digits) → training/shipped/, rebuild the .mar
	$(PY) -m tools.pair_reader
	$(MAKE) archive

SHIPPED_FILES := model.pt report.json report.md train_metrics.csv val_metrics.csv \
                 confusion_matrix.csv curves.png confusion_matrix.png reliability.png

ship: $(STAMP)  ## copy the last `make train` run (runs/mnist) into training/shipped/, rebuild the .mar
	@test -f runs/mnist/report.json || { echo "error: runs/mnist has no finished run; make train first"; exit 1; }
	mkdir -p training/shipped
	for f in $(SHIPPED_FILES); do cp runs/mnist/$$f training/shipped/; done
	$(MAKE) archive

# FEEDBACK_DATABASE_URL=postgresql://… reads PostgreSQL instead of .run/feedback.db.
feedback-export: $(STAMP)  ## write the web UI's corrections as a data set (IDX, labels.csv, PNGs) to OUT=dir
	@test -n "$(OUT)" || { echo "usage: make feedback-export OUT=dir"; exit 2; }
	$(PY) -m tools.feedback_export $(OUT)

bench-train: $(STAMP)  ## training throughput and time to 99.0% / 99.5% validation accuracy
	$(PY) -m bench.train_speed

# ---- serving -----------------------------------------------------------------------------------

archive: $(STAMP)  ## pack the shipped model and handler into model_store/mnist.mar
	$(PY) -m tools.archive

# ENABLE_MODEL_API=1 turns registration on for this instance only, for a rollout (SECURITY.md).
serve: setup  ## run TorchServe in the foreground with serve_config/ and model_store/mnist.mar
	$(PY) -m tools.torchserve $(if $(ENABLE_MODEL_API),--enable-model-api)

register: $(STAMP)  ## register MAR=<file in model_store> as NAME (default mnist) on `make serve ENABLE_MODEL_API=1`
	@test -n "$(MAR)" || { echo "usage: make register MAR=mnist-2.0.mar [NAME=mnist]"; exit 2; }
	$(PY) -m tools.register $(MAR) $(if $(NAME),--name $(NAME))

token: $(STAMP)  ## print the inference token of the running TorchServe
	@$(PY) -m tools.torchserve --print-token

bench-serve: setup setup-wrk  ## TorchServe latency/throughput for several worker and batch settings (own server)
	$(PY) -m bench.serve_latency

bench-compare: setup setup-wrk  ## side by side: TorchServe, the UI chain, a seed-style server, the floor (wrk)
	$(PY) -m bench.compare

webui: $(STAMP)  ## run the web UI alone against an already running TorchServe
	$(PY) -m webui

run: setup  ## start TorchServe and the web UI at http://127.0.0.1:5000 (Ctrl-C stops both)
	$(PY) -m tools.stack

# ---- evaluation --------------------------------------------------------------------------------

realistic: $(STAMP)  ## draw 4,500 realistic digits (not MNIST) into artifacts/realistic
	$(PY) -m bench.realistic_digits

bench-realistic: $(STAMP)  ## accuracy on artifacts/realistic (in-process) and of a naive baseline
	$(PY) -m bench.realistic_eval --baseline

bench-chain: setup  ## the 10,000 MNIST test digits as PNG through a real TorchServe (own, free ports)
	$(PY) -m bench.mnist_chain

# SPLIT=val scores strings of MNIST validation digits instead: for choosing segmentation parameters.
bench-numbers: $(STAMP)  ## whole numbers: generate strings of MNIST test digits, read them in-process → artifacts/numbers
	$(PY) -m bench.number_eval $(if $(SPLIT),--split $(SPLIT)) $(if $(COUNT),--count $(COUNT))

bench-threshold: $(STAMP)  ## choose the web UI's "not sure" threshold (MNIST validation, realistic)
	$(PY) -m bench.confidence_threshold

# Retrains 2 arms × SEEDS (default 3) with a short recipe: about 30 min on two quiet cores.
bench-feedback-gain: $(STAMP)  ## held-out corrected realistic digits, retrained without/with them
	@test -f artifacts/realistic/labels.csv || $(PY) -m bench.realistic_digits
	NORMALISED=$$($(PY) -m tools.normalised_mnist) && \
	  $(PY) -m bench.feedback_gain --normalised "$$NORMALISED" $(if $(SEEDS),--seeds $(SEEDS))

bench-preprocess: $(STAMP)  ## preprocessing time per kind of input (canvas, upload, photo), in-process
	$(PY) -m bench.preprocess_speed

bench-decode-cost: $(STAMP)  ## time and memory of the costliest files per format at the handler's limits
	$(PY) -m bench.decode_cost

# ---- containers --------------------------------------------------------------------------------

# BASE_IMAGE=python:3.11-slim-bookworm (or any image with python3) skips the local base image.
images: $(STAMP) setup-podman  ## build the TorchServe and web UI images (podman; see docs/deploy.md)
	$(PY) -m tools.containers images $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE))

up: $(STAMP) setup-podman  ## start docker-compose.yml detached; returns when the UI is ready
	$(PY) -m tools.containers up $(if $(UI_PORT),--ui-port $(UI_PORT))

down: $(STAMP) setup-podman  ## stop and remove the stack (V=1: its volumes too: keys, corrections)
	$(PY) -m tools.containers down $(if $(V),--volumes)

bench-stack: images setup-wrk  ## throughput of `make run` and of the compose stack, side by side (wrk)
	$(PY) -m bench.stack_throughput

# ---- quality -----------------------------------------------------------------------------------

lint: $(STAMP)  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-fast: $(STAMP) setup-promtool  ## the unit tier: no servers, no network, no browser (under a minute)
	$(PY) -m pytest tests/unit

test-containers: images  ## build the images, then check the compose stack end to end
	$(PY) -m pytest tests/containers

# The whole stack (TorchServe and the UI, as `make run`) killed, overloaded and abused under
# load; the figures of each scenario are printed at the end and written to
# artifacts/chaos/summary.json. About 3 minutes on 2 cores. `timeout` stops a hung run after
# 10 minutes with SIGINT, so pytest still stops the stack.
test-chaos: setup setup-wrk  ## chaos: killed worker and frontend, overload, slow clients, bombs, soak
	timeout --signal=INT 600 $(PY) -m pytest tests/chaos

test: setup setup-chromium setup-promtool setup-postgres lint  ## the whole suite: lint, unit, integration and browser tests
	$(PY) -m training.data --quiet || echo "MNIST unavailable: the tests that need it will be skipped."
	$(PY) -m pytest

clean:  ## remove the virtualenv, caches and run state (keeps data/ and runs/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .run artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
