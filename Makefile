# Two commands a new user needs: `make run` (the main job) and `make test`.
# Both create .venv and node_modules on first use, from pinned requirements.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCKED_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
# checkov's own pins conflict with the project's: it gets a venv of its own.
CHECKOV ?= .venv-checkov
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# `cdk` runs `python3 app.py` (cdk.json): make it the venv's interpreter.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): locks/python.lock locks/torch.lock locks/checkov.lock pyproject.toml package.json package-lock.json
	@command -v java >/dev/null || { echo "java not found: the local endpoint's multi-model-server needs Java 11+ (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v unshare >/dev/null && command -v ip >/dev/null || { echo "unshare or ip not found: the rehearsal runs each job in its own /opt/ml and network namespace (apt-get install util-linux iproute2)"; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	@# Hash-locked, nothing resolved here (locks/regenerate.sh): torch from its own index, then the rest.
	$(LOCKED_INSTALL) -r locks/torch.lock
	$(LOCKED_INSTALL) -r locks/python.lock
	@# The project itself, built by the locked setuptools rather than one fetched for an isolated build.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	test -x $(CHECKOV)/bin/python || python3 -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r locks/checkov.lock
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

run: install
	$(VENV)/bin/textclf local-run

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	node_modules/.bin/pyright
	$(PY) -m pytest -q --durations=15

bench: install
	$(PY) -m benchmarks synth
	$(PY) -m benchmarks train
	$(PY) -m benchmarks serve
	$(PY) -m benchmarks load
	$(PY) -m benchmarks scaling
	$(PY) -m benchmarks data
	$(PY) -m benchmarks signals
	$(PY) -m benchmarks robustness

clean:
	rm -rf $(VENV) $(CHECKOV) node_modules cdk.out
