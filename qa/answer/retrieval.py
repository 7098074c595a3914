"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused by reciprocal rank, with filters."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from qa.answer.question import Lang, language
from qa.config import Settings
from qa.cross.scorer import CrossScorer
from qa.index.embeddings import Embedder
from qa.index.records import ChunkRecord
from qa.index.store import Store
from qa.text import terms

Mode = Literal["hybrid", "dense", "bm25"]
K = TypeVar("K", bound=Hashable)  # what a ranking ranks: chunk ids here, rows elsewhere
# a pooled passage the cross-encoder reads as more likely to answer than not joins the top
PROMOTE = 0.5


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

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        scorer: CrossScorer | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.scorer = scorer  # reranks the fused pool when set

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
        words = query_terms  # the query's terms, found at most once (BM25 and promotion)
        if mode in ("hybrid", "bm25"):
            clock = time.perf_counter()
            words = terms(query) if words is None else words
            found = keyword.search(words, n, mask)
            rankings.append((self.settings.bm25_weight, [keyword.records[i].id for i, _ in found]))
            timings["bm25"] = _ms(clock)
        lang = language(query)
        promoting = self.scorer is not None and lang in self.settings.rerank_languages
        pool = self.settings.rerank_pool if promoting else 0
        best = fuse(rankings, self.settings.rrf_k)[: max(k, pool)]
        hits = []
        for cid, score in best:
            row = keyword.row(cid)
            if row is not None:
                hits.append(Hit(keyword.records[row], score, similarity.get(cid, 0.0)))
        if len(hits) > k:
            clock = time.perf_counter()
            words = terms(query) if words is None else words
            hits = self.promote(query, lang, words, hits, k, vector)
            timings["rerank"] = _ms(clock)
        return hits[:k], vector

    def promote(
        self,
        query: str,
        lang: Lang,
        words: Sequence[str],
        hits: list[Hit],
        k: int,
        vector: np.ndarray,
    ) -> list[Hit]:
        """The fused top `k`, with pooled passages below it that the cross-encoder reads as
        answering (probability at least PROMOTE) moved in front, best first: a passage one
        ranking put first for a rare name, or one in another language, comes up when it
        answers, and the fused order is kept otherwise. Of each passage the cross-encoder reads
        the sentence closest to the query and the one sharing its rarest terms."""
        assert self.scorer is not None
        keyword = self.store.keyword
        below = hits[k:]
        rows = keyword.rows([h.record.id for h in below])
        vectors = keyword.sentence_vectors(rows)
        stored = keyword.sentence_terms(rows)
        idf = keyword.idf_in(lang == "zh")
        weight = {w: idf(w) for w in set(words)}
        picked: list[list[str]] = []
        at = 0
        for hit in below:
            spans = hit.record.sentences
            sims = vectors[at : at + len(spans)] @ vector.astype(vectors.dtype)
            chosen = {int(np.argmax(sims))} if len(spans) else set()
            if stored is not None and len(spans):
                own = stored[at : at + len(spans)]
                shared = [sum(weight.get(t, 0.0) for t in terms_of) for terms_of in own]
                chosen.add(int(np.argmax(shared)))
            at += len(spans)
            picked.append([hit.record.text[spans[i][0] : spans[i][1]] for i in sorted(chosen)])
        flat = [t for texts in picked for t in texts]
        probs = iter(self.scorer.scores(query, flat).tolist())
        read = [max((next(probs) for _ in texts), default=0.0) for texts in picked]
        up = sorted((i for i, p in enumerate(read) if p >= PROMOTE), key=lambda i: -read[i])
        moved = set(up)
        rest = [h for i, h in enumerate(below) if i not in moved]
        return [*(below[i] for i in up), *hits[:k], *rest]


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
