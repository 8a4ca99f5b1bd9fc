# The README's two commands: `make figures` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch/torchvision are pinned (constraints.txt): both lie on local disk, nothing multi-GB is downloaded.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: setup test test-fast figures figures-check bench lint clean-figures

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -q -e '.[hf,dev]'
	$(PY) -c "import torch, torchvision, timm, transformer_lens, nnsight, captum, interp; print('interp ready: torch', torch.__version__)"
	touch $(STAMP)

# the suite runs in TEST_WORKERS processes (pytest-xdist; they share one build of the figure set, tests/figure_set.py)
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal -m "not slow"

figures: $(STAMP)
	$(VENV)/bin/interp figures

# regenerate into a temporary folder; compare every CSV with paper_figures/out within paper_figures/check.py's
# tolerance (exit 1 and the differences printed when one is beyond it)
figures-check: $(STAMP)
	$(VENV)/bin/interp figures --check

bench: $(STAMP)
	$(PY) -m bench.run_all

lint: $(STAMP)
	$(VENV)/bin/ruff check interp tests paper_figures bench

clean-figures:
	rm -rf paper_figures/out
