# Two commands a new user needs: `make run` (the main job) and `make test`.
# Both create .venv and node_modules on first use, from pinned requirements.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCKED_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
# checkov's own pins conflict with the project's: it gets a venv of its own.
CHECKOV ?= .venv-checkov
# The inference DLC's transformers and tokenizers over .venv's other packages: the endpoint's code is tested on them.
DLC_INFERENCE ?= .venv-dlc-inference
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# `cdk` runs `python3 app.py` (cdk.json): make it the venv's interpreter.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install run test check lint test-workloads bench clean

install: $(STAMP)

$(STAMP): locks/python.lock locks/torch.lock locks/checkov.lock locks/inference-dlc.lock pyproject.toml package.json \
		package-lock.json
	@command -v java >/dev/null || { echo "java not found: the local endpoint's multi-model-server needs Java 11+ (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v unshare >/dev/null && command -v ip >/dev/null || { echo "unshare or ip not found: the rehearsal runs each job in its own /opt/ml and network namespace (apt-get install util-linux iproute2)"; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	@# Hash-locked, nothing resolved here (locks/regenerate.sh): torch from its own index, then the rest.
	$(LOCKED_INSTALL) -r locks/torch.lock
	$(LOCKED_INSTALL) -r locks/python.lock
	@# The project itself, built by the locked setuptools rather than one fetched for an isolated build.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# --no-deps adds and upgrades, never removes: what a lock dropped would stay in an older venv.
	$(PY) locks/prune.py
	test -x $(CHECKOV)/bin/python || python3 -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r locks/checkov.lock
	test -x $(DLC_INFERENCE)/bin/python || python3 -m venv $(DLC_INFERENCE)
	$(DLC_INFERENCE)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r locks/inference-dlc.lock
	@# Appended after its own site-packages: its transformers and tokenizers come first, the rest from .venv.
	$(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
		"$$($(DLC_INFERENCE)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/textclf-venv.pth"
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

run: install
	$(VENV)/bin/textclf local-run

# Both cores: run serially the suite keeps one busy on average. `loadgroup` hands out one test at a time in
# collection order, so the whole rehearsals (sorted first by tests/conftest.py) start at once, one on each worker,
# and the rest fill in around them (docs/benchmarks.md, "The test suite").
PYTEST := $(PY) -m pytest -q --durations=15 -n 2 --dist loadgroup

test: lint
	$(PYTEST)

# The delivery pipeline's Synth step: lint, types, and every test that neither trains, runs a job nor serves a
# model (synth with cdk-nag, cfn-lint, checkov, the policy engine, the CLI). Its Rehearse action runs the rest.
check: lint
	$(PYTEST) -m "not workload"

test-workloads: install
	$(PYTEST) -m workload

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	node_modules/.bin/pyright

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
	rm -rf $(VENV) $(CHECKOV) $(DLC_INFERENCE) node_modules cdk.out
