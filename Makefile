# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# TORCH_SPEC chooses the torch build (default: the CPU wheel 2.13.0); e.g.
#   make test TORCH_SPEC="torch==2.9.1"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo-model demo notebooks lint test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo-model: $(STAMP)
	$(BIN)/neuronedit models --fetch-demo

# The main job, offline on real data bundled in the package: locate gender/race/religion neurons on
# StereoSet dev halves, edit them out, measure every bias on StereoSet test halves, WinoBias, the
# probes and the knowledge probes, and perplexity on WikiText-2; write figures and out/demo/report.html.
DEMO_OUT ?= out/demo
DEMO_ARGS ?= --max-items 200 --ppl-tokens 10000 --no-dose
demo: demo-model
	$(BIN)/neuronedit demo
	$(BIN)/neuronedit transfer --model demo --out $(DEMO_OUT) --overwrite $(DEMO_ARGS)

# Execute the notebooks on the demo model and write their outputs into them (notebooks/execute.py; the
# tests check the outputs came from the current cells). NOTEBOOKS=notebooks/03_transfer_heatmap.ipynb
# runs one; NOTEBOOK_ARGS=--stale only those whose cells changed since their outputs were made.
NOTEBOOKS ?=
NOTEBOOK_ARGS ?=
notebooks: demo-model
	$(BIN)/python notebooks/execute.py $(NOTEBOOK_ARGS) $(NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/ruff check attributions neuronedit benchmarks tests notebooks/execute.py
	$(BIN)/mypy

# One pytest worker per core (TEST_WORKERS=0 runs in one process); each worker runs torch on one thread.
TEST_WORKERS ?= auto
test: demo-model lint
	$(BIN)/python -m pytest -ra --durations=25 -n $(TEST_WORKERS) --dist worksteal

test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra -m "not slow"

bench: demo-model
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_editing.py

clean:
	rm -rf $(VENV) build *.egg-info
