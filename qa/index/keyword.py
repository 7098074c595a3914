"""The keyword index saved beside the vector store: the chunk records, each chunk's sentence
vectors and terms and its chunk vector, computed once at ingest, with BM25 (`qa.index.bm25`)
over them, written and read together, and looked up by row."""

from __future__ import annotations

import shutil
from array import array
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.errors import IndexDamagedError, IndexMismatchError
from qa.index.bm25 import Bm25, record_terms, saved_ids, term_ids
from qa.index.embeddings import unit_rows
from qa.index.records import ChunkRecord, Spans, read_records, write_records
from qa.index.sentence_terms import SentenceTerms, SentenceTermsWriter, segmented
from qa.text import has_cjk

# Sentence vectors are stored as float16: half the size; a cosine moves by < 1e-4 (measured).
_STORED = np.float16
EXACT_MAX = 8192  # chunks searched exactly within a filter: 16 MB of float32 read at the most
BLOCK = 256  # records whose vectors are copied or sent at a time when an index is written


class NewVectors(Protocol):
    """The vectors of an ingest's new chunks, read a block of them at a time."""

    @property
    def dimension(self) -> int:
        """The width of every vector."""
        ...

    def chunks(self, start: int, end: int) -> np.ndarray:
        """Unit vectors (float32) of the new chunks [start, end)."""
        ...

    def sentences(self, start: int, end: int) -> np.ndarray:
        """Vectors of the sentences of the new chunks [start, end), stacked in order."""
        ...


class KeywordIndex:
    """BM25 scores over chunk records, in the order of `records`, and their sentence vectors."""

    def __init__(
        self,
        records: list[ChunkRecord],
        bm25: Bm25,
        sentences: np.ndarray,
        chunks: np.ndarray | None = None,
    ) -> None:
        self.records = records
        self._bm25 = bm25
        self._folder: Path | None = None  # where it is saved (its terms are read late)
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
        self._terms: SentenceTerms | None = None  # each sentence's terms, when stored

    @classmethod
    def write(
        cls,
        folder: Path,
        records: list[ChunkRecord],
        fresh: NewVectors | None = None,
        previous: KeywordIndex | None = None,
    ) -> KeywordIndex:
        """Index the records (title and text of each) with their sentence and chunk vectors in
        `folder` (written aside, then renamed into place), and return it.

        A record that `previous` holds keeps its vectors and terms (an ingest tokenises only
        its new chunks); the others take theirs from `fresh`, in record order. Vectors are
        copied a block of records at a time, so memory does not grow with the index. Without
        `fresh`, the new records must have no sentences (a BM25 index alone).
        """
        old = previous if previous is not None else KeywordIndex([], Bm25(), _empty(0))
        width = max(fresh.dimension if fresh is not None else old._sentences.shape[1], 1)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_records(tmp / "records.jsonl", records)
        runs = old._runs(records)
        offsets = old._offsets
        none = _empty(width)
        _write_rows(
            tmp / "sentences.npy",
            (sum(len(r.sentences) for r in records), width),
            _STORED,
            (
                _read_rows(old._sentences, int(offsets[a]), int(offsets[b]))
                if held
                else (fresh.sentences(a, b) if fresh is not None else none)
                for held, a, b in runs
            ),
        )
        # chunk vectors are kept only when every record has one
        if (old._chunks is not None or all(not held for held, _, _ in runs)) and (
            fresh is not None or all(held for held, _, _ in runs)
        ):
            _write_rows(
                tmp / "chunks.npy",
                (len(records), width),
                np.float32,
                (
                    _read_rows(old._chunks, a, b)
                    if held and old._chunks is not None
                    else (fresh.chunks(a, b) if fresh is not None else none)
                    for held, a, b in runs
                ),
            )
        bm25 = Bm25()
        if records:
            vocabulary: dict[str, int] = {}
            with SentenceTermsWriter(tmp, vocabulary) as sentences_out:
                ids = old._term_ids(records, vocabulary, sentences_out)
            bm25 = Bm25.build(tmp, ids, vocabulary)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        sentences = np.load(folder / "sentences.npy", mmap_mode="r")
        chunk_file = folder / "chunks.npy"
        chunk_vectors = np.load(chunk_file, mmap_mode="r") if chunk_file.exists() else None
        index = cls(records, bm25, sentences, chunk_vectors)
        index._folder = folder
        if records:
            index._terms = SentenceTerms.load(folder, len(sentences), bm25.vocabulary)
        return index

    def _kept_terms(self, record: ChunkRecord) -> list[frozenset[str]] | None:
        """The stored terms of the sentences of a record this index holds, else None."""
        row = self._rows.get(record.id)
        return None if row is None else self.sentence_terms([row])

    def sentence_terms(self, rows: list[int]) -> list[frozenset[str]] | None:
        """The terms of all sentences of the records at `rows`, in the order of
        `sentence_vectors`; None when the index stores none (an index written before)."""
        if self._terms is None:
            return None
        offsets, stored = self._offsets, self._terms
        return [t for r in rows for t in stored.of(int(offsets[r]), int(offsets[r + 1]))]

    def first_sentence_terms(self, sources: Iterable[str]) -> dict[str, frozenset[str]]:
        """The stored terms of the first sentence of each source, by its text: an article's
        title, where the title is a sentence of its own (as the chunker writes it), for the
        answer stage to read instead of segmenting; empty when the index stores no terms."""
        if self._terms is None:
            return {}
        out = {}
        for source in sources:
            row = self._by_source.get(source, [None])[0]  # its chunks, in article order
            first = self.records[row] if row is not None else None
            if first is not None and first.start == 0 and first.sentences:
                start, end = first.sentences[0]
                at = int(self._offsets[row])
                out[first.text[start:end]] = self._terms.of(at, at + 1)[0]
        return out

    def _runs(self, records: list[ChunkRecord]) -> list[tuple[bool, int, int]]:
        """`records` as runs of at most BLOCK: (True, a, b) for this index's rows [a, b),
        (False, a, b) for the new records [a, b) (counted among those this index lacks)."""
        runs: list[tuple[bool, int, int]] = []
        new = 0
        for record in records:
            row = self._rows.get(record.id)
            held, at = (True, row) if row is not None else (False, new)
            new += not held
            if runs and runs[-1][0] == held and runs[-1][2] == at and at - runs[-1][1] < BLOCK:
                runs[-1] = (held, runs[-1][1], at + 1)
            else:
                runs.append((held, at, at + 1))
        return runs

    def _term_ids(
        self,
        records: list[ChunkRecord],
        vocabulary: dict[str, int],
        sentences_out: SentenceTermsWriter,
    ) -> list[array[int]]:
        """Each record's BM25 terms as ids into `vocabulary`, and its sentences' terms into
        `sentences_out`. A record this index holds keeps its terms, read from those BM25 saved
        (a cache: when they are missing or unreadable, terms are segmented again) and the stored
        sentence terms; the others are segmented, each sentence right after its chunk (jieba's
        cache then holds its words)."""
        known: dict[str, array[int]] = {}
        wanted = {r.id for r in records if r.id in self._rows}
        if wanted and self._folder is not None:
            try:
                known = saved_ids(self._folder, self.records, wanted, vocabulary)
            except (OSError, ValueError):
                known = {}
                vocabulary.clear()
        out = []
        for r in records:
            out.append(known.get(r.id) or term_ids(record_terms(r), vocabulary))
            kept = self._kept_terms(r)
            sentences_out.add(
                kept if kept is not None else segmented(r.text[s:e] for s, e in r.sentences)
            )
        return out

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
            records = read_records(path)
            bm25 = Bm25.load(folder, len(records)) if records else Bm25()
            # mapped, not read: opening is O(1) and processes share the pages; a lookup of 8
            # chunks costs ~0.08 ms either way (measured on 400k sentences; reading: 0.3-0.6 s)
            sentences = np.load(folder / "sentences.npy", mmap_mode="r")
            chunks = None
            if (folder / "chunks.npy").exists():
                chunks = np.load(folder / "chunks.npy", mmap_mode="r")
            stored_terms = None
            if records:
                stored_terms = SentenceTerms.load(folder, len(sentences), bm25.vocabulary)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise IndexDamagedError(
                f"the keyword index in {folder} is damaged ({type(exc).__name__}): "
                "run `qa ingest`, which repairs it"
            ) from None
        index = cls(records, bm25, sentences, chunks)
        index._folder = folder
        index._terms = stored_terms
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
        return unit_rows(np.concatenate(parts))

    def rows(self, chunk_ids: list[str]) -> list[int]:
        """The rows of chunk ids that must be indexed (hits retrieved from this index)."""
        missing = [cid for cid in chunk_ids if cid not in self._rows]
        if missing:
            raise IndexMismatchError(
                f"chunk {missing[0]} was retrieved from a newer index than the answerer holds: "
                "ingest through QAPipeline.ingest, which renews its answerers"
            )
        return [self._rows[cid] for cid in chunk_ids]

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
        return self._bm25.search(query_terms, k, mask)

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
        return self._bm25.idf_in(self._chinese == chinese)

    @cached_property
    def _chinese(self) -> np.ndarray:
        """Whether each chunk (title and text) holds Chinese characters."""
        return np.fromiter(
            (has_cjk(r.title + r.text) for r in self.records), dtype=bool, count=len(self.records)
        )

    def row(self, chunk_id: str) -> int | None:
        """The row of a chunk id, if it is indexed."""
        return self._rows.get(chunk_id)


def _empty(width: int, dtype: Any = _STORED) -> np.ndarray:
    return np.zeros((0, max(width, 1)), dtype=dtype)


def _write_rows(
    path: Path, shape: tuple[int, int], dtype: Any, blocks: Iterable[np.ndarray]
) -> None:
    """Write an `.npy` array of `shape` from its rows, a block at a time."""
    with path.open("wb") as f:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
        np.lib.format.write_array_header_1_0(f, {**header, "shape": shape})
        written = 0
        for block in blocks:
            if len(block):
                f.write(np.ascontiguousarray(block, dtype=dtype).reshape(len(block), shape[1]).data)
                written += len(block)
    if written != shape[0]:
        raise ValueError(f"{written} vector rows given for {shape[0]}")


def _read_rows(array: np.ndarray, start: int, end: int) -> np.ndarray:
    """Rows [start, end) of an array, read from its file when it is a mapped `.npy` (a read
    through the mapping would keep every page of the old index in this process's memory)."""
    if isinstance(array, np.memmap) and array.filename is not None:
        size = array.dtype.itemsize * array.shape[1]
        with open(array.filename, "rb") as f:
            f.seek(array.offset + start * size)
            data = f.read((end - start) * size)
        return np.frombuffer(data, dtype=array.dtype).reshape(end - start, array.shape[1])
    return np.asarray(array[start:end])
