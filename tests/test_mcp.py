"""`qa mcp` with the MCP SDK's own client: the server is spawned over stdio, lists its two
tools, answers `ask` with citations and `search_articles` with passages, and an empty question
is an error result in words, after which the server still answers."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from qa.pipeline import QAPipeline

from .conftest import SEEDS

pytestmark = pytest.mark.slow
PINGHU = "How many enterprises are in the Pinghu CNC machine tool cluster?"


def parameters(seeded: QAPipeline, home: Path) -> StdioServerParameters:
    """`qa mcp` over the seed index, with no QA_ setting of this process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {
        "QA_ARTICLES_DIR": str(SEEDS),
        "QA_INDEX_DIR": str(seeded.settings.index_dir),
        "QA_UPLOADS_DIR": str(seeded.settings.uploads_dir),
        "QA_BACKEND": "extractive",
    }
    exe = Path(sys.executable).with_name("qa")
    return StdioServerParameters(command=str(exe), args=["mcp"], env=env, cwd=home)


async def session_calls(params: StdioServerParameters, log: Any) -> dict[str, Any]:
    """List the tools and call each, with a time limit on the whole conversation."""
    out: dict[str, Any] = {}
    async with (
        stdio_client(params, errlog=log) as (read, write),
        ClientSession(read, write) as session,
    ):
        with anyio.fail_after(120):
            await session.initialize()
            out["tools"] = (await session.list_tools()).tools
            out["ask"] = await session.call_tool("ask", {"question": PINGHU})
            out["empty"] = await session.call_tool("ask", {"question": "   "})
            out["search"] = await session.call_tool(
                "search_articles", {"query": "Pinghu CNC machine tool cluster", "k": 3}
            )
            out["after"] = await session.call_tool("ask", {"question": PINGHU})
    return out


def test_an_agent_lists_and_calls_both_tools(seeded: QAPipeline, tmp_path: Path) -> None:
    with (tmp_path / "server.log").open("w") as log:
        out = asyncio.run(session_calls(parameters(seeded, tmp_path), log))
    tools = {tool.name: tool for tool in out["tools"]}
    assert set(tools) == {"ask", "search_articles"}
    assert tools["ask"].input_schema["required"] == ["question"]
    assert "[n]" in (tools["ask"].description or "")

    answer = out["ask"].structured_content
    assert not out["ask"].is_error and answer["refused"] is False
    assert answer["text"] == seeded.ask(PINGHU).text and "[1]" in answer["text"]
    assert answer["citations"][0]["source"] == "003_741e1901b211ff40.txt"

    empty = out["empty"]
    assert empty.is_error and "the question is empty" in empty.content[0].text
    assert "Traceback" not in empty.content[0].text
    assert out["after"].structured_content == answer, "the server goes on after an error"

    passages = out["search"].structured_content["passages"]
    assert len(passages) == 3 and [p["rank"] for p in passages] == [1, 2, 3]
    assert passages[0]["source"] == "003_741e1901b211ff40.txt"
    assert passages[0]["title"].startswith("The first batch of provincial")
    assert passages[0]["date"] == "2023-08-17" and "Pinghu" in passages[0]["text"]
    assert "Traceback" not in (tmp_path / "server.log").read_text()
