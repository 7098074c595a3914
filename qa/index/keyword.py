"""The BM25 keyword index (bm25s) over the same chunks as the vector store, saved beside it,
with each chunk's sentence spans and sentence vectors, computed once at ingest."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer.facts import has_cjk
from qa.errors import IndexDamagedError, IndexMismatchError
from qa.tokens import terms

Spans = tuple[tuple[int, int], ...]
# Sentence vectors are stored as float16: half the size; a cosine moves by < 1e-4 (measured).
_STORED = np.float16
EXACT_MAX = 8192  # chunks searched exactly within a filter: 16 MB of float32 read at the most


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
    sentences: Spans  # (start, end) of each sentence, relative to `text`

    @property
    def day(self) -> dt.date | None:
        """The article's publication date, None when it has none."""
        if not self.date:
            return None
        return dt.date(self.date // 10000, self.date // 100 % 100, self.date % 100)


def index_text(title: str, text: str) -> str:
    """The text that is embedded and keyword-indexed for a chunk: its article title, then it."""
    return f"{title}\n{text}"


def record_terms(record: ChunkRecord) -> list[str]:
    """The BM25 terms of a chunk (of its title and text; [""] when it has none)."""
    return terms(index_text(record.title, record.text)) or [""]


class KeywordIndex:
    """BM25 scores over chunk records, in the order of `records`, and their sentence vectors."""

    def __init__(
        self,
        records: list[ChunkRecord],
        model: Any,
        sentences: np.ndarray,
        chunks: np.ndarray | None = None,
    ) -> None:
        self.records = records
        self._model = model
        self._terms: list[list[str]] | None = None  # each record's BM25 terms, when built here
        self._folder: Path | None = None  # where it was loaded from (its terms are read late)
        # chunk vectors, one row per record (float32, as Chroma holds them), for exact search
        # within a filter; None in an index written before they were kept
        self._chunks = chunks if chunks is not None and len(chunks) == len(records) else None
        self._rows = {r.id: i for i, r in enumerate(records)}
        # the sentence rows of record i are sentences[offsets[i]:offsets[i + 1]]
        counts = [len(r.sentences) for r in records]
        self._offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        if len(sentences) != self._offsets[-1]:
            raise IndexMismatchError(
                f"the keyword index holds {len(sentences)} sentence vectors for "
                f"{int(self._offsets[-1])} sentences: run `qa ingest --rebuild`"
            )
        self._sentences = sentences

    @classmethod
    def build(
        cls,
        records: list[ChunkRecord],
        sentence_vectors: np.ndarray,
        previous: KeywordIndex | None = None,
        chunk_vectors: np.ndarray | None = None,
    ) -> KeywordIndex:
        """Index the records (title and text of each) with their sentence and chunk vectors.

        The rows of a record that `previous` holds are carried over by chunk id;
        `sentence_vectors` and `chunk_vectors` are those of the other records, in record order
        (chunk vectors are kept only when every record has one). The terms of a record that
        `previous` holds are carried over too: an ingest tokenises only its new chunks.
        """
        fresh = np.asarray(sentence_vectors, dtype=_STORED)
        stored = previous._carry(records, fresh) if previous is not None else fresh
        chunks = None
        if chunk_vectors is not None:
            new = np.asarray(chunk_vectors, dtype=np.float32)
            chunks = previous._carry_chunks(records, new) if previous is not None else new
        if not records:
            return cls([], None, stored)
        import bm25s

        known = previous.terms_of() if previous is not None else {}
        tokens = [known[r.id] if r.id in known else record_terms(r) for r in records]
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        index = cls(records, model, stored, chunks)
        index._terms = tokens
        return index

    def terms_of(self) -> dict[str, list[str]]:
        """Each record's BM25 terms by chunk id: kept from the build, or read from the saved
        `terms.jsonl` (a cache: when it is missing or unreadable, terms are tokenised again)."""
        tokens = self._terms
        if tokens is None and self._folder is not None:
            try:
                with (self._folder / "terms.jsonl").open(encoding="utf-8") as f:
                    tokens = [json.loads(line) for line in f]
            except (OSError, ValueError):
                tokens = None
        if tokens is None or len(tokens) != len(self.records):
            return {}
        return {r.id: t for r, t in zip(self.records, tokens, strict=True)}

    def save(self, folder: Path) -> None:
        """Write the index and its records into `folder`, replacing what was there."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with (tmp / "records.jsonl").open("w", encoding="utf-8") as f:
            for record in self.records:
                f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        np.save(tmp / "sentences.npy", self._sentences)
        if self._terms is not None:
            with (tmp / "terms.jsonl").open("w", encoding="utf-8") as f:
                for tokens in self._terms:
                    f.write(json.dumps(tokens, ensure_ascii=False) + "\n")
        if self._chunks is not None:
            np.save(tmp / "chunks.npy", self._chunks)
        if self._model is not None:
            self._model.save(str(tmp / "bm25"), show_progress=False)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        self._terms, self._folder = None, folder  # read back only by the next build

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none."""
        path = folder / "records.jsonl"
        if not path.exists():
            return None
        if not (folder / "sentences.npy").exists():
            raise IndexMismatchError(
                f"the keyword index in {folder} has no sentence vectors (an older format): "
                "run `qa ingest --rebuild`"
            )
        try:
            with path.open(encoding="utf-8") as f:
                records = [_record(json.loads(line)) for line in f]
            model = None
            if records:
                import bm25s

                model = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
                _check_scores(model.scores, len(records))
            # mapped, not read: opening is O(1) and processes share the pages; a lookup of 8
            # chunks costs ~0.08 ms either way (measured on 400k sentences; reading: 0.3-0.6 s)
            sentences = np.load(folder / "sentences.npy", mmap_mode="r")
            chunks = None
            if (folder / "chunks.npy").exists():
                chunks = np.load(folder / "chunks.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise IndexDamagedError(
                f"the keyword index in {folder} is damaged ({type(exc).__name__}): "
                "run `qa ingest`, which repairs it"
            ) from None
        index = cls(records, model, sentences, chunks)
        index._folder = folder
        return index

    def sentences(self, row: int) -> tuple[Spans, np.ndarray]:
        """The sentence spans (relative to the chunk text) of the record at `row`, and their
        unit vectors, float32, one row per sentence."""
        return self.records[row].sentences, self.sentence_vectors([row])

    def sentence_vectors(self, rows: list[int]) -> np.ndarray:
        """The unit vectors of all sentences of the records at `rows`, stacked in that order."""
        parts = [self._sentences[self._offsets[r] : self._offsets[r + 1]] for r in rows]
        if not parts:
            return np.zeros((0, self._sentences.shape[1]), dtype=np.float32)
        vectors = np.concatenate(parts).astype(np.float32)
        unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
        return unit

    def rows(self, chunk_ids: list[str]) -> list[int]:
        """The rows of chunk ids that must be indexed (hits retrieved from this index)."""
        missing = [cid for cid in chunk_ids if cid not in self._rows]
        if missing:
            raise IndexMismatchError(
                f"chunk {missing[0]} was retrieved from a newer index than the answerer holds: "
                "ingest through QAPipeline.ingest, which renews its answerers"
            )
        return [self._rows[cid] for cid in chunk_ids]

    def _carry(self, records: list[ChunkRecord], fresh: np.ndarray) -> np.ndarray:
        """The sentence rows of `records`: this index's by chunk id, else the next of `fresh`."""
        offsets = self._offsets
        return self._carry_rows(
            records,
            fresh,
            self._sentences,
            lambda row: (offsets[row], offsets[row + 1]),
            lambda record: len(record.sentences),
        )

    def _carry_chunks(self, records: list[ChunkRecord], fresh: np.ndarray) -> np.ndarray | None:
        """The chunk rows of `records`: this index's by chunk id, else the next of `fresh`;
        None when this index keeps none (a record would be left without one)."""
        if self._chunks is None:
            return fresh if len(fresh) == len(records) else None
        return self._carry_rows(
            records, fresh, self._chunks, lambda row: (row, row + 1), lambda _: 1
        )

    def _carry_rows(
        self,
        records: list[ChunkRecord],
        fresh: np.ndarray,
        stored: np.ndarray,
        span: Callable[[int], tuple[int, int]],
        count: Callable[[ChunkRecord], int],
    ) -> np.ndarray:
        """Rows of `records` in order: a record this index holds keeps its rows of `stored`
        (`span` of its row), the others take the next `count` rows of `fresh`."""
        parts: list[np.ndarray] = []
        used = 0
        for record in records:
            row = self._rows.get(record.id)
            if row is not None:
                start, end = span(row)
                parts.append(stored[start:end])
            else:
                parts.append(fresh[used : used + count(record)])
                used += count(record)
        if used != len(fresh):
            raise ValueError(f"{len(fresh)} new vector rows given for {used} new rows")
        # an empty part may have another width (an embedder reports its dimension late)
        parts = [part for part in parts if len(part)]
        return np.concatenate(parts) if parts else fresh

    def nearest(
        self, vector: np.ndarray, k: int, mask: np.ndarray
    ) -> list[tuple[str, float]] | None:
        """(chunk id, cosine similarity) of the k chunks nearest to `vector` among the rows
        where `mask` is set, searched exactly; None when this index keeps no chunk vectors or
        the mask admits more than EXACT_MAX rows (a search in the vector store is faster)."""
        rows = np.flatnonzero(mask)
        if self._chunks is None or len(rows) > EXACT_MAX:
            return None
        if not len(rows):
            return []
        sims = self._chunks[rows] @ np.asarray(vector, dtype=np.float32)
        k = min(k, len(rows))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.records[rows[i]].id, float(sims[i])) for i in top]

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

    def mask(
        self, sources: frozenset[str] | None, since: int | None, until: int | None
    ) -> np.ndarray:
        """1.0 for the rows of chunks from `sources` (all when None) dated within [since, until]
        (yyyymmdd; an undated chunk is outside any range), else 0.0: from arrays built once."""
        if sources is None:
            keep = np.ones(len(self.records), dtype=bool)
        else:
            keep = np.zeros(len(self.records), dtype=bool)
            for source in sources:
                keep[self._by_source.get(source, [])] = True
        if since is not None or until is not None:
            keep &= self._dates > 0
        if since is not None:
            keep &= self._dates >= since
        if until is not None:
            keep &= self._dates <= until
        return keep.astype(np.float32)

    @cached_property
    def _dates(self) -> np.ndarray:
        return np.fromiter((r.date for r in self.records), dtype=np.int64, count=len(self.records))

    @cached_property
    def _by_source(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for i, record in enumerate(self.records):
            rows.setdefault(record.source, []).append(i)
        return rows

    def idf_in(self, chinese: bool) -> Callable[[str], float]:
        """BM25's inverse document frequency counted among the chunks of one language only
        (Chinese, or not): articles in another language do not move the weights of a question's
        terms, whatever their number. A term no chunk of the language holds gets the highest."""
        rows = self._chinese == chinese
        n = int(rows.sum())

        def idf(term: str) -> float:
            tid = self._model.vocab_dict.get(term) if self._model is not None else None
            df = 0
            if tid is not None:
                indices, indptr = self._model.scores["indices"], self._model.scores["indptr"]
                df = int(rows[indices[indptr[tid] : indptr[tid + 1]]].sum())
            return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

        return idf

    @cached_property
    def _chinese(self) -> np.ndarray:
        """Whether each chunk (title and text) holds Chinese characters."""
        return np.fromiter(
            (has_cjk(r.title + r.text) for r in self.records), dtype=bool, count=len(self.records)
        )

    def row(self, chunk_id: str) -> int | None:
        """The row of a chunk id, if it is indexed."""
        return self._rows.get(chunk_id)


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


def _record(data: dict[str, Any]) -> ChunkRecord:
    """A record from its JSON line (spans come back as lists)."""
    data["sentences"] = tuple((int(s), int(e)) for s, e in data["sentences"])
    return ChunkRecord(**data)
