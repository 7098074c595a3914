"""Every code block of the README works as a user pastes it.

Python blocks run in a fresh process from a folder laid out like a clone (seeds/, no index),
the API client's against a real `qa serve` (its address rewritten to the test server's); every
`qa …` and `python -m qa.eval …` line of a shell block is a command the CLI accepts, options
and all (parsed by click, not run); JSON blocks parse.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from qa.app.cli import main
from qa.eval.lab import lab
from qa.pipeline import QAPipeline

from .conftest import ROOT, SEEDS, api_server

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SERVE_URL = "http://127.0.0.1:7861/v1"


def blocks(*languages: str) -> list[str]:
    """The README's code blocks in these languages, in order."""
    return [m.group(2) for m in BLOCK.finditer(README) if m.group(1) in languages]


def shell_commands() -> list[list[str]]:
    """Every command line of the README's shell blocks: each line of a bash block, each `$ `
    line of a console block (the rest is what the command printed)."""
    lines = [line for block in blocks("bash") for line in joined(block)]
    for block in blocks("console"):
        lines += [line[2:] for line in joined(block) if line.startswith("$ ")]
    return [words for words in map(command, lines) if words]


def joined(block: str) -> list[str]:
    """A block's lines, `\\` continuations joined."""
    return [line.strip() for line in re.sub(r"\\\n\s*", " ", block).splitlines()]


def command(line: str) -> list[str]:
    """A command line as arguments: comments and leading VAR=value settings left out."""
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words = words[1:]
    return words


def test_the_readme_has_the_blocks_these_tests_read() -> None:
    assert blocks("python") and blocks("bash", "console")
    assert any(SERVE_URL in b for b in blocks("python")), "the API client example moved"


@pytest.mark.slow
def test_every_python_block_runs_as_pasted(tmp_path: Path, seeded: QAPipeline) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copytree(SEEDS, clone / "seeds")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    with api_server(seeded, tmp_path) as url:
        for code in blocks("python"):
            run = subprocess.run(
                [sys.executable, "-c", code.replace(SERVE_URL, url)],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert run.returncode == 0, f"{code}\n{run.stderr[-2000:]}"


def test_every_qa_command_in_a_shell_block_is_one_the_cli_accepts() -> None:
    checked = 0
    for words in shell_commands():
        if words[0] == "qa":
            group, args = main, words[1:]
        elif words[:3] == ["python", "-m", "qa.eval"]:
            group, args = lab, words[3:]
        else:
            continue
        try:
            parse(group, args)
        except click.UsageError as exc:
            pytest.fail(f"{' '.join(words)}: {exc.format_message()}")
        checked += 1
    assert checked >= 10


def parse(group: click.Group, args: list[str]) -> None:
    """Parse `args` as `group` would (its subcommand's options included), running nothing."""
    if not args or args[0] in ("--help", "--version"):
        return
    with group.make_context(group.name or "qa", list(args)) as ctx:
        name, sub, rest = group.resolve_command(ctx, ctx.protected_args + ctx.args)
        assert sub is not None, name
        if "--help" not in rest:
            sub.make_context(name or "", rest, parent=ctx).close()


def test_every_json_block_parses() -> None:
    for block in blocks("json"):
        json.loads(block)
