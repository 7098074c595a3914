"""The BM25 keyword index (bm25s) over the same chunks as the vector store, saved beside it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.tokens import terms


@dataclass(frozen=True)
class ChunkRecord:
    """What retrieval needs of a chunk without asking the vector store."""

    id: str
    source: str
    title: str
    date: int  # yyyymmdd, 0 when the article has no date
    start: int
    end: int
    text: str

    @property
    def day(self) -> dt.date | None:
        """The article's publication date, None when it has none."""
        if not self.date:
            return None
        return dt.date(self.date // 10000, self.date // 100 % 100, self.date % 100)


def index_text(title: str, text: str) -> str:
    """The text that is embedded and keyword-indexed for a chunk: its article title, then it."""
    return f"{title}\n{text}"


class KeywordIndex:
    """BM25 scores over chunk records, in the order of `records`."""

    def __init__(self, records: list[ChunkRecord], model: Any) -> None:
        self.records = records
        self._model = model
        self._rows = {r.id: i for i, r in enumerate(records)}

    @classmethod
    def build(cls, records: list[ChunkRecord]) -> KeywordIndex:
        """Index the records (title and text of each)."""
        if not records:
            return cls([], None)
        import bm25s

        model = bm25s.BM25()
        model.index(
            [terms(index_text(r.title, r.text)) or [""] for r in records], show_progress=False
        )
        return cls(records, model)

    def save(self, folder: Path) -> None:
        """Write the index and its records into `folder`, replacing what was there."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with (tmp / "records.jsonl").open("w", encoding="utf-8") as f:
            for record in self.records:
                f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        if self._model is not None:
            self._model.save(str(tmp / "bm25"), show_progress=False)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none."""
        path = folder / "records.jsonl"
        if not path.exists():
            return None
        with path.open(encoding="utf-8") as f:
            records = [ChunkRecord(**json.loads(line)) for line in f]
        model = None
        if records:
            import bm25s

            model = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
        return cls(records, model)

    def search(
        self, query_terms: Sequence[str], k: int, mask: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, score) pairs with a positive score, among rows where `mask` is 1;
        `query_terms` are the question's `terms()`, computed once by the question analysis."""
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

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a term; a term no chunk holds gets the highest."""
        n = len(self.records)
        tid = self._model.vocab_dict.get(term) if self._model is not None else None
        df = 0
        if tid is not None:
            indptr = self._model.scores["indptr"]  # CSC columns: one per term
            df = int(indptr[tid + 1] - indptr[tid])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def row(self, chunk_id: str) -> int | None:
        """The row of a chunk id, if it is indexed."""
        return self._rows.get(chunk_id)
