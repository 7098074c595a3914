"""Delta QA as a user installs it: the wheel, in a fresh venv with no network, used from an
empty folder: `qa ingest` (the seeds, a PDF, a Word file and a web page served from
127.0.0.1), `qa ask`, `from qa import ask`, `qa eval`, `qa serve` and `qa mcp`, without a
traceback.

The wheel is built from a copy of what it is made of (pyproject.toml, README.md, qa/ and
prompts/), so nothing else of the checkout can stand in for a file it forgot. The venv installs
from the wheels that `make install-dev` gathers beside this venv (`.venv/wheelhouse`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

from qa.index.chroma_server import free_port, running

from .conftest import ROOT, SEEDS
from .test_documents import en_pdf, word_file, zh_pdf
from .test_web import Site, site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
QUESTION = "What is the Integration of Two Industries?"


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run `command`; its output when it exits 0 and printed no traceback, else a failure."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command[:3])} exited {done.returncode}:\n{output}"
    assert "Traceback" not in output, output
    return output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("qa", "prompts"):
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    run([*command, "--no-index", "-w", str(dist), str(source)], source, dict(os.environ))
    [built] = dist.glob("delta_qa-*.whl")
    return built


def test_the_wheel_holds_every_package_and_its_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {
        str(p.relative_to(ROOT)) for p in (ROOT / "qa").rglob("__init__.py") if ".egg" not in str(p)
    }
    assert packages and packages <= names, f"left out: {sorted(packages - names)}"
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "qa").rglob("*.py")}
    assert modules <= names, f"left out: {sorted(modules - names)}"
    data = {f"qa/prompts/{p.name}" for p in (ROOT / "prompts").glob("*.md")}
    data |= {"qa/answer/policy.json", "qa/answer/policy.md", "qa/lexicon/cues.toml"}
    assert data <= names, f"left out: {sorted(data - names)}"
    assert not {n for n in names if n.startswith(("tests/", "seeds/", "evals/"))}


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (nothing of this one's) with the wheel installed; its bin folder."""
    if not (WHEELHOUSE.is_dir() and any(WHEELHOUSE.glob("*.whl"))):
        pytest.fail(f"no wheels in {WHEELHOUSE}: `make install-dev` gathers them")
    home = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(home)], home, dict(os.environ))
    pip = [str(home / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    run([*pip, "--find-links", str(WHEELHOUSE), str(wheel)], home, dict(os.environ), timeout=900)
    return home / "bin"


def user_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a user of the installed wheel: their own HOME, no setting of ours,
    no trace of the venv running the tests."""
    drop = ("QA_", "OPENAI_", "VIRTUAL_ENV", "PYTHON", "XDG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "HOME": str(home), "PATH": f"{venv}{os.pathsep}{env.get('PATH', '')}"}


class User(NamedTuple):
    """A user of the installed wheel: an empty working folder, their own HOME, a folder of
    articles (copies of the seeds) and their environment."""

    work: Path
    home: Path
    articles: Path
    env: dict[str, str]


@pytest.fixture
def user(venv: Path, tmp_path: Path) -> User:
    work, home, articles = tmp_path / "work", tmp_path / "home", tmp_path / "articles"
    work.mkdir()
    home.mkdir()
    shutil.copytree(SEEDS, articles)
    return User(work, home, articles, user_env(venv, home))


def test_the_installed_wheel_ingests_answers_and_evaluates(venv: Path, user: User) -> None:
    work, home, articles, env = user

    out = run(["qa", "ingest", str(articles)], work, env)
    assert f"added {len(list(SEEDS.iterdir()))}," in out
    # no seeds/ here, so the index went to the user's data folder, not into the working folder
    data = home / ".local" / "share" / "delta-qa"
    assert (data / "index" / "manifest.json").is_file()
    assert not list(work.iterdir())

    out = run(["qa", "ask", QUESTION], work, env)
    assert "[1]" in out and "000_8914bb077c7574b6.txt" in out

    code = f"import qa; from qa import ask; print(qa.__file__); print(ask({QUESTION!r}).text)"
    out = run(["python", "-c", code], work, env)
    assert str(venv.parent) in out.splitlines()[0], "the installed package answered"
    assert "[1]" in out

    pairs = (ROOT / "evals" / "qa_pairs.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    (work / "three.jsonl").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    out = run(["qa", "eval", "--dataset", "three.jsonl", "--out", "report"], work, env)
    report = json.loads((work / "report" / "report.json").read_text(encoding="utf-8"))
    assert len(report["runs"][0]["items"]) == 3


def test_the_installed_wheel_reads_pdf_word_and_web_pages(
    user: User,
    site: Site,  # noqa: F811
) -> None:
    work, home, articles, env = user
    en_pdf(articles)
    zh_pdf(articles)
    word_file(articles / "lanxi.docx")
    (work / "pages.txt").write_text(f"# saved pages\n{site.url}/news\n", encoding="utf-8")

    out = run(["qa", "ingest", str(articles), "--urls", "pages.txt"], work, env)
    assert f"added {len(list(SEEDS.iterdir())) + 4}," in out and "skipped 0" in out
    data = home / ".local" / "share" / "delta-qa"
    assert list((data / "web").glob("*.webpage"))  # the saved copy, in the data folder

    questions = {
        "When was the Haiyan Nuclear Power Industrial Park founded?": "(haiyan.pdf, p. 3)",
        "平湖数控机床产业集群有多少家企业？": "(pinghu.pdf, p. 2)",
        "When did the Lanxi Textile Park open?": "(lanxi.docx)",
        "How many enterprises are in the Tongxiang Fibre Park?": f"({site.url}/news, 2023-06-18)",
    }
    for question, source in questions.items():
        out = run(["qa", "ask", question], work, env)
        assert source in out, out


def test_the_installed_wheel_serves_the_api_and_the_tools(
    venv: Path, user: User, tmp_path: Path
) -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    work, _, articles, env = user
    run(["qa", "ingest", str(articles)], work, env)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    body = {"model": "extractive", "messages": [{"role": "user", "content": QUESTION}]}
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", json.dumps(body).encode(), headers
    )
    with (
        (tmp_path / "serve.log").open("w") as log,
        running(
            [str(venv / "qa"), "serve", "--port", str(port)],
            f"{url}/health",
            120,
            cwd=work,
            env=env,
            stdout=log,
            stderr=log,
        ),
        urllib.request.urlopen(request, timeout=60) as reply,
    ):
        completion = json.load(reply)
    assert "[1]" in completion["choices"][0]["message"]["content"]
    assert completion["citations"][0]["source"] == "000_8914bb077c7574b6.txt"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()

    async def tools() -> tuple[list[str], object]:
        params = StdioServerParameters(command=str(venv / "qa"), args=["mcp"], env=env, cwd=work)
        with (tmp_path / "mcp.log").open("w") as errors:
            async with (
                stdio_client(params, errlog=errors) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                names = [tool.name for tool in (await session.list_tools()).tools]
                return names, await session.call_tool("ask", {"question": QUESTION})

    names, answer = asyncio.run(asyncio.wait_for(tools(), 120))
    assert sorted(names) == ["ask", "search_articles"]
    assert "[1]" in answer.structured_content["text"]  # type: ignore[attr-defined]
    assert "Traceback" not in (tmp_path / "mcp.log").read_text()
