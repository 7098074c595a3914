"""Shared fixtures: the real embedding model, and indexes built in temporary folders."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.index.chroma_server import free_port, running
from qa.index.embeddings import Embedder, make_embedder
from qa.pipeline import QAPipeline

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


class Counting:
    """The real embedder, recording every text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.documents: list[str] = []
        self.queries: list[str] = []

    @property
    def embedded(self) -> int:
        """How many passages (chunks and sentences) it has embedded."""
        return len(self.documents)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.documents += texts
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.queries.append(text)
        return self.inner.embed_query(text)


@contextmanager
def qa_server(
    command: str, home: Path, seconds: float, probe: str = "/", **env: str
) -> Iterator[str]:
    """A real `qa chat` or `qa serve` process on a free port of 127.0.0.1, run in `home` with
    the QA_ and GRADIO_ settings `env` (no others from this process), waited for until `probe`
    answers; yields its URL. The server's log is kept in home/server.log and shown when it does
    not start."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "GRADIO_"))}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    exe = Path(sys.executable).with_name("qa")
    with (home / "server.log").open("w") as log:
        try:
            with running(
                [str(exe), command, "--port", str(port)],
                url + probe.lstrip("/"),
                seconds,
                cwd=home,
                env={**clean, **env},
                stdout=log,
                stderr=log,
            ):
                yield url
        except RuntimeError as exc:
            pytest.fail(f"{exc}: {(home / 'server.log').read_text()[-2000:]}")


@contextmanager
def api_server(seeded: QAPipeline, home: Path, **env: str) -> Iterator[str]:
    """A real `qa serve` process over `seeded`'s index and the seed articles, extractive, with
    the further QA_ settings `env` (see qa_server); yields its /v1 URL. Its log must hold no
    traceback when it stops."""
    with qa_server(
        "serve",
        home,
        120,
        "/health",
        QA_ARTICLES_DIR=str(SEEDS),
        QA_INDEX_DIR=str(seeded.settings.index_dir),
        QA_UPLOADS_DIR=str(seeded.settings.uploads_dir),
        QA_FEEDBACK_FILE=str(home / "feedback.jsonl"),
        QA_BACKEND="extractive",
        **env,
    ) as url:
        yield url + "v1"
    log = (home / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]


@contextmanager
def chat_page(home: Path, seconds: float, **env: str) -> Iterator[str]:
    """A real `qa chat` process (see qa_server); yields its URL."""
    with qa_server("chat", home, seconds, **env) as url:
        yield url


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default local model, loaded once for the whole run."""
    return make_embedder(Settings())


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """A private copy of the seed articles that a test may change."""
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    return folder


def make_pipeline(tmp: Path, articles: Path, embedder: Embedder, **overrides: object) -> QAPipeline:
    """A pipeline over `articles` with its index under `tmp`."""
    settings = Settings(  # type: ignore[arg-type]
        articles_dir=articles,
        index_dir=tmp / "index",
        uploads_dir=tmp / "uploads",
        web_dir=tmp / "web",
        feedback_file=tmp / "feedback.jsonl",
        **overrides,
    )
    return QAPipeline(settings, embedder=embedder)


@pytest.fixture
def pipeline(tmp_path: Path, articles: Path, embedder: Embedder) -> QAPipeline:
    """A fresh pipeline whose index is built from the copied seeds on first use."""
    return make_pipeline(tmp_path, articles, embedder)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[QAPipeline]:
    """One pipeline over the seed articles, indexed once per test module (read-only use)."""
    tmp = tmp_path_factory.mktemp("seeded")
    pipe = make_pipeline(tmp, SEEDS, embedder)
    pipe.ensure_index()
    yield pipe
