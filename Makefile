# The two commands of the README: `make book` and `make test`.
# Everything runs inside .venv, created and filled on first use only.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
# Where the executed chapters and their results/ go, and the VGG-Face weights the models start
# from (an absolute path; empty: random initialisation).
BOOK_DIR ?= book
BACKBONE_WEIGHTS ?=
# The real study: DATA_ROOT (First Impressions as downloaded: label pickles and clips or zips),
# OPENFACE_DIR (OpenFace's CSVs, for chapter 07's action units) and ONLY (some chapters, e.g.
# ONLY="01_data 02_faces"; the models the others read are then not trained). Empty: the
# synthetic set, the offline AU estimator, every chapter. Relative paths are made absolute.
DATA_ROOT ?=
OPENFACE_DIR ?=
ONLY ?=
DATA_ARG = $(if $(DATA_ROOT),--data-root $(abspath $(DATA_ROOT)))
WEIGHTS_ARG = $(if $(BACKBONE_WEIGHTS),--backbone-weights $(abspath $(BACKBONE_WEIGHTS)))
OPENFACE_ARG = $(if $(OPENFACE_DIR),--openface-dir $(abspath $(OPENFACE_DIR)))
ONLY_ARG = $(if $(ONLY),--only $(ONLY))
export PERSONALITY_UTILS_CACHE ?= $(CURDIR)/.cache
# The book's public repository, for its Binder and Colab buttons (_config.yml; empty: none).
export BOOK_REPOSITORY_URL ?=
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Two lanes side by side (training, then the chapters), each with half the cores.
CORES := $(shell nproc 2>/dev/null || echo 2)
LANE_THREADS := $(shell echo $$(( ($(CORES) + 1) / 2 )))
LANES ?= $(if $(filter 1,$(CORES)),1,2)

.PHONY: book test lint install preflight data backbone prepared models notebooks html clean \
	dry-run real-clips

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[book,test]'
	touch $(STAMP)

# Every argument of the run checked before any work starts: a missing or wrong one is one line
# (python -m personality_utils check-run; personality_utils.book.preflight).
preflight: $(STAMP)
	@echo "== checking the run's arguments"; \
	$(PY) -m personality_utils check-run --profile $(PROFILE) $(DATA_ARG) $(WEIGHTS_ARG) \
		$(OPENFACE_ARG) $(ONLY_ARG)

# The dataset's frame and face stores (every core), where the notebooks read them: the synthetic
# set, generated first, or with DATA_ROOT the real one. Every clip, even when make runs inside a
# Slurm array task or a Kubernetes indexed Job (prepare would read a share from their variables:
# the book's "Scale out" appendix).
data: preflight
	@start=$$(date +%s); set -e; \
	$(if $(DATA_ROOT),,$(PY) -m personality_utils synth --profile $(PROFILE);) \
	env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX \
		$(PY) -m personality_utils prepare --profile $(PROFILE) $(DATA_ARG) 2>&1 \
		| grep -v "frames + faces"; \
	echo "== data: $$(( $$(date +%s) - start )) s"

# The CPU profiles' backbone pretrained on synthetic identities (their VGG-Face; nothing to do
# when BACKBONE_WEIGHTS is given). Its progress goes to .cache/logs/.
backbone: preflight
	@$(if $(BACKBONE_WEIGHTS),true,set -o pipefail; mkdir -p $(PERSONALITY_UTILS_CACHE)/logs; \
	start=$$(date +%s); \
	$(PY) -m personality_utils pretrain --profile $(PROFILE) \
		2>$(PERSONALITY_UTILS_CACHE)/logs/pretrain-$(PROFILE).log \
		|| { tail -n 20 $(PERSONALITY_UTILS_CACHE)/logs/pretrain-$(PROFILE).log; exit 1; }; \
	echo "== pretraining: $$(( $$(date +%s) - start )) s")

# The data and the backbone need nothing from each other, so they are made side by side, each
# with half the cores' threads (one on the 2-core CI machine, where bfloat16 steps run as fast on
# one thread as on two: benchmarks/train_throughput.py); the data stage's pool takes the rest.
prepared: $(STAMP)
	@start=$$(date +%s); \
	OMP_NUM_THREADS=$(LANE_THREADS) $(MAKE) --no-print-directory -j2 data backbone \
		|| exit 1; echo "== data and pretraining side by side: $$(( $$(date +%s) - start )) s"

# Then the models of chapters 03-07 (DAN+ and the profile's CAM model on frames and on faces, and
# DAN+ again for each further training seed of the profile), trained before the notebooks, which
# then reload the finished checkpoints from the same folders (run_experiment). The list is
# `python -m personality_utils training-plan`; it is shared by two lanes side by side, each with
# half the cores: a 1-thread training does about as many images/s as a 2-thread one on the
# 2-core CI machine, so two side by side do about twice as much (the figures:
# benchmarks/results/train_throughput-*.json, written by benchmarks/train_throughput.py with
# and without OMP_NUM_THREADS=1). Each lane's progress goes to
# .cache/logs/; its scores are printed, its log too if it fails.
models: prepared
	@set -o pipefail; mkdir -p $(PERSONALITY_UTILS_CACHE)/logs; start=$$(date +%s); \
	threads=$(LANE_THREADS); \
	lane() { \
		log=$(PERSONALITY_UTILS_CACHE)/logs/train-$(PROFILE)-lane$$1.log; : > $$log; \
		$(PY) -m personality_utils training-plan --profile $(PROFILE) --lanes $(LANES) --lane $$1 \
			--pending $(if $(FORCE),--force) $(WEIGHTS_ARG) $(DATA_ARG) $(ONLY_ARG) \
		| while read -r kind source seed variant; do \
			echo "== training $$kind$${variant:+ ($$variant)} on $$source, seed $$seed ($$threads threads)"; \
			OMP_NUM_THREADS=$$threads $(PY) -m personality_utils train --profile $(PROFILE) \
				--kind $$kind --source $$source --training-seed $$seed $(if $(FORCE),--fresh) \
				$(WEIGHTS_ARG) $(DATA_ARG) $${variant:+--variant $$variant} \
				< /dev/null 2>>$$log | sed "s/^/   $$kind $$source $$seed$${variant:+ $$variant}: /" \
				|| { tail -n 20 $$log; exit 1; }; \
		done; }; \
	pids=; for index in $$(seq 0 $$(( $(LANES) - 1 ))); do lane $$index & pids="$$pids $$!"; done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; \
	echo "== models: $$(( $$(date +%s) - start )) s"; exit $$status

# The chapters, two at a time, each with half the cores, in the order personality_utils.book.chapters
# writes down once (what each reads from another, longest first; the tests use the same runner).
# Each chapter's time is printed when it ends, its papermill output too if it fails.
# `make run-05_cam` runs one chapter (reading what earlier runs left).
notebooks: $(STAMP) models
	mkdir -p $(BOOK_DIR)/results _static
	cp "$$($(PY) -c 'import plotly, pathlib; print(pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js")')" _static/plotly.min.js
	@start=$$(date +%s); \
	$(PY) -m personality_utils chapters --profile $(PROFILE) --book-dir $(BOOK_DIR) \
		--lanes $(LANES) --threads $(LANE_THREADS) $(if $(FORCE),--force) \
		$(WEIGHTS_ARG) $(DATA_ARG) $(OPENFACE_ARG) $(ONLY_ARG) || status=1; \
	echo "== notebooks: $$(( $$(date +%s) - start )) s"; exit $${status:-0}

run-%: $(STAMP)
	$(PY) -m personality_utils chapters --only $* --profile $(PROFILE) --book-dir $(BOOK_DIR) \
		--lanes 1 $(WEIGHTS_ARG) $(DATA_ARG) $(OPENFACE_ARG)

# The HTML is built from book/ (_toc.yml); a run into another BOOK_DIR (CI's dry run and real
# clips) stops after its chapters.
html: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

book: notebooks
	@$(if $(filter book,$(BOOK_DIR)),$(MAKE) --no-print-directory html,\
		echo "== HTML not built: it is built from book/, the chapters went to $(BOOK_DIR)/")

test: $(STAMP)
	$(PY) -m pytest

# ruff's rules and format (pyproject.toml's [tool.ruff]), as CI checks them.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf _build book/*.ipynb book/results book/.stamps _static/plotly.min.js $(DRY_RUN) $(REAL_CLIPS)

# CI's dry run of the paper path on the CPU: the `paper-tiny` profile (every model and recipe
# setting of `paper`: full-width VGG-16 at 224 px, the authors' CAM head, SGD with their schedule,
# weight decay, mean image and head initialisation, bicubic maps, 10 frames per clip) on a few
# synthetic clips for one epoch, from a weight file in the VGG-Face port's layout written from
# seeded random numbers, through every chapter under papermill. Everything goes to $(DRY_RUN)/
# and its own cache folders: the book's executed chapters and results are never touched.
DRY_RUN := _dry_run
DRY_WEIGHTS := $(PERSONALITY_UTILS_CACHE)/weights/vgg_face_random_seed0.pth

$(DRY_WEIGHTS): | $(STAMP)
	$(PY) -m personality_utils random-vgg-face --out $@ --seed 0

dry-run: $(STAMP) $(DRY_WEIGHTS)
	@start=$$(date +%s); set -e; \
	$(MAKE) --no-print-directory book PROFILE=paper-tiny BACKBONE_WEIGHTS=$(DRY_WEIGHTS) \
		BOOK_DIR=$(DRY_RUN); \
	$(PY) .ci/check_dry_run.py $(DRY_RUN); \
	echo "== dry run: $$(( $$(date +%s) - start )) s"

# CI's run on real clips: chapters 01 and 02 on the 24 real First Impressions training clips of
# the shared data folder, with the `paper` profile (10 frames per clip, 224 px), through the
# real study's own line (make book PROFILE=paper DATA_ROOT=... with ONLY the two chapters that
# need no model, so no VGG-Face weights). The data root (.ci/real_clips_root.py: the clips linked, never copied,
# split by person 16/4/4, with their real labels), the executed chapters, their results/ and
# their stores all go to $(REAL_CLIPS)/: the book's are never touched. .ci/check_real_clips.py
# then checks the sampling, the detection rate, the average face and the constant baseline.
REAL_CLIPS := _real_clips
SHARED_DATA ?= $(or $(SHARED_DATA_DIR),$(abspath $(CURDIR)/../shared/data))

real-clips: $(STAMP)
	@start=$$(date +%s); set -e; rm -rf $(REAL_CLIPS); \
	export PERSONALITY_UTILS_CACHE=$(CURDIR)/$(REAL_CLIPS)/cache; \
	$(PY) .ci/real_clips_root.py $(SHARED_DATA) $(REAL_CLIPS)/data; \
	$(MAKE) --no-print-directory book PROFILE=paper DATA_ROOT=$(REAL_CLIPS)/data \
		ONLY="01_data 02_faces" BOOK_DIR=$(REAL_CLIPS); \
	$(PY) .ci/check_real_clips.py $(REAL_CLIPS); \
	echo "== real clips: $$(( $$(date +%s) - start )) s"

# The browser check of the built book (.ci/check_browser.py): Debian's Chromium, installed with
# apt-get (sudo when not root) only when /usr/bin/chromium is missing, and Playwright in .venv
# (the `browser` extra). Playwright never downloads a browser of its own here.
.PHONY: browser-deps check-browser

browser-deps: $(STAMP)
	@test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
		$$SUDO apt-get update -qq \
		&& $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	@$(PY) -c 'import playwright.sync_api' 2>/dev/null || $(PY) -m pip install --quiet -e '.[book,test,browser]'

check-browser: browser-deps
	$(PY) .ci/check_browser.py

# JupyterLab on the chapters themselves: notebooks/*.py open as notebooks through jupytext's
# contents manager (tools/jupyterlab/overrides.json makes "Jupytext Notebook" the viewer of .py
# files and keeps Lab from fetching news), and saving writes the .py back, the only committed form
# (notebooks/jupytext.toml: py:percent only, no paired .ipynb, no version stamp in the header).
# Served on 127.0.0.1 only; the chapters' results go to $(BOOK_DIR)/results, as with `make book`.
# The explorers (personality_utils.book.explorers) appear in this live kernel only.
# `make check-lab` is the real-browser check of all that (.ci/check_lab.py).
.PHONY: lab lab-deps check-lab

LAB_PORT ?= 8888
LAB_FLAGS := --ServerApp.ip=127.0.0.1 --ServerApp.allow_root=True \
	--LabApp.app_settings_dir=$(CURDIR)/tools/jupyterlab --LabApp.extension_manager=readonly

lab-deps: $(STAMP)
	@test -x $(VENV)/bin/jupyter-lab || $(PY) -m pip install --quiet -e '.[book,test,lab]'

lab: lab-deps
	PERSONALITY_UTILS_RESULTS=$${PERSONALITY_UTILS_RESULTS:-$(CURDIR)/$(BOOK_DIR)/results} \
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) --ServerApp.port=$(LAB_PORT) \
		--ServerApp.root_dir=$(CURDIR)

check-lab: lab-deps browser-deps
	$(PY) .ci/check_lab.py -- $(LAB_FLAGS)
