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

.PHONY: setup run test unit notebooks-test report clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
ifndef VIRTUAL_ENV
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
endif
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

## make test: unit tests of helpers/ and every notebook under nbval (strict), in fast mode.
test: setup
	DDPM_FAST=1 MPLBACKEND=Agg $(PY) -m pytest tests $(NOTEBOOKS) $(NBVAL)

unit: setup
	$(PY) -m pytest tests

## make run: the main job. Trains (a CPU gets a 15-minute budget) and samples with the CLI.
run: setup
	mkdir -p checkpoints outputs
	$(PY) -m helpers train --out checkpoints/ddpm.pt --max-minutes 15 --conditional --resume
	$(PY) -m helpers sample --checkpoint checkpoints/ddpm.pt --n 100 --labels balanced \
	    --guidance 2 --out outputs/samples.pt

clean:
	rm -rf $(VENV) .venv-active.stamp checkpoints outputs
