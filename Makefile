# Two commands: `make run` (the course end to end) and `make test` (the whole test suite).
# Each sets itself up: a virtual environment in .venv (unless one is already active,
# as in Colab or your own venv), with requirements.txt and this package installed.

PYTHON ?= python3
VENV   ?= .venv
ifdef VIRTUAL_ENV
  PY := python
  STAMP := .venv-active.stamp
else
  PY := $(VENV)/bin/python
  STAMP := $(VENV)/.installed
endif

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
         --nbval-cell-timeout 900 -p no:cacheprovider

.PHONY: setup run test unit notebooks-test report bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
ifndef VIRTUAL_ENV
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
endif
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

## make test: unit tests of helpers/ and every notebook under nbval (strict), in fast mode.
test: setup
	DDPM_FAST=1 $(PY) -m pytest tests $(NOTEBOOKS) $(NBVAL)

unit: setup
	$(PY) -m pytest tests

## make run: the main job. Runs every notebook in order with its full settings, in place
## (notebook 03 trains for 15 minutes on a CPU, by epochs on a GPU).
run: setup
	$(PY) -m experiments.run_notebooks

## make report: notebook 07 executed on the committed results, exported without code to report/report.pdf
## (installs pandoc and xelatex with apt-get when they are missing).
report: setup
	$(PY) -m experiments.export_report

## make bench: the four CPU benchmarks (ceiling, time to good digits, sampling speed, diffusers side by
## side), one JSON line each, into results/benchmarks/bench.jsonl; 71 minutes on the idle 2-core CPU.
## make bench BENCH_ARGS=--quick checks that they all run (a minute or two).
bench: setup
	$(PY) -m experiments.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-active.stamp checkpoints outputs
