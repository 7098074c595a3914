"""Ingest and ask against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.index.embeddings import Embedder

from .conftest import SEEDS, free_port, make_pipeline, running

pytestmark = pytest.mark.chroma_server


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert exe, "the chroma CLI ships with chromadb"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [exe, "run", "--path", str(tmp_path / "server-data")]
    with running(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        f"{url}/api/v2/heartbeat",
        60,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ):
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
    from qa.errors import BackendError

    pipe = make_pipeline(tmp_path, SEEDS, embedder, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="chroma run"):
        pipe.ingest()
