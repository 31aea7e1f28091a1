# emctl: `make demo` runs the whole pipeline locally on a sample stack; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO := demo-data

.PHONY: setup demo test bench images clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cpu]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m orchestrator.demo $(DEMO)

test: $(STAMP)
	$(PY) -m pytest -q -ra

bench: $(STAMP)
	$(PY) -m bench

images:
	docker/build-images.sh

clean:
	rm -rf $(DEMO) bench-data
