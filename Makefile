# Every target creates .venv and installs the project into it first, if needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
ARGS   ?=
# pytest processes for `make test`
TEST_WORKERS ?= 2

.PHONY: help install test classify sentiment forecast textgen translate gradients bench gpu-check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  (pass recipe options with ARGS='--epochs 1 ...'; set RECIPES_DATA_DIR to use local data)"

$(STAMP): pyproject.toml
	@echo "installing the project and its dependencies into $(VENV) (first run only, a few minutes)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(STAMP)

$(DEVSTAMP): $(STAMP)
	@echo "installing the test tools (pytest, jax) into $(VENV) (first test run only)"
	$(PY) -m pip install -q -e '.[dev]'
	touch $(DEVSTAMP)

install: $(STAMP)  ## create .venv and install the project and its dependencies

test: $(DEVSTAMP)  ## run the test suite (real-data tests need RECIPES_DATA_DIR); installs pytest and jax too
	@# Most tests wait on Python, tracing and subprocess start-up, not on arithmetic: two processes take
	@# about 60% of the time of one. Tests that share a module fixture stay together (xdist_group); tests
	@# that time themselves run alone, after.
	@status=0; \
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not timing" || status=1; \
	$(PY) -m pytest -q -m timing || status=1; \
	exit $$status

classify: $(STAMP)  ## text classification for any labelled CSV, the recipe to copy (runs/classify; IMDB by default)
	$(PY) -m recipes.classify $(ARGS)

sentiment: $(STAMP)  ## train and evaluate the IMDB sentiment recipe (runs/sentiment)
	$(PY) -m recipes.sentiment $(ARGS)

forecast: $(STAMP)  ## train and evaluate the stock-price forecasting recipe (runs/forecast)
	$(PY) -m recipes.forecast $(ARGS)

textgen: $(STAMP)  ## the character model on tiny Shakespeare (runs/textgen); ARGS=home for the HOME example
	$(PY) -m recipes.textgen $(ARGS)

translate: $(STAMP)  ## train and evaluate the Spanish-to-English translator, BLEU on its test split (runs/translate)
	$(PY) -m recipes.translate $(ARGS)

gradients: $(STAMP)  ## vanishing and exploding gradients measured, no data needed (runs/gradients)
	$(PY) -m recipes.gradients $(ARGS)

bench: $(STAMP)  ## speed of every recipe beside its tutorial settings (runs/bench/bench.md); needs the data
	$(PY) -m benchmarks $(ARGS)

gpu-check: $(STAMP)  ## training speed on the GPU vs the CPU, cuDNN vs generic layers, bfloat16 vs float32 (runs/gpu)
	$(PY) -m benchmarks.gpu $(ARGS)

clean:  ## remove the environment and run outputs
	rm -rf $(VENV) runs *.egg-info
