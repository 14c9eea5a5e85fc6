# vmnet.ipfabric: everything runs as root on Debian 12. `make demo` and `make test` do all set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
BIN      := $(VENV)/bin
BUILD    := .build
COLL     := $(BUILD)/collections/ansible_collections/vmnet/ipfabric
LAB      := tests/lab/lab
# lab tests run in this many labs side by side (instances 0..N-1), files spread over them
LAB_WORKERS ?= 2
# the demo's lab: instance $VMNET_LAB_INSTANCE (default 0, inventory inventories/lab)
LAB_INV  := inventories/lab$(filter-out 0,$(VMNET_LAB_INSTANCE))
APT_PKGS := python3 python3-venv python3-pip python-is-python3 iputils-ping debootstrap systemd-container iproute2 openssh-client \
            git rsync util-linux procps ca-certificates nftables shellcheck iperf3
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help deps collection demo test unit sanity lint matrix molecule-and-matrix lab-test molecule test-reliability lab-up lab-down lab-status \
        bench bench-load build docs clean

help:
	@echo "make demo   bring up the lab, configure the fabric, create three VMs, print what happened"
	@echo "make test   every test: unit, IPAM concurrency, sanity, lint, lab, molecule, the ansible-core matrix"
	@echo "make bench  benchmarks (long; results in docs/benchmarks.md); make bench-load: 5,000 VMs"
	@echo "make test-reliability  only the lab's hostile-input, fault, security, resilience and anti-spoofing tests (make test runs them too)"
	@echo "make matrix sanity and unit tests under every ansible-core the collection claims (noxfile.py)"
	@echo "make docs   the collection's docs site in .build/docs/html (antsibull-docs lint, reference, guides)"
	@echo "make lab-up | lab-down | lab-status | build | clean"

# --- set-up -----------------------------------------------------------------------------------
$(BUILD)/apt.stamp:
	@mkdir -p $(BUILD)
	@echo "== installing Debian packages: $(APT_PKGS)"
	@if ! dpkg -s $(APT_PKGS) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; fi
	@touch $@

$(BUILD)/venv.stamp: requirements.txt requirements-dev.txt $(BUILD)/apt.stamp
	@echo "== Python virtualenv $(VENV) (requirements-dev.txt)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

collection: $(COLL)
$(COLL):
	@mkdir -p $(dir $(COLL))
	@ln -sfn $(CURDIR) $(COLL)

deps: $(BUILD)/venv.stamp collection

# --- the lab and the demo ---------------------------------------------------------------------
lab-up: deps
	@$(LAB) up
lab-down:
	@$(LAB) down
lab-status:
	@$(LAB) status

demo: lab-up
	@echo "== configuring core1, rr1, rr2, node1..3 (playbooks/site.yml)"
	@$(BIN)/ansible-playbook -i $(LAB_INV) playbooks/site.yml
	@echo "== creating three VMs on three nodes (playbooks/vm_create.yml)"
	@$(BIN)/ansible-playbook -i $(LAB_INV) playbooks/vm_create.yml \
	  -e '{"vms": [{"name": "web1", "node": "node1"}, {"name": "db1", "node": "node2"}, {"name": "cache1", "node": "node3"}]}'
	@$(PY) tests/lab/fabric_report.py web1 db1 cache1

# --- tests ------------------------------------------------------------------------------------
test: deps
	@$(MAKE) --no-print-directory unit sanity lint lab-test molecule-and-matrix

unit: deps
	@echo "== the lab image (tests/integration boots FRR from it; built once, then cached)"
	@$(LAB) image >/dev/null
	@echo "== unit, property and IPAM tests (pytest)"
	@$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/ipam tests/integration

SANITY_DIR := $(BUILD)/sanity/ansible_collections/vmnet/ipfabric
sanity: deps
	@echo "== ansible-test sanity (no ignore files)"
	@pipver=$$($(PY) -c 'import re,ansible_test._internal.python_requirements as m,inspect; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(m)).group(1))'); \
	  cache=~/.ansible/test/cache/get_pip_$${pipver//./_}.py; mkdir -p $$(dirname $$cache); \
	  cmp -s tests/tools/ansible_test_get_pip.py $$cache || cp tests/tools/ansible_test_get_pip.py $$cache
	@rm -rf $(BUILD)/sanity && mkdir -p $(SANITY_DIR)
	@git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_DIR)/
	@cd $(SANITY_DIR) && git init -q && git add -A && \
	  PATH=$(CURDIR)/$(BIN):$$PATH $(CURDIR)/$(BIN)/ansible-test sanity --python 3.11 --color no


# The ansible-core matrix (noxfile.py, antsibull-nox): sanity-X.Y and units-X.Y for 2.16..2.19, virtualenvs
# kept in .build/nox; MATRIX_SESSIONS narrows it (nox -l lists them).
MATRIX_SESSIONS ?=
matrix: deps
	@echo "== ansible-core matrix (nox: $(or $(MATRIX_SESSIONS),every session))"
	@PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/nox --envdir $(BUILD)/nox --reuse-venv yes $(if $(MATRIX_SESSIONS),-s $(MATRIX_SESSIONS))

# make test's part of the matrix: every ansible-core claimed but the controller's pin (2.19, which make unit,
# make sanity and the lab tests run with), and the lab smoke run under the oldest. It runs beside molecule
# (neither times anything; the lab tests, which do, run alone before them); its log is printed after.
TEST_MATRIX := units-2.16 units-2.17 units-2.18 sanity-2.16 sanity-2.17 sanity-2.18 lab-smoke-2.16
MATRIX_LOG  := $(BUILD)/matrix.log
molecule-and-matrix: deps
	@echo "== ansible-core matrix ($(TEST_MATRIX)) beside molecule; its log: $(MATRIX_LOG)"
	@( $(MAKE) --no-print-directory matrix MATRIX_SESSIONS="$(TEST_MATRIX)" >$(MATRIX_LOG) 2>&1; echo $$? >$(MATRIX_LOG).rc ) & \
	  pid=$$!; rc=0; $(MAKE) --no-print-directory molecule || rc=$$?; wait $$pid; mrc=$$(cat $(MATRIX_LOG).rc); \
	  echo "== ansible-core matrix: exit $$mrc (whole log: $(MATRIX_LOG))"; \
	  if [ "$$mrc" != 0 ]; then cat $(MATRIX_LOG); else grep -E '^nox > (Session|Ran)|passed|FATAL|ERROR' $(MATRIX_LOG) || true; fi; \
	  [ "$$rc" = 0 ] && [ "$$mrc" = 0 ]

lint: deps
	@echo "== ansible-lint --profile production"
	@rm -rf .ansible   # ansible-lint's cached copy of this collection would hide new modules
	@$(BIN)/ansible-lint --profile production --offline
	@$(BIN)/antsibull-changelog lint

lab-test: lab-up
	@echo "== lab tests against the real fabric (the reliability and resilience suite included)"
	@rc=0; VMNET_LAB_PARALLEL=1 $(BIN)/pytest -q -p no:cacheprovider -n $(LAB_WORKERS) --dist loadfile tests/lab_tests \
	  || rc=$$?; for i in $$(seq 0 $$(( $(LAB_WORKERS) - 1 ))); do VMNET_LAB_INSTANCE=$$i $(LAB) down; done; exit $$rc

# The reliability and resilience files alone (docs/reliability.md); `make test` runs them with the rest.
RELIABILITY := tests/lab_tests/test_bad_input.py tests/lab_tests/test_faults.py tests/lab_tests/test_security.py \
  tests/lab_tests/test_resilience.py tests/lab_tests/test_max_prefix.py tests/lab_tests/test_anti_spoofing.py
test-reliability: lab-up
	@echo "== reliability and security lab tests"
	@rc=0; VMNET_LAB_PARALLEL=1 $(BIN)/pytest -q -p no:cacheprovider -n $(LAB_WORKERS) --dist loadfile $(RELIABILITY) \
	  || rc=$$?; for i in $$(seq 0 $$(( $(LAB_WORKERS) - 1 ))); do VMNET_LAB_INSTANCE=$$i $(LAB) down; done; exit $$rc

molecule: deps
	@echo "== molecule scenarios (extensions/molecule; lab instance $${VMNET_MOLECULE_LAB_INSTANCE:-6})"
	@PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/molecule test --all

bench: deps
	@$(PY) tests/benchmarks/run.py

bench-load: lab-up
	@$(PY) tests/benchmarks/load_5000.py --write-docs

# --- the docs site ----------------------------------------------------------------------------
# antsibull-docs and Sphinx live in their own virtualenv (requirements-docs.txt): `make test` does not
# need them, and antsibull-docs wants a newer antsibull-changelog than requirements-dev.txt pins. The
# collections this one depends on (junipernetworks.junos, ansible.posix), which ansible-doc must find,
# come from the `ansible` package in .venv. Nothing is fetched but the PyPI packages: docs/conf_offline.py,
# appended to sphinx-init's conf.py, replaces its intersphinx mapping (which would download the inventories
# of docs.ansible.com and docs.python.org) with a local one. Sphinx runs with -W: a warning fails the build.
DOCS      := $(BUILD)/docs
DOCS_VENV := $(BUILD)/docs-venv
DOCS_EXTENSIONS := sphinx.ext.autodoc,sphinx.ext.intersphinx,sphinx_antsibull_ext,myst_parser
$(BUILD)/docs-venv.stamp: requirements.txt requirements-docs.txt $(BUILD)/apt.stamp
	@echo "== docs virtualenv $(DOCS_VENV) (requirements-docs.txt)"
	@test -x $(DOCS_VENV)/bin/python || python3 -m venv $(DOCS_VENV)
	@$(DOCS_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-docs.txt
	@touch $@

docs: deps $(BUILD)/docs-venv.stamp
	@deps=$$($(PY) -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))'); \
	  export ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(BUILD)/collections:$$deps PATH=$(CURDIR)/$(DOCS_VENV)/bin:$$PATH; \
	  echo "== antsibull-docs lint-collection-docs --plugin-docs"; \
	  (cd $(COLL) && antsibull-docs lint-collection-docs --plugin-docs .); \
	  echo "== docs site: antsibull-docs sphinx-init and collection into $(DOCS)/site, the guides of docs/"; \
	  rm -rf $(DOCS) && mkdir -p -m 0755 $(DOCS)/site; \
	  antsibull-docs sphinx-init --use-current --dest-dir $(DOCS)/site --index-rst-source docs/index.rst \
	    --project vmnet.ipfabric --copyright 'vmnet.ipfabric developers' --title vmnet.ipfabric \
	    --html-short-title vmnet.ipfabric vmnet.ipfabric >/dev/null; \
	  cat docs/conf_offline.py >> $(DOCS)/site/conf.py; \
	  mkdir -p -m 0755 $(DOCS)/site/rst; \
	  antsibull-docs --config-file $(DOCS)/site/antsibull-docs.cfg collection --use-current \
	    --dest-dir $(DOCS)/site/rst vmnet.ipfabric >/dev/null; \
	  cp docs/*.md docs/*.svg $(DOCS)/site/rst/ && mkdir -p $(DOCS)/site/rst/roles && cp docs/roles/*.md $(DOCS)/site/rst/roles/; \
	  echo "== sphinx-build -W into $(DOCS)/html"; \
	  sphinx-build -q -b html -W --keep-going -c $(DOCS)/site -D extensions=$(DOCS_EXTENSIONS) \
	    $(DOCS)/site/rst $(DOCS)/html
	@echo "docs: $(DOCS)/html/index.html"

build: deps
	@$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist .

clean: lab-down
	rm -rf $(BUILD) $(VENV)
