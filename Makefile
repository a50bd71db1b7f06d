# oneport.pachyderm: the two commands are `make demo` and `make test`; the rest are their parts.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export ONEPORT_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/oneport
export PATH := $(CURDIR)/bin:$(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections
export PYTHONPATH := $(CURDIR)/.build/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_HOME := $(CURDIR)/.build/ansible-home
export HELM_PLUGINS := $(CURDIR)/.build/helm/plugins
export PYTHONDONTWRITEBYTECODE := 1

PY := $(CURDIR)/.venv/bin/python
SETUP_STAMP := .build/setup.stamp

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(SETUP_STAMP): requirements.txt requirements-dev.txt constraints.txt tools/tools.yml tools/setup_venv.sh \
    tools/install_tools.py tools/build_progress.py
	@echo "==> setup: Python environment and pinned tools"
	./tools/setup_venv.sh
	$(PY) tools/install_tools.py
	@touch $@

.PHONY: setup
setup: $(SETUP_STAMP) ## install the pinned Python environment and tool binaries (incremental)

.PHONY: lint
lint: setup ## yamllint, ruff, ansible-lint (production profile), antsibull-docs lint-collection-docs
	$(PY) tools/testrun.py --only lint

.PHONY: sanity
sanity: setup ## ansible-test sanity from a temporary collection tree
	$(PY) tools/testrun.py --only sanity

.PHONY: unit
unit: setup ## unit tests (pytest, tests/unit)
	$(PY) tools/testrun.py --only unit

.PHONY: golden
golden: setup ## rewrite tests/golden/ from the current renderers (review the diff, then commit it)
	ONEPORT_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/unit/test_golden_envoy.py

.PHONY: integration
integration: setup ## integration tests with real processes (tests/integration)
	$(PY) tools/testrun.py --only integration

.PHONY: build
build: setup ## build the collection tarball into dist/ and check it with galaxy-importer as Galaxy would
	$(PY) tools/testrun.py --only build

.PHONY: test
test: setup ## every quality gate and every test; ends with "N passed, N failed"
	$(PY) tools/testrun.py

.PHONY: demo
demo: setup ## run site.yml against the local default inventory and explain the result
	$(PY) tools/demo.py

.PHONY: clean
clean: ## remove build outputs from the checkout (the per-user cache stays)
	rm -rf .build bin dist tests/output .pytest_cache .ruff_cache render

.PHONY: charts
charts: setup ## find (or fetch once) the real charts the sandbox's chart repository serves
	$(PY) -m tools.sandbox charts

.PHONY: cluster-up
cluster-up: setup ## start the sandbox Kubernetes on loopback; kubeconfig at .build/sandbox/kubeconfig
	$(PY) -m tools.sandbox up

.PHONY: cluster-down
cluster-down: ## stop every sandbox process (the state in .build/sandbox stays for the next up)
	$(PY) -m tools.sandbox down

.PHONY: cluster-status
cluster-status: ## show each sandbox component and its health
	$(PY) -m tools.sandbox status

.PHONY: bench-proxy
bench-proxy: setup ## gRPC upload throughput: direct vs the edge and in-cluster configs vs the chart's, 0/20/60 ms, two links
	$(PY) tools/bench_proxy.py

.PHONY: bench-rollout
bench-rollout: setup ## site.yml on sandboxes: first converge, no-op re-run, check mode, a fleet of two; time per role
	$(PY) tools/bench_rollout.py

.PHONY: bench-real
bench-real: setup ## real Pachyderm (root): 1 GiB pachctl put/get, S3 multipart, 8 uploads at once; ours vs chart vs direct, 0/20/60 ms
	$(PY) tools/bench_real.py $(BENCH_REAL_ARGS)

.PHONY: ee-context
ee-context: setup ## execution-environment build context in .build/ee-context (then: podman build .build/ee-context)
	$(PY) tools/render_ee.py --check
	ansible-galaxy collection build --force --output-path dist
	ansible-builder create --file execution-environment.yml --context .build/ee-context --output-filename Containerfile
