"""`qa serve` as other real clients use it: simonw's `llm` CLI (through its
extra-openai-models.yaml, whole with `--no-stream` and streamed) and the OpenAI Node SDK
(tests/node, installed by `make test`), each against a running server over the seed index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.app.openai_wire import tokens
from qa.pipeline import QAPipeline

from .conftest import ROOT, api_server

pytestmark = pytest.mark.slow
KEY = "client-key"
PINGHU = "How many enterprises are in the Pinghu CNC machine tool cluster?"
NODE_DIR = ROOT / "tests" / "node"
SECONDS = 120  # the most one client run may take


@pytest.fixture(scope="module")
def server(seeded: QAPipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`qa serve` over the seed index with one key; yields its /v1 URL."""
    with api_server(seeded, tmp_path_factory.mktemp("clients"), QA_API_KEYS=KEY) as url:
        yield url


@pytest.fixture
def llm_cli(server: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the `llm` CLI with a user folder of its own under tmp_path, where the model
    `delta-qa` is the server's extractive answerer; no plugin is loaded."""
    home = tmp_path / "llm"
    home.mkdir()
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: delta-qa\n  model_name: extractive\n  api_base: {server}\n"
        "  api_key_name: delta-qa\n",
        encoding="utf-8",
    )
    exe = Path(sys.executable).with_name("llm")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: `make test` installs the dev extra (llm==0.36)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env |= {"LLM_USER_PATH": str(home), "LLM_LOAD_PLUGINS": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, timeout=SECONDS
        )
        assert done.returncode == 0, done.stderr
        return done

    return run


@pytest.mark.parametrize("mode", ["--no-stream", "streamed"])
def test_the_llm_cli_answers_and_logs_the_usage(
    mode: str, llm_cli: Callable[..., subprocess.CompletedProcess[str]], seeded: QAPipeline
) -> None:
    streaming = [] if mode == "streamed" else [mode]
    said = llm_cli("prompt", "-m", "delta-qa", "--key", KEY, "--usage", *streaming, PINGHU)
    answer = seeded.ask(PINGHU).text
    assert said.stdout.strip() == answer and "[1]" in answer
    expected = f"{tokens(PINGHU)} input, {tokens(answer)} output"
    assert f"Token usage: {expected}" in said.stderr

    [logged] = json.loads(llm_cli("logs", "--json", "-n", "1").stdout)
    assert (logged["input_tokens"], logged["output_tokens"]) == (tokens(PINGHU), tokens(answer))


def test_the_openai_node_sdk_answers_whole_and_streamed(
    server: str, seeded: QAPipeline
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Node.js 20 or later (apt-get install nodejs)")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("the OpenAI Node SDK is missing: `make node` (npm ci in tests/node)")
    done = subprocess.run(
        [node, str(NODE_DIR / "client.mjs"), server, KEY, PINGHU],
        capture_output=True,
        text=True,
        timeout=SECONDS,
        cwd=NODE_DIR,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    answer = seeded.ask(PINGHU)
    usage = {"prompt_tokens": tokens(PINGHU), "completion_tokens": tokens(answer.text)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]

    assert seen["models"] == ["extractive"]
    for reply in (seen["whole"], seen["streamed"]):
        assert reply["content"] == answer.text and reply["usage"] == usage
        assert [c["source"] for c in reply["citations"]] == [c.source for c in answer.citations]
    assert seen["streamed"]["chunks"] > 3
    refused = seen["refused"]
    assert refused["status"] == 401 and refused["name"] == "AuthenticationError"
    assert "not one this server accepts" in refused["message"]
