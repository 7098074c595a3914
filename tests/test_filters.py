"""Filtered retrieval: the chunks a filter admits are searched exactly from the vectors the
index keeps, with the same ranking Chroma's `where` gives, and no loop over every chunk."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np

from qa.answer.retrieval import Filters, _day
from qa.index.embeddings import Embedder
from qa.pipeline import QAPipeline

from .conftest import make_pipeline

PINGHU = "003_741e1901b211ff40.txt"
QUESTION = "industrial clusters and development zones"


def test_exact_search_within_a_filter_ranks_as_chroma_does(seeded: QAPipeline) -> None:
    keyword, store = seeded.store.keyword, seeded.store
    vector = seeded.embedder.embed_query(QUESTION)
    for filters in (
        Filters(sources=frozenset({PINGHU})),
        Filters(since=dt.date(2023, 1, 1)),
        Filters(sources=frozenset({PINGHU, "000_8914bb077c7574b6.txt"}), until=dt.date(2030, 1, 1)),
    ):
        mask = keyword.mask(
            filters.sources,
            _day(filters.since) if filters.since else None,
            _day(filters.until) if filters.until else None,
        )
        exact = keyword.nearest(vector, 10, mask)
        chroma = store.nearest(vector, 10, filters.where())
        assert exact is not None and [c for c, _ in exact] == [c for c, _ in chroma]
        np.testing.assert_allclose([s for _, s in exact], [s for _, s in chroma], atol=1e-4)


def test_an_index_without_chunk_vectors_still_filters_through_chroma(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe = make_pipeline(tmp_path, articles, embedder)
    pipe.ingest()
    (tmp_path / "index" / "keyword" / "chunks.npy").unlink()  # as an earlier version wrote it
    older = make_pipeline(tmp_path, articles, embedder)
    assert older.store.keyword.nearest(np.zeros(512), 5, np.ones(1)) is None
    answer = older.ask(QUESTION, sources=[PINGHU], k=5)
    assert answer.passages and {p.source for p in answer.passages} == {PINGHU}
    shutil.rmtree(tmp_path / "index")


def test_chunk_vectors_follow_an_incremental_ingest(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe = make_pipeline(tmp_path, articles, embedder)
    pipe.ingest()
    path = articles / PINGHU
    path.write_text(path.read_text("utf-8") + "\n\nThe cluster opened a test centre.\n", "utf-8")
    (articles / "001_ae99122ffd5b407f.txt").unlink()
    pipe.ingest()
    keyword = pipe.store.keyword
    vector = embedder.embed_query(QUESTION)
    everything = np.ones(len(keyword.records), dtype=np.float32)
    exact = keyword.nearest(vector, len(keyword.records), everything)
    chroma = pipe.store.nearest(vector, len(keyword.records), None)
    assert exact is not None and [c for c, _ in exact] == [c for c, _ in chroma]
