# Two entry points (README "Quick start"): `make demo` and `make test`.
# Each builds its own virtualenv in .venv.  llama-cpp-python compiles from
# source; the flags below avoid a native build that was seen to segfault on
# first generation on these machines (DESIGN §7).  pip caches the wheel.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test sysdeps proto bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e ".[local,web,dev]"
	touch $@

# System tools used by the tests, root only: network namespaces (iproute2) for
# the multi-host tests, Debian's Chromium for the live-page browser test
# (Playwright drives /usr/bin/chromium; it never downloads a browser).
sysdeps:
	@if ! command -v ip >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; fi
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser test (a minute or two) ..."; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; fi

demo: $(VENV)/.installed
	$(PY) examples/distributed/werewolf/main.py

test: $(VENV)/.installed sysdeps
	$(PY) -m pytest -q tests

proto: $(VENV)/.installed
	$(PY) -m agentscope_rpc.rpc.protogen

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
