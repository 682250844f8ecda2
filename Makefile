# agentload — two entry points: `make demo` and `make test`. Both bootstrap .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12: a working python3.12 on PATH, else pyenv's 3.12.x. A pyenv shim named
# python3.12 exists even when the active pyenv version is 3.11, so we probe that it runs.
PYTHON ?= $(shell for p in python3.12 "$$(pyenv root 2>/dev/null)/versions/3.12"*/bin/python3 \
            /usr/bin/python3.12 /usr/local/bin/python3.12; do \
            "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 \
            && { echo "$$p"; break; }; done)
VENV := .venv
VPY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
# Top-level folders installed as agentload.<folder> (pyproject's package-dir mapping).
MAPPED := base providers traceformat capture profiles replay simengine analysis
PACKAGES := $(MAPPED) agentload
MYPY_TREE := $(VENV)/mypy-tree
ENGINE_CACHE ?= $(HOME)/.cache/agentload/engine
# vLLM's CPU build in a venv of its own (it pins its own torch) and its converted model.
VLLM_CACHE ?= $(HOME)/.cache/agentload/vllm
# Real coding agents for the capture tests, from the npm registry, pinned (outside the repo).
AGENT_CACHE ?= $(HOME)/.cache/agentload/agents
CLAUDE_CODE_VERSION := 2.1.197
CODEX_VERSION := 0.171.0

.PHONY: help venv lint typecheck test test-fast demo engine browser agents bench vllm test-vllm test-ray-nodes clean

help:
	@echo "make demo       agentic-coding on two simulated engines (full, quarter KV): verdict + HTML"
	@echo "make test       lint, type-check and run the whole suite (builds llama-server once)"
	@echo "make test-fast  unit and sim tests only (no llama-server, no agent CLIs; installs chromium)"
	@echo "make lint       ruff check and format check"
	@echo "make typecheck  mypy --strict on the packages, benchmarks and tests"
	@echo "make venv       create .venv from requirements.lock (every target does this first)"
	@echo "make engine     build llama-server and fetch SmolLM2 into ENGINE_CACHE (cached)"
	@echo "make agents     install the pinned Claude Code and Codex CLIs into AGENT_CACHE"
	@echo "make browser    install Debian's chromium for the HTML report tests"
	@echo "make bench      run the benchmarks, rewrite benchmarks/RESULTS.md"
	@echo "make adversary  re-run the 630 attempts of the adversarial catalogue (issue 21)"
	@echo "make vllm       install vLLM's CPU build and convert its model (opt-in, ~3.5 GB)"
	@echo "make test-vllm  the real-engine tier against vLLM's CPU build (opt-in)"
	@echo "make test-ray-nodes  replay across a two-node Ray cluster on this machine (opt-in, ~2 min)"
	@echo "make clean      remove .venv and demo output"

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.12 not found (on PATH as python3.12 or under pyenv)"; exit 1; }
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q "uv==0.13.9"
	$(UV) pip sync -q --python $(VPY) requirements.lock
	$(UV) pip install -q --python $(VPY) --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(PACKAGES) tests benchmarks
	$(VENV)/bin/ruff format --check $(PACKAGES) tests benchmarks

# mypy cannot follow the editable install's import hook, so it reads a link tree laid out as
# installed: agentload/ with each mapped folder linked in as agentload/<folder>.
typecheck: $(STAMP)
	@rm -rf $(MYPY_TREE) && mkdir -p $(MYPY_TREE)/agentload
	@for f in agentload/*; do ln -s "$(CURDIR)/$$f" $(MYPY_TREE)/agentload/; done
	@for p in $(MAPPED); do ln -s "$(CURDIR)/$$p" $(MYPY_TREE)/agentload/$$p; done
	MYPYPATH=$(CURDIR)/$(MYPY_TREE) $(VENV)/bin/mypy --strict --cache-dir $(MYPY_TREE)/.cache -p agentload
	MYPYPATH=$(CURDIR)/$(MYPY_TREE) $(VENV)/bin/mypy --strict --cache-dir $(MYPY_TREE)/.cache benchmarks tests

engine: $(STAMP)
	$(VPY) -m tests.integration.build_engine --cache "$(ENGINE_CACHE)"

# Debian's chromium, for the HTML report test (headless, networking off).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

# Claude Code and Codex CLIs at pinned versions (npm); reinstalled only when a version differs.
agents:
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found (Node.js 20+ is needed for the agent tests)"; exit 1; }
	@mkdir -p "$(AGENT_CACHE)"
	@cd "$(AGENT_CACHE)" && v() { node -p "require('./node_modules/$$1/package.json').version" 2>/dev/null; }; \
	  if [ "$$(v @anthropic-ai/claude-code)" != "$(CLAUDE_CODE_VERSION)" ] || [ "$$(v @openai/codex)" != "$(CODEX_VERSION)" ]; then \
	    test -f package.json || echo '{"private": true}' > package.json; \
	    npm install --no-audit --no-fund --silent "@anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)" "@openai/codex@$(CODEX_VERSION)"; \
	  fi
	@"$(AGENT_CACHE)/node_modules/.bin/claude" --version
	@"$(AGENT_CACHE)/node_modules/.bin/codex" --version

# One pytest run per tier. pytest exits 5 when it collected nothing: for this suite that is
# a failure, said plainly.
PYTEST_ENV := AGENTLOAD_ENGINE_CACHE="$(ENGINE_CACHE)" AGENTLOAD_AGENT_CACHE="$(AGENT_CACHE)"
define pytest_tier
	@echo "== pytest: $(1)"; $(PYTEST_ENV) $(VPY) -m pytest -q -p no:cacheprovider -m "$(2)"; \
	  rc=$$?; if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests ($(1))"; exit 1; fi; \
	  exit $$rc
endef

# Unit tests first (the HTML report tests among them need Debian's chromium); the engine
# build and the agent CLIs only once they passed, then the tiers that need them.
test: lint typecheck browser
	$(call pytest_tier,unit and sim tier,not engine and not agents)
	@$(MAKE) --no-print-directory engine
	$(call pytest_tier,real-engine tier,engine and not agents)
	@$(MAKE) --no-print-directory agents
	$(call pytest_tier,real-agent tier,agents)

test-fast: $(STAMP) browser
	$(call pytest_tier,unit and sim tier,not engine and not agents)

demo: $(STAMP)
	$(VENV)/bin/agentload demo --out demo-out

bench: $(STAMP)
	$(VPY) -m benchmarks.run_all

# Every attempt of the adversarial catalogue (tests/adversary/catalogue.tsv) against the real
# CLI, sims and capture proxies; prints `attempts N, held H, broken B` and exits 1 if any broke.
.PHONY: adversary
adversary: $(STAMP)
	$(VPY) -m tests.adversary.catalogue

# Opt-in, never part of `make test`: a few minutes and ~3.5 GB the first time.
vllm: $(STAMP)
	$(VPY) -m tests.integration.build_vllm --cache "$(VLLM_CACHE)" --engine-cache "$(ENGINE_CACHE)"

# The real-engine tier (tests marked `engine`) with vLLM serving instead of llama-server.
# vLLM's CPU start-up (torch.compile) took 2.5-12.5 min on a busy 2-core machine, longer
# than pytest's 300-s default timeout allows the session fixture.
test-vllm: vllm
	AGENTLOAD_ENGINE=vllm AGENTLOAD_VLLM_CACHE="$(VLLM_CACHE)" $(PYTEST_ENV) \
	  $(VPY) -m pytest -q -p no:cacheprovider --timeout 1800 -m engine tests/integration

# A head and a worker Ray node started on this machine (tests marked `raycluster`): about
# 100 s on a busy 2-core host, more than the default tier affords for one module.
test-ray-nodes: $(STAMP)
	$(PYTEST_ENV) $(VPY) -m pytest -q -p no:cacheprovider -m raycluster tests/distributed

clean:
	rm -rf $(VENV) demo-out
