# The two commands of the README: `make book` and `make test`.
# Everything runs inside .venv, created and filled on first use only.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.py))
export PERSONALITY_UTILS_CACHE ?= $(CURDIR)/.cache
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test install data notebooks html clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

data: $(STAMP)
	$(PY) -m personality_utils synth --profile $(PROFILE)

notebooks: $(STAMP) data
	mkdir -p book/results _static
	cp "$$($(PY) -c 'import plotly, pathlib; print(pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js")')" _static/plotly.min.js
	set -e; for source in $(NOTEBOOKS); do \
		stem=$$(basename $$source .py); \
		echo "== $$stem ($(PROFILE))"; \
		$(VENV)/bin/jupytext --to ipynb $$source -o - \
			| $(VENV)/bin/papermill - book/$$stem.ipynb -p profile $(PROFILE) \
				--cwd book --kernel python3 --no-progress-bar --log-level WARNING; \
	done

html: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

book: notebooks html

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf _build book/*.ipynb book/results _static/plotly.min.js
