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
		stem=$$(basename $$source .py); start=$$(date +%s); \
		echo "== $$stem ($(PROFILE))"; \
		$(VENV)/bin/jupytext --to ipynb $$source -o - \
			| $(VENV)/bin/papermill - book/$$stem.ipynb -p profile $(PROFILE) \
				--cwd book --kernel python3 --no-progress-bar --log-level WARNING; \
		echo "== $$stem: $$(( $$(date +%s) - start )) s"; \
	done

html: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

book: notebooks html

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf _build book/*.ipynb book/results _static/plotly.min.js

# The browser check of the built book (.ci/check_browser.py): Debian's Chromium, installed with
# apt-get (sudo when not root) only when /usr/bin/chromium is missing, and Playwright in .venv
# (the `browser` extra). Playwright never downloads a browser of its own here.
.PHONY: browser-deps check-browser

browser-deps: $(STAMP)
	@test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
		$$SUDO apt-get update -qq \
		&& $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	@$(PY) -c 'import playwright.sync_api' 2>/dev/null || $(PY) -m pip install --quiet -e '.[test,browser]'

check-browser: browser-deps
	$(PY) .ci/check_browser.py
