"""BM25 scoring (bm25s) over the chunks of an index: each chunk's terms, the model built and
saved at ingest, loaded and checked, searched, and a term's weight among some chunks."""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.records import ChunkRecord, index_text
from qa.text import terms

MODEL = "bm25"  # bm25s's folder
TERMS = "terms.jsonl"  # each chunk's terms, a line a chunk in row order: a cache for ingest


def record_terms(record: ChunkRecord) -> list[str]:
    """The BM25 terms of a chunk (of its title and text; [""] when it has none)."""
    return terms(index_text(record.title, record.text)) or [""]


def term_ids(tokens: list[str], vocabulary: dict[str, int]) -> array[int]:
    """Terms as ids into `vocabulary`, which a new term joins (4 bytes a term, where a list of
    strings takes ~70)."""
    return array("i", [vocabulary.setdefault(t, len(vocabulary)) for t in tokens])


def saved_ids(
    folder: Path, records: Sequence[ChunkRecord], wanted: set[str], vocabulary: dict[str, int]
) -> dict[str, array[int]]:
    """The terms saved in `folder` of the chunks `wanted` among `records` (those of the saved
    index, in row order), as ids into `vocabulary`; OSError or ValueError when the file is
    missing or unreadable (`vocabulary` may then hold some of its terms)."""
    known: dict[str, array[int]] = {}
    with (folder / TERMS).open(encoding="utf-8") as f:
        for record, line in zip(records, f, strict=True):
            if record.id in wanted:
                known[record.id] = term_ids(json.loads(line), vocabulary)
    return known


class Bm25:
    """BM25 scores over the chunks of an index, by row; without a model (an index of no
    chunks) nothing scores."""

    def __init__(self, model: Any = None) -> None:
        self._model = model

    @classmethod
    def build(cls, folder: Path, ids: list[array[int]], vocabulary: dict[str, int]) -> Bm25:
        """Index each chunk's term ids, and save the model and each chunk's terms in `folder`."""
        import bm25s

        model = bm25s.BM25()
        model.index((ids, vocabulary), show_progress=False)
        model.save(str(folder / MODEL), show_progress=False)
        names = list(vocabulary)
        with (folder / TERMS).open("w", encoding="utf-8") as f:
            for row in ids:
                f.write(json.dumps([names[i] for i in row], ensure_ascii=False) + "\n")
        return cls(model)

    @classmethod
    def load(cls, folder: Path, documents: int) -> Bm25:
        """The model saved in `folder` over `documents` chunks; ValueError (or what reading the
        files raises) when it is damaged."""
        import bm25s

        model = bm25s.BM25.load(str(folder / MODEL), show_progress=False)
        _check_scores(model.scores, documents)
        return cls(model)

    @property
    def vocabulary(self) -> dict[str, int]:
        """The model's term ids, by term."""
        return self._model.vocab_dict if self._model is not None else {}

    def search(
        self, query_terms: Sequence[str], k: int, mask: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, score) pairs with a positive score, among rows where `mask` is 1."""
        if self._model is None:
            return []
        tokens = [t for t in query_terms if t in self._model.vocab_dict]
        if not tokens:
            return []
        scores = self._model.get_scores(tokens, weight_mask=mask)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def idf_in(self, rows: np.ndarray) -> Callable[[str], float]:
        """BM25's inverse document frequency counted among the chunks where `rows` is true
        only. A term none of them holds gets the highest."""
        n = int(rows.sum())

        def idf(term: str) -> float:
            tid = self._model.vocab_dict.get(term) if self._model is not None else None
            df = 0
            if tid is not None:
                indices, indptr = self._model.scores["indices"], self._model.scores["indptr"]
                df = int(rows[indices[indptr[tid] : indptr[tid + 1]]].sum())
            return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

        return idf


def _check_scores(scores: dict[str, Any], documents: int) -> None:
    """ValueError unless bm25s's score matrix is whole: column pointers that start at 0, never
    fall and end at the number of entries, row numbers of real chunks, finite scores (a garbled
    array otherwise scores the wrong chunks without a word)."""
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    if int(scores["num_docs"]) != documents:
        raise ValueError("the BM25 index counts another number of chunks")
    if not (len(indptr) and indptr[0] == 0 and indptr[-1] == len(data) == len(indices)):
        raise ValueError("the BM25 column pointers do not match its entries")
    if np.any(np.diff(indptr) < 0) or not np.all(np.isfinite(data)) or np.any(data < 0):
        raise ValueError("the BM25 score matrix is garbled")
    if len(indices) and (indices.min() < 0 or indices.max() >= documents):
        raise ValueError("the BM25 index names chunks it does not hold")
