# Reproduce published recommender inference results on NVIDIA Triton.  `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON_BASE ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
RUNTIME_DIR := .runtime
RUNTIME     ?= local
SEEDS       ?= ../shared/seeds
PROFILE     ?= cpu

export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
export PYTHONPATH := $(CURDIR)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
DVC         := $(VENV)/bin/dvc

.PHONY: image-cpu bench-native bench-widedeep pin-images calibrate-compare _force check-determinism-cpus check-params h100-kit deploy-h100 bench-host-rows remeasure runtime-bundle help setup doctor test published show-published lock clean-env deploy check-determinism bench compare compare-published

GPU  ?= cpu
BASE ?=
HEAD ?=
PYTHON ?= 3.12

help: ## List the public targets
	@echo "Usage: make <target> [VAR=value]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9%_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed $(RUNTIME_DIR)/RUNTIME.json ## Create .venv from requirements.lock and install Triton + perf_analyzer (idempotent)

$(VENV)/.installed: requirements.lock
	@echo "[setup] creating $(VENV) from requirements.lock (first run downloads ~4 GB: TensorFlow, PyTorch with its CUDA libraries) ..."
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock 2> >(grep -v "is ignored: it is neither" >&2)
	@$(PY) -m pip check >/dev/null
	@touch $@

# The runtime's files (repro.serving.runtime.Runtime.check); one missing rebuilds it although RUNTIME.json exists.
RUNTIME_FILES := pytriton/tritonserver/bin/tritonserver bin/perf_analyzer backends/python/libtriton_python.so \
                 backends/python/triton_python_backend_stub
RUNTIME_BROKEN := $(filter-out $(wildcard $(addprefix $(RUNTIME_DIR)/,$(RUNTIME_FILES))),$(addprefix $(RUNTIME_DIR)/,$(RUNTIME_FILES)))

$(RUNTIME_DIR)/RUNTIME.json: $(VENV)/.installed repro/serving/runtime.py tools/setup_runtime.py $(if $(RUNTIME_BROKEN),_force)
	@$(if $(RUNTIME_BROKEN),echo "[setup] the runtime lacks $(RUNTIME_BROKEN); reinstalling it")
	@$(PY) -m tools.setup_runtime --dest $(RUNTIME_DIR) --cache .cache/wheels

deploy: deploy-cpu ## The main job: the pipeline on the cpu profile (= make deploy-cpu)

H100_PY ?= python3
FROM    ?= host

h100-kit: setup ## Write the h100 repositories (dvc repro repos@h100) and pack dist/h100/ (runtime bundle, client wheels) [PARTS=widedeep,resnet50: carry only those]
	@$(PY) -m tools.check_params
	@$(DVC) repro repos@h100
	@$(PY) -m tools.h100_kit build --out dist/h100 --python $(PYTHON) --repos triton_repos/h100 $(if $(PARTS),--parts $(PARTS))

deploy-h100: ## On the GPU host (PyTorch + CUDA; dist/h100/ and triton_repos/h100/ carried): the h100 stages [FROM=perf] [MODELS=widedeep] [TABLES='*fp16*': measure these, keep the others']
	@$(H100_PY) -m tools.h100_kit unpack --kit dist/h100 --work .h100
	@REPRO_RUNTIME=$(CURDIR)/.h100/runtime/runtime PYTHONPATH=$(CURDIR)/.h100/site:$(CURDIR) \
	  $(H100_PY) -m tools.run_profile --profile h100 --from $(FROM) $(if $(MODELS),--models $(MODELS)) $(if $(TABLES),--tables '$(TABLES)')

bench-host-rows: ## On the GPU host (dist/h100/ carried): how fast the GPU reads the placement's host-resident rows, per lookup strategy [BATCHES='4096 65536']
	@$(H100_PY) -m tools.h100_kit unpack --kit dist/h100 --work .h100
	@PYTHONPATH=$(CURDIR)/.h100/site:$(CURDIR) $(H100_PY) -m tools.host_rows_bench $(if $(BATCHES),--batches $(BATCHES))

record-%: setup ## After a GPU host's run: enter results/<profile>/ in dvc.lock (dvc commit of its measuring stages)
	@$(PY) -m tools.check_params
	@$(DVC) commit --force host@$* accuracy@$* perf@$* native@$* tables@$*
	@echo "[record] results/$* entered in dvc.lock; commit them with git"

DRY_RUN ?=

deploy-%: setup ## Run the pipeline for one profile (cpu = make deploy): dvc repro tables@<profile>; a100..: DRY_RUN=1 prints its commands; RUNTIME=container: inside the project's image
ifneq ($(DRY_RUN),)
	@$(PY) -m tools.container_plan --profile $*
else ifeq ($(RUNTIME),container)
	@$(PY) -m tools.check_params
	@$(PY) -m tools.cpu_container deploy --profile $*
else ifneq ($(RUNTIME),local)
	@echo "make: RUNTIME=$(RUNTIME) is not a runtime; use RUNTIME=local (default) or RUNTIME=container" >&2; exit 2
else
	@$(PY) -m tools.check_params --profile $*
	@$(DVC) repro tables@$*
endif

image-cpu: setup ## Build the project's cpu image (docker/cpu: Debian from packages, requirements.lock, Triton wheels) with podman or docker
	@$(PY) -m tools.cpu_container build

pin-images: setup ## Re-resolve the image digests of docker/pins.yaml where a registry is reachable (skopeo, crane or docker)
	@$(PY) -m tools.pin_images

check-params: setup ## Validate params.yaml (typed schema, unknown keys, cross-checks) without running anything
	@$(PY) -m tools.check_params

remeasure: setup ## Re-measure the cpu profile here (accuracy, perf, native forced; tables rebuilt)
	@$(PY) -m tools.check_params --profile cpu
	@$(DVC) repro --force --single-item accuracy@cpu perf@cpu native@cpu
	@$(DVC) repro tables@cpu

check-determinism: setup ## Re-run data..repos from scratch and check every output is byte-identical (dvc.lock hashes)
	@$(PY) -m tools.determinism

check-determinism-cpus: setup ## Same data and DLRM checkpoint natively and on an emulated AVX2-only CPU (qemu-user; minutes)
	@$(PY) -m tools.determinism_cpus

calibrate-compare: setup ## How often make compare is right here: A/A pairs of independent runs and slowed variants [REPS=6]
	@$(PY) -m tools.calibrate_compare $(if $(REPS),--reps $(REPS))

bench-widedeep: setup ## W&D on the cpu: TensorFlow vs ONNX Runtime in-process (the engine choice) and served vs in-process
	@$(PY) -m tools.widedeep_bench

bench-native: setup ## The transport ceiling through the real server: this project's native C++ backend (built here with g++) vs the python backend [BATCHES=256,4096,65536]
	@$(PY) -m tools.native_bench $(if $(BATCHES),--batches $(BATCHES))

bench: setup ## Print cold pipeline time, no-op repro time and the cpu DLRM offline table
	@$(PY) -m tools.bench

runtime-bundle: setup ## Pack Triton + perf_analyzer for a host without a package index: make runtime-bundle PYTHON=3.12
	@$(PY) -m tools.setup_runtime --bundle dist/triton-runtime-2.51.0-py$(PYTHON).tar.xz --cache .cache/wheels --python $(PYTHON)

compare: setup ## Compare results across commits: make compare BASE=<rev> [HEAD=<rev>] [GPU=cpu]; exit 1 if worse
	@test -n "$(BASE)" || { echo "compare: set BASE=<git revision>, e.g. make compare BASE=HEAD~1" >&2; exit 2; }
	@$(PY) -m tools.compare revisions --base "$(BASE)" $(if $(HEAD),--head "$(HEAD)") --gpu "$(GPU)" || \
	  { rc=$$?; echo "make compare: the comparison exited $$rc ($$([ $$rc -eq 1 ] && echo 'something got worse' || echo 'bad input')); make itself reports any failure as 2" >&2; exit $$rc; }

compare-published: setup ## Each measured table next to its published counterparts, with ratios: make compare-published GPU=cpu
	@$(PY) -m tools.compare published --gpu "$(GPU)"

doctor: setup ## Print versions of TF, tf2onnx, ORT, DVC, Triton server, perf_analyzer and the GPU; fail if broken
	@$(PY) -m tools.doctor

test: setup ## Run the test suite (unit, golden, end-to-end)
	@$(PY) -m pytest $(PYTEST_ARGS)

published: setup ## Regenerate results/published/ (registry of the 61 published tables) from SEEDS
	@$(PY) -m stages.published --seeds $(SEEDS) --out results/published

show-published: setup ## Print one registry table in its published form: make show-published TABLE=<table_id>
	@$(PY) -m tools.show_published --show "$(TABLE)"

lock: ## Re-resolve requirements.lock from requirements.in (needs the network)
	@rm -rf .lock-venv && $(PYTHON_BASE) -m venv .lock-venv
	@.lock-venv/bin/pip install --quiet -r requirements.in
	@{ echo "# Generated by 'make lock' from requirements.in: the exact environment 'make setup' installs."; \
	   .lock-venv/bin/pip freeze | grep -v '^-e'; } > requirements.lock
	@rm -rf .lock-venv && echo "requirements.lock updated"

clean-env: ## Remove the virtual environment and the runtime (next `make setup` rebuilds them)
	rm -rf $(VENV) $(RUNTIME_DIR)

_force:
