"""An ingest embeds each chunk and sentence once, stages what it embedded so a stopped ingest
resumes, and reports articles, chunks/s and time left."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.corpus import embed
from qa.corpus.embed import IngestProgress, progress_line
from qa.index.embeddings import Embedder
from qa.index.records import index_text

from .conftest import Counting, make_pipeline

QUESTION = "When was Haichen Precision Machinery established?"


class Stopping(Counting):
    """The real embedder, stopped (as by Ctrl-C) at its `calls`-th batch."""

    def __init__(self, inner: Embedder, calls: int) -> None:
        super().__init__(inner)
        self.calls = calls

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return super().embed_documents(texts)


def test_a_chunk_vector_is_the_embedding_of_its_title_and_text(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe = make_pipeline(tmp_path, articles, embedder)
    pipe.ingest()
    record = pipe.store.keyword.records[2]
    stored = pipe.store.vectors.collection.get(ids=[record.id], include=["embeddings"])
    expected = embedder.embed_query(index_text(record.title, record.text))
    np.testing.assert_allclose(stored["embeddings"][0], expected, atol=2e-3)


def test_a_stopped_ingest_resumes_without_embedding_again(
    tmp_path: Path, articles: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed, "BATCH", 16)
    whole = Counting(embedder)
    make_pipeline(tmp_path / "whole", articles, whole).ingest()
    reference = make_pipeline(tmp_path / "whole", articles, embedder).ask(QUESTION).text

    stopping = Stopping(embedder, calls=5)
    with pytest.raises(KeyboardInterrupt):
        make_pipeline(tmp_path, articles, stopping).ingest()
    pipe = make_pipeline(tmp_path, articles, embedder)
    assert not pipe.store.exists()  # nothing half-written: the index was never touched
    rest = Counting(embedder)
    steps: list[IngestProgress] = []
    report = make_pipeline(tmp_path, articles, rest).ingest(progress=steps.append)
    assert len(report.added) == 5
    assert len(stopping.documents) == 5 * 16  # five batches were done before the stop...
    assert not set(rest.documents) & set(stopping.documents)  # ...and not embedded again
    assert sorted(stopping.documents + rest.documents) == sorted(whole.documents)
    assert steps[0].resumed_chunks > 0 and steps[-1].chunks == steps[-1].chunks_total
    assert steps[-1].articles == steps[-1].articles_total == 5
    assert not (tmp_path / "index" / "ingest.staging").exists()  # cleared after the commit
    assert make_pipeline(tmp_path, articles, embedder).ask(QUESTION).text == reference


def test_a_progress_line_says_articles_rate_and_time_left() -> None:
    step = IngestProgress(
        articles=1200, articles_total=9648, chunks=3000, chunks_total=12000, seconds=30.0
    )
    assert progress_line(step) == "articles 1200/9648 · 100 chunks/s · 1m30s left"
    resumed = IngestProgress(1, 4, 10, 20, seconds=0.0, resumed_chunks=10)
    assert resumed.chunks_per_s == 0 and progress_line(resumed) == "articles 1/4 · 0 chunks/s"


def test_a_shared_cache_lets_a_second_index_embed_nothing_again(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    cache = tmp_path / "vectors"
    first, second = Counting(embedder), Counting(embedder)
    make_pipeline(tmp_path / "a", articles, first, embed_cache_dir=cache).ingest()
    pipe = make_pipeline(tmp_path / "b", articles, second, embed_cache_dir=cache)
    report = pipe.ingest()
    assert first.embedded > 0 and second.embedded == 0 and report.texts == 0
    assert len(report.added) == 5 and not pipe.ask(QUESTION).refused
