"""Ingest and ask against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.index.chroma_server import chroma_server
from qa.index.embeddings import Embedder

from .conftest import SEEDS, free_port, make_pipeline

pytestmark = pytest.mark.chroma_server


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
    assert pipe.store.collection.count() == report.embedded
    answer = pipe.ask("When was Haichen Precision Machinery established?")
    assert answer.citations[0].source == "003_741e1901b211ff40.txt"
    assert pipe.ingest().embedded == 0


def test_unreachable_server_gives_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    from qa.errors import BackendError

    pipe = make_pipeline(tmp_path, SEEDS, embedder, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="chroma run"):
        pipe.ingest()
