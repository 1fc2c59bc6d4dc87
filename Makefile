# The two quick-start commands of the README, and the virtual environment they share.
#
#   make simulate   set everything up, then run `energizer simulate` on the bundled digits
#   make test       set everything up, then run the test suite (what .ci/run does)
#
# TORCH picks the PyTorch build installed before energizer. The default is the
# CPU build that pip finds on this project's machines; on a machine with a GPU
# pass the build you want, e.g. `make test TORCH=torch`.

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install simulate test clean

install: $(VENV)/.installed

# Torch goes in first: a plain `torch` requirement with no torch installed
# would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,plot]"
	touch $@

simulate: install
	$(BIN)/energizer simulate --dataset digits --output-dir out

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out
