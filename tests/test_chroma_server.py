"""Ingest and ask against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import qa
from qa.errors import BackendError, IndexDamagedError, QAError
from qa.index.chroma_server import chroma_server, free_port
from qa.index.embeddings import Embedder
from qa.index.records import ChunkRecord
from qa.index.vectors import VectorStore
from qa.pipeline import QAPipeline

from .conftest import DATA, SEEDS, make_pipeline

pytestmark = pytest.mark.chroma_server

PINGHU = "003_741e1901b211ff40.txt"
PINGHU_Q = "When was Haichen Precision Machinery established?"
TONGLU_Q = "How many enterprises are in the Tonglu Bamboo Fibre Industrial Park?"


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    with chroma_server(tmp_path / "server-data") as url:
        yield url


def test_ingest_and_ask_through_a_chroma_server(
    chroma_url: str, tmp_path: Path, embedder: Embedder
) -> None:
    pipe = make_pipeline(tmp_path, SEEDS, embedder, chroma_url=chroma_url)
    report = pipe.ingest()
    assert len(report.added) == 5
    assert not (tmp_path / "index" / "chroma").exists()  # vectors live on the server
    assert pipe.store.vectors.count() == report.embedded
    answer = pipe.ask("When was Haichen Precision Machinery established?")
    assert answer.citations[0].source == "003_741e1901b211ff40.txt"
    assert pipe.ingest().embedded == 0


def test_unreachable_server_gives_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    pipe = make_pipeline(tmp_path, SEEDS, embedder, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="chroma run"):
        pipe.ingest()


def settings_env(pipe: QAPipeline, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The pipeline's settings as QA_* variables, set here too (for `qa.ask`), for a new
    process that uses the same index and server."""
    settings = pipe.settings
    env = {
        "QA_ARTICLES_DIR": str(settings.articles_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_UPLOADS_DIR": str(settings.uploads_dir),
        "QA_WEB_DIR": str(settings.web_dir),
        "QA_FEEDBACK_FILE": str(settings.feedback_file),
        "QA_CHROMA_URL": str(settings.chroma_url),
        "QA_BACKEND": "extractive",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("QA_")}, **env}


def qa_command(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the `qa` command line in a new process."""
    exe = Path(sys.executable).with_name("qa")
    return subprocess.run(
        [str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a failed command (no traceback, nothing on stdout)."""
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == "" and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def public_ask_error() -> QAError:
    """What `qa.ask` raises, from a default pipeline built afresh."""
    qa.default_pipeline.cache_clear()
    try:
        qa.ask(PINGHU_Q)
    except QAError as exc:
        return exc
    finally:
        qa.default_pipeline.cache_clear()
    raise AssertionError("qa.ask answered")


@pytest.mark.slow
def test_a_stopped_server_is_one_line_naming_the_fix(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    pipe = make_pipeline(tmp_path, SEEDS, embedder, chroma_url=f"http://127.0.0.1:{port}")
    with chroma_server(tmp_path / "server-data", port=port):
        pipe.ingest()
        assert pipe.ask(PINGHU_Q).citations[0].source == PINGHU
    env = settings_env(pipe, monkeypatch)
    # the pipeline that answered before, a new `qa ask` process and `qa.ask` all say the same
    with pytest.raises(BackendError, match=r"start it with `chroma run.*unset QA_CHROMA_URL"):
        pipe.ask(PINGHU_Q)
    line = one_line_error(qa_command(["ask", PINGHU_Q], env, tmp_path))
    assert "cannot reach the Chroma server" in line and "unset QA_CHROMA_URL" in line
    error = public_ask_error()
    assert isinstance(error, BackendError) and "chroma run" in str(error)


@pytest.mark.slow
def test_a_server_restarted_empty_asks_for_qa_ingest_which_repairs_it(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    pipe = make_pipeline(tmp_path, SEEDS, embedder, chroma_url=f"http://127.0.0.1:{port}")
    with chroma_server(tmp_path / "first", port=port):
        pipe.ingest()
        before = pipe.ask(PINGHU_Q)
    env = settings_env(pipe, monkeypatch)
    with chroma_server(tmp_path / "second", port=port):  # the same port, an empty path
        for _ in range(2):  # and again: the empty collection is never queried as if whole
            with pytest.raises(IndexDamagedError, match=r"holds 0 chunks.*run `qa ingest`"):
                pipe.ask(PINGHU_Q)
        line = one_line_error(qa_command(["ask", PINGHU_Q], env, tmp_path))
        assert "run `qa ingest`" in line
        error = public_ask_error()
        assert isinstance(error, IndexDamagedError) and "qa ingest" in str(error)

        repair = qa_command(["ingest"], env, tmp_path)
        assert repair.returncode == 0, repair.stderr
        assert "Chroma holds 0 chunks" in repair.stderr and "rebuilt" in repair.stderr
        after = pipe.ask(PINGHU_Q)  # the long-running pipeline picks up the repair
        assert after.text == before.text and after.citations == before.citations
        answered = qa_command(["ask", PINGHU_Q], env, tmp_path)
        assert answered.returncode == 0 and "1998" in answered.stdout


def test_new_chunks_the_server_does_not_return_are_sent_again(
    chroma_url: str,
    tmp_path: Path,
    articles: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """chromadb's server can go on searching an HNSW index without vectors it just took (a few
    writes in a hundred, not at will): an upsert that loses its chunks stands in for it."""
    pipe = make_pipeline(tmp_path, articles, embedder, chroma_url=chroma_url)
    pipe.ingest()
    real, sent = VectorStore.upsert, []  # the sources of each upsert's chunks

    def losing(lost: int) -> Callable[..., None]:
        def upsert(self: VectorStore, records: list[ChunkRecord], vectors: Any) -> None:
            sent.append({r.source for r in records})
            if len(sent) > lost:
                real(self, records, vectors)

        return upsert

    shutil.copy(DATA / "tonglu_bamboo.txt", articles)
    monkeypatch.setattr(VectorStore, "upsert", losing(2))  # lost, and lost when sent again
    with pytest.raises(BackendError, match=r"does not return them: restart it and run `qa ing"):
        pipe.ingest()
    sent.clear()
    monkeypatch.setattr(VectorStore, "upsert", losing(1))  # lost once: sent again, then found
    report = pipe.ingest()  # the write that stopped is repaired: the index is built again
    assert report.repaired and len(sent) == 2 and sent[0] == sent[1]
    assert "tonglu_bamboo.txt" in sent[0]
    assert "412" in pipe.ask(TONGLU_Q).text
