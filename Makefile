# Two commands: `make run` (the course end to end) and `make test` (the unit tests and every notebook).
# Each sets itself up: a virtual environment in .venv (unless one is already active,
# as in Colab or your own venv), with this package and its test extra installed at the versions
# CI last passed with (constraints.txt; `make setup CONSTRAINTS=` installs the newest instead).

PYTHON ?= python3
VENV   ?= .venv
ifdef VIRTUAL_ENV
  PY := python
  STAMP := .venv-active.stamp
else
  PY := $(VENV)/bin/python
  STAMP := $(VENV)/.installed
endif

CONSTRAINTS ?= -c constraints.txt
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
         --nbval-cell-timeout 900 -p no:cacheprovider

.PHONY: setup run test unit test-slow test-widgets7 test-browser chromium fashion-data report bench clean

# pytest, where exit status 5 (it collected nothing: every test of the stage skipped or deselected) is no failure
pytest_may_be_empty = rc=0; $(1) || rc=$$?; if [ $$rc = 5 ]; then echo "pytest collected nothing here"; else exit $$rc; fi

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
ifndef VIRTUAL_ENV
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
endif
	$(PY) -m pip install --quiet $(CONSTRAINTS) -e ".[test]"
	touch $@

## make test: unit tests of helpers/ and every notebook under nbval (strict), in fast mode; the tests
## marked slow (command lines, torchrun, papermill, whole notebooks in a test, a browser) are left to
## make test-slow.
test: setup
	DDPM_FAST=1 $(PY) -m pytest -m "not slow" tests $(NOTEBOOKS) $(NBVAL)

## make unit: the unit tests alone (no notebooks, nothing slow).
unit: setup
	$(call pytest_may_be_empty,DDPM_FAST=1 $(PY) -m pytest -m "not slow" tests -p no:cacheprovider)

## make test-slow: the tests marked slow: the command lines and experiments as processes or whole
## experiment runs, training on two processes (torchrun), notebooks 01-05 on Fashion-MNIST, the report export.
test-slow: setup
	$(call pytest_may_be_empty,DDPM_FAST=1 $(PY) -m pytest -m slow tests -p no:cacheprovider)

## make test-widgets7: the widget tests and every notebook with a slider (fast mode, nbval) against
## ipywidgets 7.7, the version Colab ships; it is installed apart, in build/ipywidgets7, and put first
## on PYTHONPATH (the kernels inherit it), so an API that exists only in ipywidgets 8 fails here.
WIDGETS7 := build/ipywidgets7
SLIDER_NOTEBOOKS = $(shell grep -l frame_slider $(NOTEBOOKS))

$(WIDGETS7)/.installed: $(STAMP)
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(WIDGETS7) "ipywidgets==7.7.*" ipython_genutils
	touch $@

test-widgets7: setup $(WIDGETS7)/.installed
	PYTHONPATH=$(CURDIR)/$(WIDGETS7) $(PY) -c "import ipywidgets; v = ipywidgets.__version__; \
	  assert v.startswith('7.7.'), v; print('testing against ipywidgets', v)"
	PYTHONPATH=$(CURDIR)/$(WIDGETS7) DDPM_FAST=1 $(PY) -m pytest tests/test_widgets.py $(SLIDER_NOTEBOOKS) $(NBVAL)

## make test-browser: the course in JupyterLab 4 and headless Chromium (tests/browser; about 5 minutes):
## every notebook opened fresh, every notebook with a slider run in fast mode and its sliders moved by
## keyboard, mouse and Play, notebook 11 (the analysis) exported to PDF from the File menu (where LaTeX is installed).
## The browser is Debian's chromium (or CHROMIUM=/path/to/it); `make chromium` installs it with apt-get.
BROWSER_STAMP := build/browser.stamp
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

$(BROWSER_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet $(CONSTRAINTS) -e ".[test,browser]"
	mkdir -p $(dir $@) && touch $@

## make fashion-data: Debian's Fashion-MNIST (dataset-fashion-mnist, 30 MB) for the Fashion-MNIST
## variants of the notebooks and their tests; on other systems torchvision downloads it on first use.
fashion-data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then echo "Fashion-MNIST: installed"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends dataset-fashion-mnist \
	  || { apt-get update && apt-get install -y --no-install-recommends dataset-fashion-mnist; }; \
	else sudo -n apt-get install -y --no-install-recommends dataset-fashion-mnist \
	  || { echo "no Fashion-MNIST: install it with 'sudo apt-get install dataset-fashion-mnist'"; exit 1; }; fi

chromium:
	@if [ -n "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends chromium \
	  || { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	else sudo -n apt-get install -y --no-install-recommends chromium \
	  || { echo "no chromium: install it with 'sudo apt-get install chromium', or set CHROMIUM=/path/to/it"; exit 1; }; fi

test-browser: setup $(BROWSER_STAMP) chromium
	DDPM_BROWSER_TEST=1 CHROMIUM="$(CHROMIUM)" $(PY) -m pytest tests/browser -p no:cacheprovider

## make run: the main job. Runs every notebook in order with its full settings, in place
## (notebook 03 trains for 15 minutes on a CPU, by epochs on a GPU).
run: setup
	$(PY) -m experiments.run_notebooks

## make report: notebook 11 (the analysis) executed on the committed results, exported without code to report/report.pdf
## (installs pandoc and xelatex with apt-get when they are missing).
report: setup
	$(PY) -m experiments.export_report

## make bench: the CPU benchmarks (ceiling, time to good digits, sampling speed, diffusers side by
## side, 100 digits in one call), one JSON line each, into results/benchmarks/bench.jsonl; about 75
## minutes on the idle 2-core CPU.
## make bench BENCH_ARGS=--quick checks that they all run (a minute or two).
bench: setup
	$(PY) -m experiments.bench $(BENCH_ARGS)

## make clean: the virtual environment and build files. Trained checkpoints (checkpoints/) and generated
## digits (outputs/) are yours: they are kept; delete them by hand if you mean to.
clean:
	rm -rf $(VENV) .venv-active.stamp build
	@for d in checkpoints outputs; do [ -d $$d ] && echo "kept $$d/ (your runs): remove it by hand if you mean to" || true; done
