"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused by reciprocal rank, with filters."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from qa.config import Settings
from qa.index.embeddings import Embedder
from qa.index.keyword import ChunkRecord
from qa.index.store import Store
from qa.tokens import terms

Mode = Literal["hybrid", "dense", "bm25"]
K = TypeVar("K", bound=Hashable)  # what a ranking ranks: chunk ids here, rows elsewhere


@dataclass(frozen=True)
class Filters:
    """Which chunks may be retrieved: by article file name and by publication date range."""

    sources: frozenset[str] | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def where(self) -> dict[str, Any] | None:
        """The same filters as a Chroma `where` clause."""
        clauses: list[dict[str, Any]] = []
        if self.sources is not None:
            clauses.append({"source": {"$in": sorted(self.sources)}})
        if self.since is not None:
            clauses.append({"date": {"$gte": _day(self.since)}})
        if self.until is not None:
            clauses.append({"date": {"$lte": _day(self.until)}})
        if self.until is not None and self.since is None:
            clauses.append({"date": {"$gt": 0}})  # undated articles are outside any date range
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _day(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the question's dense similarity to it."""

    record: ChunkRecord
    score: float
    similarity: float


class Retriever:
    """Finds the chunks that best match a question."""

    def __init__(self, store: Store, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings

    def retrieve(
        self,
        query: str,
        *,
        k: int,
        filters: Filters = Filters(),
        mode: Mode = "hybrid",
        timings: dict[str, float] | None = None,
        query_terms: Sequence[str] | None = None,
    ) -> tuple[list[Hit], np.ndarray]:
        """The top-k hits, best first, and the query vector (the answerer reuses it);
        `query_terms` are the query's terms when the caller has them already."""
        timings = {} if timings is None else timings
        keyword = self.store.keyword
        n = self.settings.candidates
        clock = time.perf_counter()
        vector = self.embedder.embed_query(query)
        timings["embed"] = _ms(clock)
        similarity: dict[str, float] = {}
        rankings: list[tuple[float, list[str]]] = []
        mask = None  # the rows a filter admits, from arrays the keyword index built once
        if filters != Filters():
            mask = keyword.mask(
                filters.sources,
                _day(filters.since) if filters.since else None,
                _day(filters.until) if filters.until else None,
            )
        if mode in ("hybrid", "dense") and keyword.records:
            clock = time.perf_counter()
            wanted = min(n, len(keyword.records))
            # within a filter the admitted chunks are searched exactly here (the index keeps
            # their vectors); Chroma's `where` would scan its metadata on every question
            dense = keyword.nearest(vector, wanted, mask) if mask is not None else None
            if dense is None:
                dense = self.store.nearest(vector, wanted, filters.where())
            similarity = dict(dense)
            rankings.append((self.settings.dense_weight, [cid for cid, _ in dense]))
            timings["dense"] = _ms(clock)
        if mode in ("hybrid", "bm25"):
            clock = time.perf_counter()
            found = keyword.search(terms(query) if query_terms is None else query_terms, n, mask)
            rankings.append((self.settings.bm25_weight, [keyword.records[i].id for i, _ in found]))
            timings["bm25"] = _ms(clock)
        best = fuse(rankings, self.settings.rrf_k)[:k]
        hits = []
        for cid, score in best:
            row = keyword.row(cid)
            if row is not None:
                hits.append(Hit(keyword.records[row], score, similarity.get(cid, 0.0)))
        return hits, vector


def fuse(rankings: Sequence[tuple[float, Sequence[K]]], rrf_k: int) -> list[tuple[K, float]]:
    """Weighted reciprocal-rank fusion: each ranking adds `weight / (rrf_k + rank)` to its ids
    (rank from 1); best first, ties in first-seen order."""
    fused: dict[K, float] = {}
    for weight, ids in rankings:
        for rank, key in enumerate(ids):
            fused[key] = fused.get(key, 0.0) + weight / (rrf_k + rank + 1)
    return sorted(fused.items(), key=lambda item: -item[1])


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
