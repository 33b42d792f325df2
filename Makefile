# `make demo` and `make test` create the local virtual environment when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench fuzz clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/mlp.py

test: $(STAMP)
	$(PY) -m pytest -q

# Not part of `make test`: compares graphc with numpy and the peers that are installed
# (pip install -e '.[bench]' and torch for all of them). Options: make bench ARGS=--quick
bench: $(STAMP)
	$(PY) -m graphc.bench $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info

# The differential fuzzer's seeded loop (docs/testing.md): make fuzz N=20000 JOBS=2 SEED=0
N ?= 2000
JOBS ?= 1
SEED ?= 0
fuzz: $(STAMP)
	$(PY) -m graphc.testing.fuzz --graphs $(N) --jobs $(JOBS) --seed $(SEED) $(ARGS)
