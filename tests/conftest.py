"""Shared fixtures: the real embedding model, and indexes built in temporary folders."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.config import Settings
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
def running(
    command: list[str], probe_url: str, seconds: float, **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait (at most `seconds`) until `probe_url` answers, stop it after."""
    server = subprocess.Popen(command, **popen)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(probe_url, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(
                        f"{Path(command[0]).name} did not answer on {probe_url} "
                        f"within {seconds:.0f} s"
                    ) from None
                time.sleep(0.3)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)


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
