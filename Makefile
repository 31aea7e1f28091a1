# emctl: `make demo` runs the whole pipeline locally on a sample stack; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO := demo-data

.PHONY: setup demo test bench images deploy destroy clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cpu]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m orchestrator.demo $(DEMO) $(if $(REAL),--real)

test: $(STAMP)
	$(PY) -m pytest -q -ra
	infra/test.sh

# Every stage against the field's reference tools, same run, same cores; QUICK=1 for a smoke run.
bench: $(STAMP)
	$(PY) -m bench $(if $(QUICK),--quick)

images:
	docker/build-images.sh

# `pulumi up` in infra/: the registry first, then the images (make images), then everything else.
deploy:
	infra/deploy.sh

destroy:
	cd infra && pulumi destroy $(if $(STACK),--stack $(STACK))

clean:
	rm -rf $(DEMO) bench-data
