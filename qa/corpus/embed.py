"""Embed the chunks of an ingest: each chunk (with its title) and each sentence once, in batches
staged on disk so a stopped ingest resumes."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.index.embeddings import Embedder
from qa.index.keyword import ChunkRecord, index_text

BATCH = 256  # texts per embedder call and per staged file


@dataclass(frozen=True)
class IngestProgress:
    """How far the embedding of an ingest has come; counts include resumed work."""

    articles: int
    articles_total: int
    chunks: int
    chunks_total: int
    seconds: float  # since this run started embedding
    resumed_chunks: int = 0  # chunks whose vectors were staged by an earlier, stopped run

    @property
    def chunks_per_s(self) -> float:
        """Chunks embedded per second in this run."""
        done = self.chunks - self.resumed_chunks
        return done / self.seconds if self.seconds > 0 and done > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Time left at this run's rate, None before there is a rate."""
        rate = self.chunks_per_s
        return (self.chunks_total - self.chunks) / rate if rate else None


Progress = Callable[[IngestProgress], None]


class Staging:
    """Vectors an ingest embedded before it committed, by the hash of their text: one `.npz`
    file per batch, written aside and renamed, so a file is whole or absent. `shared`: a cache
    that several indexes draw on and that is never cleared (benchmarks that index the same
    articles many times)."""

    def __init__(self, folder: Path, model_id: str, shared: bool = False) -> None:
        self.folder = folder / model_id if shared else folder
        self.model_id = model_id
        self.shared = shared
        self._files = 0  # batches staged so far (set by `load`)

    def load(self, wanted: set[bytes]) -> dict[bytes, np.ndarray]:
        """The staged vectors of the `wanted` keys; those of another model, or unreadable, are
        dropped."""
        stamp = self.folder / "model.txt"
        if not stamp.exists() or stamp.read_text(encoding="utf-8") != self.model_id:
            self.clear()
            return {}
        found: dict[bytes, np.ndarray] = {}
        paths = sorted(self.folder.glob("*.npz"))
        self._files = len(paths)
        for path in paths:
            try:
                with np.load(path) as data:
                    vectors = data["vectors"]
                    for row, key in enumerate(map(bytes, data["keys"])):
                        if key in wanted:
                            found[key] = vectors[row]
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)  # cut short by a kill: embedded again
        return found

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Stage one batch of vectors."""
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            (self.folder / "model.txt").write_text(self.model_id, encoding="utf-8")
        path = self.folder / f"{self._files:06d}.npz"
        self._files += 1
        tmp = path.with_suffix(".tmp.npz")
        rows = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
        np.savez(tmp, keys=rows, vectors=vectors.astype(np.float16))
        os.replace(tmp, path)

    def clear(self) -> None:
        """Forget every staged vector (after a commit; a shared cache only when unreadable)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._files = 0

    def done(self) -> None:
        """The ingest committed: its staged vectors are no longer needed, unless shared."""
        if not self.shared:
            self.clear()


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


@dataclass(frozen=True)
class Embedded:
    """The vectors of an ingest's new chunks."""

    chunks: np.ndarray  # float32 unit rows, in record order
    sentences: np.ndarray  # float16, one row per sentence of each record, in order
    distinct_sentences: int
    texts: int  # chunks and sentences embedded by this run (not staged by an earlier one)


def embed_records(
    embedder: Embedder,
    records: list[ChunkRecord],
    staging: Staging,
    progress: Progress | None = None,
) -> Embedded:
    """The chunk and sentence vectors of `records`.

    A chunk is embedded with its article's title before it (`index_text`). A text is embedded
    once however often it occurs (the sentences a chunk repeats from the one before it) and
    never again when an earlier run staged it. (A chunk's vector made as the mean of its
    sentences' would halve the work, but it moved the fitted policy's false refusals on RGB's
    Chinese tuning half from 0.12 to 0.21.)
    """
    unique, chunk_rows, sentence_rows = _layout(records)
    matrix, fresh = _embed_unique(
        embedder, unique, staging, _Tracker(records, chunk_rows, progress)
    )
    chunks = matrix[[rows[0] for rows in chunk_rows]].astype(np.float32)
    chunks /= np.maximum(np.linalg.norm(chunks, axis=1, keepdims=True), 1e-12)
    return Embedded(chunks, matrix[sentence_rows], len(set(sentence_rows)), fresh)


def distinct_texts(records: list[ChunkRecord]) -> list[str]:
    """The texts an ingest of `records` embeds: each chunk (with its title) and each distinct
    sentence, once, in the order they are embedded."""
    return _layout(records)[0]


def _layout(records: list[ChunkRecord]) -> tuple[list[str], list[list[int]], list[int]]:
    """The distinct texts of `records`, the rows each chunk needs (its own, then its
    sentences'), and the rows of every sentence of every record in order."""
    texts: dict[str, int] = {}  # text -> its row among the embedded vectors
    chunk_rows: list[list[int]] = []
    sentence_rows: list[int] = []
    for r in records:
        rows = [texts.setdefault(r.text[s:e], len(texts)) for s, e in r.sentences]
        sentence_rows += rows
        chunk_rows.append([texts.setdefault(index_text(r.title, r.text), len(texts)), *rows])
    return list(texts), chunk_rows, sentence_rows


def _embed_unique(
    embedder: Embedder, unique: list[str], staging: Staging, tracker: _Tracker
) -> tuple[np.ndarray, int]:
    """Vectors of `unique` (float16 rows in order): staged ones reused, the rest embedded in
    batches and staged as they come; and how many were embedded."""
    keys = [_key(text) for text in unique]
    staged = staging.load(set(keys)) if unique else {}
    matrix: np.ndarray | None = None
    if staged:
        width = len(next(iter(staged.values())))
        matrix = np.zeros((len(unique), width), dtype=np.float16)
    missing: list[int] = []
    for row, key in enumerate(keys):
        vector = staged.get(key)
        if vector is None or matrix is None:
            missing.append(row)
        else:
            matrix[row] = vector
    tracker.resume(missing[0] if missing else len(unique))
    for i in range(0, len(missing), BATCH):
        rows = missing[i : i + BATCH]
        vectors = np.asarray(embedder.embed_documents([unique[r] for r in rows]))
        if matrix is None:  # the width is known from the first batch (an OpenAI model's too)
            matrix = np.zeros((len(unique), vectors.shape[1]), dtype=np.float16)
        matrix[rows] = vectors
        staging.add([keys[r] for r in rows], vectors)
        tracker.done(missing[i + BATCH] if i + BATCH < len(missing) else len(unique))
    if matrix is None:
        return np.zeros((0, max(embedder.dimension, 1)), dtype=np.float16), 0
    return matrix, len(missing)


class _Tracker:
    """Turns "the unique texts before row R are embedded" into articles and chunks done."""

    def __init__(
        self, records: list[ChunkRecord], chunk_rows: list[list[int]], report: Progress | None
    ) -> None:
        self.report = report
        self.started = time.perf_counter()
        # chunk i is done once every row up to the highest any chunk up to i needs is embedded
        highest = np.maximum.accumulate([max(rows, default=-1) for rows in chunk_rows] or [0])
        self.chunk_ready = highest
        last_of: dict[str, int] = {}
        for i, record in enumerate(records):
            last_of[record.source] = i
        self.article_last = np.sort(np.fromiter(last_of.values(), dtype=np.int64))
        self.total_chunks = len(records)
        self.resumed = 0

    def _counts(self, next_row: int) -> tuple[int, int]:
        chunks = int(np.searchsorted(self.chunk_ready, next_row, side="left"))
        chunks = min(chunks, self.total_chunks)
        return int(np.searchsorted(self.article_last, chunks, side="left")), chunks

    def resume(self, next_row: int) -> None:
        """Staged vectors cover every row before `next_row`."""
        self.resumed = self._counts(next_row)[1]
        self.started = time.perf_counter()

    def done(self, next_row: int) -> None:
        """Every row before `next_row` is embedded: report it."""
        if self.report is None:
            return
        articles, chunks = self._counts(next_row)
        self.report(
            IngestProgress(
                articles=articles,
                articles_total=len(self.article_last),
                chunks=chunks,
                chunks_total=self.total_chunks,
                seconds=time.perf_counter() - self.started,
                resumed_chunks=self.resumed,
            )
        )


def progress_line(step: IngestProgress) -> str:
    """`articles 1200/9648 · 85 chunks/s · 3m12s left`: one line for a progress bar."""
    line = f"articles {step.articles}/{step.articles_total} · {step.chunks_per_s:.0f} chunks/s"
    left = step.seconds_left
    if left is not None:
        minutes, seconds = divmod(round(left), 60)
        line += f" · {minutes}m{seconds:02d}s left" if minutes else f" · {seconds}s left"
    return line
