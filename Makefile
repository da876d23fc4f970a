# Quick start on a fresh machine:  make demo   (train the embedded default)
#                                  make test   (run the whole test suite)
# Both create or refresh .venv themselves. torch is pinned to the CPU wheel that pip finds on
# this machine's disk, so a fresh set-up never downloads a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml examples/jasper-example/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: demo test venv clean devbench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,text]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/jasper train quickstart --run-dir runs/quickstart-$(shell date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/python -m pytest -q

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
