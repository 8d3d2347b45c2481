# Two commands are all a newcomer needs:
#   make lab    set up .venv (first time only) and open the course in JupyterLab
#   make test   set up .venv (first time only) and run every test: library, lint, notebooks, browser
# Setup is redone only when requirements.txt or pyproject.toml change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The notebook suite: tools/determinism.py holds the one definition of how notebooks are tested (nbval in
# lax mode: only cells tagged nbval-check-output have their outputs compared; every assert runs) and the
# machine settings they must pass under (native, ATEN_CPU_CAPABILITY=default and =avx2, one thread).
NBSUITE := $(BIN)/python tools/determinism.py
LINTED := hypernet_lib course tests benchmarks tools notebooks

.PHONY: lab test unit notebooks lint bench budget execute setup browser nav binder-check determinism

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/python tools/lab.py

# tests/browser drives JupyterLab in Chromium (install it with `apt-get install chromium`; without
# it those tests skip and say so, except under CI=true, where they fail). Then every notebook runs four
# times: as this machine computes, with the kernels a CPU without AVX2 gets, with AVX2's, and with one thread.
test: $(STAMP) lint
	$(BIN)/python -m pytest tests
	$(NBSUITE) --settings all

unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/browser

browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser

nav: $(STAMP)
	$(BIN)/python tools/nav.py

# The course website, from the committed notebooks (not re-run): build/site/_build/html/index.html.
# MathJax comes from the npm registry into build/npm/, so the site renders equations offline.
# `make test` builds the site first: tests/browser/test_site_in_browser.py opens every page.
.PHONY: site site-serve citation-check
MATHJAX_VERSION := 3.2.2
MATHJAX_STAMP   := build/npm/.mathjax-$(MATHJAX_VERSION)

test: site

$(MATHJAX_STAMP):
	mkdir -p build/npm
	npm install --prefix build/npm --no-save --no-audit --no-fund --loglevel=error mathjax@$(MATHJAX_VERSION)
	touch $@

site: $(STAMP) $(MATHJAX_STAMP)
	$(BIN)/python tools/build_site.py

site-serve: site
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory build/site/_build/html 8000

# CITATION.cff against the CFF 1.2.0 schema; cffconvert pins an old jsonschema, so it gets its own venv.
citation-check:
	test -x build/cff/bin/cffconvert || ($(PYTHON) -m venv build/cff && build/cff/bin/pip install --quiet cffconvert==2.0.0)
	build/cff/bin/cffconvert --validate -i CITATION.cff

binder-check: $(STAMP)
	$(BIN)/python tools/binder_check.py

determinism: $(STAMP)
	$(NBSUITE) --settings native --runs 3

notebooks: $(STAMP)
	$(NBSUITE) --settings native --runs 1

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

budget: $(STAMP)
	$(BIN)/python tools/budget.py

# Execute notebooks for commit, one at a time on an idle machine: `make execute NB=notebooks/05_low_rank.ipynb`
# (default: every lecture). Saved outputs carry one summary line per training, no progress bars.
execute: $(STAMP)
	$(BIN)/python tools/budget.py --write --check $(NB)
