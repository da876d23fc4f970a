# Quick start on a fresh machine:  make demo      (train the embedded default)
#                                  make test      (the fast suite: <= 30 s on 2 cores, fails under 95% line coverage)
#                                  make test-all  (everything, slow scenario tests included; CI runs both)
# All create or refresh .venv themselves. torch is pinned to the CPU wheel that pip finds on
# this machine's disk, so a fresh set-up never downloads a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml examples/jasper-example/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: demo test test-all venv clean devbench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip uninstall --quiet --yes jasper 2>/dev/null || true  # the old distribution name of this project
	rm -rf jasper.egg-info
	$(BIN)/python -m pip install --quiet -e ".[dev,text,faiss]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/jasper train quickstart --run-dir runs/quickstart-$(shell date +%Y%m%d-%H%M%S)

# The fast suite: tests marked slow are left out; line coverage of jasper_core and plugins/ (the
# jasper_plugins package) must reach COV_MIN. Coverage data goes to the venv, not the work tree.
# Tests run in JOBS worker processes (pytest-xdist; an idle worker steals queued tests from the busy one);
# each worker is single-threaded (conftest).
COV_MIN ?= 95
JOBS    ?= 2
PYTEST  := $(BIN)/python -m pytest -q -n $(JOBS) --dist worksteal

# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: without .pyc files every run parses and
# rewrites (pytest's assertions) every module again, about 3 s of the 30 s budget on 2 cores.
test: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE COVERAGE_FILE=$(VENV)/.coverage $(PYTEST) -m "not slow" --cov=jasper_core --cov=jasper_plugins --cov-fail-under=$(COV_MIN)

# Everything, slow scenario tests (kill/resume in subprocesses, real wandb, ...) included, with the
# full hypothesis budget.
test-all: $(STAMP)
	$(PYTEST) --hypothesis-profile=full

# The development benchmark (docs/data.md): docstrings of these packages, cached outside the repo.
DEVBENCH_PACKAGES ?= numpy scipy pandas scikit-learn sympy matplotlib networkx statsmodels astropy \
                     scikit-image xarray mpmath pillow polars pyarrow biopython nltk dask seaborn
DEVBENCH_DIR ?= $(or $(JASPER_DEVBENCH_DIR),$(HOME)/.cache/jasper/devbench)

devbench: $(STAMP)
	@if [ -f "$(DEVBENCH_DIR)/meta.json" ] && [ -z "$(FORCE)" ]; then \
		echo "devbench already built: $(DEVBENCH_DIR) (make devbench FORCE=1 rebuilds)"; \
	else \
		$(BIN)/python -m pip install --quiet --upgrade-strategy only-if-needed $(DEVBENCH_PACKAGES) && \
		$(BIN)/python scripts/build_devbench.py --out "$(DEVBENCH_DIR)"; \
	fi

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
