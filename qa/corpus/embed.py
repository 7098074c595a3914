"""Embed the chunks of an ingest: each chunk (with its title) and each sentence once, in batches
staged on disk, so a stopped ingest resumes and the vectors are never all held in memory."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.index.embeddings import Embedder, unit_rows
from qa.index.records import ChunkRecord, index_text

BATCH = 256  # texts per embedder call and per staged file
_KEY = np.dtype("S20")  # a text's key: the SHA-1 of its UTF-8 bytes
_OPEN_FILES = 8  # staged files kept loaded while vectors are read back in record order


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
    """Vectors an ingest embedded before it committed, by the key of their text: one `.npz`
    file per batch, written aside and renamed, so a file is whole or absent; they are read back
    a few files at a time. `shared`: a cache that several indexes draw on and that is never
    cleared (benchmarks that index the same articles many times)."""

    def __init__(self, folder: Path, model_id: str, shared: bool = False) -> None:
        self.folder = folder / model_id if shared else folder
        self.model_id = model_id
        self.shared = shared
        self._paths: list[Path] = []  # staged files, by number
        self._next_name: int | None = None  # the name of the next file staged
        self._loaded: OrderedDict[int, np.ndarray] = OrderedDict()
        self.dimension = 0  # known from the first file read or written

    def locate(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key of `wanted`, the number of the staged file that holds its vector and its
        row there (-1, -1 when none does). Files of another model, or unreadable, are dropped."""
        stamp = self.folder / "model.txt"
        if not stamp.exists() or stamp.read_text(encoding="utf-8") != self.model_id:
            self.clear()
            return np.full(len(wanted), -1), np.full(len(wanted), -1)
        keys, files, rows = [], [], []
        for path in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(path) as data:
                    held = np.ascontiguousarray(data["keys"]).view(_KEY).ravel()
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)  # cut short by a kill: embedded again
                continue
            keys.append(held)
            files.append(np.full(len(held), len(self._paths)))
            rows.append(np.arange(len(held)))
            self._paths.append(path)
        if not keys:
            return np.full(len(wanted), -1), np.full(len(wanted), -1)
        every = np.concatenate(keys)
        order = np.argsort(every, kind="stable")
        at = np.searchsorted(every[order], wanted).clip(max=len(every) - 1)
        found = every[order][at] == wanted
        which = order[at]
        file_of, row_of = np.concatenate(files)[which], np.concatenate(rows)[which]
        return np.where(found, file_of, -1), np.where(found, row_of, -1)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> int:
        """Stage one batch of vectors; the number of its file."""
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            (self.folder / "model.txt").write_text(self.model_id, encoding="utf-8")
        if self._next_name is None:
            taken = [int(p.stem) for p in self.folder.glob("*.npz") if p.stem.isdigit()]
            self._next_name = max(taken, default=-1) + 1
        path = self.folder / f"{self._next_name:06d}.npz"
        self._next_name += 1
        tmp = path.with_suffix(".tmp.npz")
        rows = np.ascontiguousarray(keys, dtype=_KEY).view(np.uint8).reshape(len(keys), -1)
        np.savez(tmp, keys=rows, vectors=vectors.astype(np.float16))
        os.replace(tmp, path)
        self._paths.append(path)
        self.dimension = vectors.shape[1]
        return len(self._paths) - 1

    def vectors(self, files: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The staged vectors at (file, row) pairs, float16, in that order."""
        out = np.zeros((len(files), self.dimension), dtype=np.float16)
        for number in np.unique(files):
            chosen, staged = files == number, self._file(int(number))
            if out.shape[1] != staged.shape[1]:
                out = np.zeros((len(files), staged.shape[1]), dtype=np.float16)
            out[chosen] = staged[rows[chosen]]
        return out

    def _file(self, number: int) -> np.ndarray:
        """The vectors of one staged file (the last few read are kept)."""
        if number in self._loaded:
            self._loaded.move_to_end(number)
        else:
            with np.load(self._paths[number]) as data:
                self._loaded[number] = data["vectors"]
            self.dimension = self._loaded[number].shape[1]
            if len(self._loaded) > _OPEN_FILES:
                self._loaded.popitem(last=False)
        return self._loaded[number]

    def clear(self) -> None:
        """Forget every staged vector (after a commit; a shared cache only when unreadable)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._paths, self._loaded, self._next_name = [], OrderedDict(), None

    def done(self) -> None:
        """The ingest committed: its staged vectors are no longer needed, unless shared."""
        if not self.shared:
            self.clear()


@dataclass(frozen=True)
class _Layout:
    """Which distinct texts an ingest embeds and which of them each record needs.

    Every record contributes its sentences, then its chunk (with its title): its occurrences,
    `occurrences[i]:occurrences[i + 1]`. Distinct texts are numbered by first occurrence."""

    records: list[ChunkRecord]
    occurrences: np.ndarray  # per record, where its occurrences start (and the total last)
    rows: np.ndarray  # per occurrence, the number of its distinct text
    first: np.ndarray  # per distinct text, its first occurrence
    keys: np.ndarray  # per distinct text, its key

    @classmethod
    def of(cls, records: list[ChunkRecord]) -> _Layout:
        counts = np.array([len(r.sentences) + 1 for r in records], dtype=np.int64)
        occurrences = np.concatenate([[0], np.cumsum(counts)])
        keys = np.empty(int(occurrences[-1]), dtype=_KEY)
        at = 0
        for r in records:
            for text in [r.text[s:e] for s, e in r.sentences] + [index_text(r.title, r.text)]:
                keys[at] = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()
                at += 1
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # distinct texts by first occurrence
        number = np.empty(len(order), dtype=np.int64)
        number[order] = np.arange(len(order))
        return cls(records, occurrences, number[inverse.ravel()], first[order], distinct[order])

    def text(self, occurrence: int) -> str:
        """The text of one occurrence."""
        i = int(np.searchsorted(self.occurrences, occurrence, side="right")) - 1
        record, j = self.records[i], occurrence - int(self.occurrences[i])
        if j < len(record.sentences):
            start, end = record.sentences[j]
            return record.text[start:end]
        return index_text(record.title, record.text)

    def chunk_rows(self, start: int, end: int) -> np.ndarray:
        """The distinct texts of the chunks of records [start, end)."""
        rows: np.ndarray = self.rows[self.occurrences[start + 1 : end + 1] - 1]
        return rows

    def sentence_rows(self, start: int, end: int) -> np.ndarray:
        """The distinct texts of the sentences of records [start, end), in order."""
        first = self.occurrences[start]
        keep = np.ones(int(self.occurrences[end] - first), dtype=bool)
        keep[self.occurrences[start + 1 : end + 1] - 1 - first] = False  # each record's chunk
        return self.rows[first : self.occurrences[end]][keep]


@dataclass(frozen=True)
class Embedded:
    """The vectors of an ingest's new chunks, read back from the staged files a block of
    records at a time (`qa.index.keyword.NewVectors`)."""

    layout: _Layout
    staging: Staging
    files: np.ndarray  # per distinct text, the staged file of its vector
    file_rows: np.ndarray  # ... and its row there
    dimension: int
    distinct_sentences: int
    texts: int  # chunks and sentences embedded by this run (not staged by an earlier one)

    def chunks(self, start: int, end: int) -> np.ndarray:
        """Unit vectors (float32) of the chunks of records [start, end)."""
        rows = self.layout.chunk_rows(start, end)
        return unit_rows(self.staging.vectors(self.files[rows], self.file_rows[rows]))

    def sentences(self, start: int, end: int) -> np.ndarray:
        """Vectors (float16) of the sentences of records [start, end), stacked in order."""
        rows = self.layout.sentence_rows(start, end)
        return self.staging.vectors(self.files[rows], self.file_rows[rows])


def embed_records(
    embedder: Embedder,
    records: list[ChunkRecord],
    staging: Staging,
    progress: Progress | None = None,
) -> Embedded:
    """Embed what `records` need and stage it; the result reads the vectors back.

    A chunk is embedded with its article's title before it (`index_text`). A text is embedded
    once however often it occurs (the sentences a chunk repeats from the one before it) and
    never again when an earlier run staged it. Only one batch of vectors is in memory at a
    time. (A chunk's vector made as the mean of its sentences' would halve the work, but it
    moved the fitted policy's false refusals on RGB's Chinese tuning half from 0.12 to 0.21.)
    """
    layout = _Layout.of(records)
    files, rows = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if len(layout.keys):
        files, rows = staging.locate(layout.keys)
    missing = np.flatnonzero(files < 0)
    tracker = _Tracker(layout, progress)
    tracker.resume(int(missing[0]) if len(missing) else len(layout.keys))
    for i in range(0, len(missing), BATCH):
        batch = missing[i : i + BATCH]
        vectors = np.asarray(
            embedder.embed_documents([layout.text(layout.first[t]) for t in batch])
        )
        files[batch], rows[batch] = staging.add(layout.keys[batch], vectors), np.arange(len(batch))
        tracker.done(int(missing[i + BATCH]) if i + BATCH < len(missing) else len(layout.keys))
    if len(files) and not staging.dimension:
        staging.vectors(files[:1], rows[:1])  # everything was staged before: read the width
    sentences = len(np.unique(layout.sentence_rows(0, len(records))))
    dimension = staging.dimension or embedder.dimension
    return Embedded(layout, staging, files, rows, dimension, sentences, len(missing))


def distinct_texts(records: list[ChunkRecord]) -> list[str]:
    """The texts an ingest of `records` embeds: each chunk (with its title) and each distinct
    sentence, once, in the order they are embedded."""
    layout = _Layout.of(records)
    return [layout.text(int(o)) for o in layout.first]


class _Tracker:
    """Turns "the distinct texts before number N are embedded" into articles and chunks done."""

    def __init__(self, layout: _Layout, report: Progress | None) -> None:
        self.report = report
        self.started = time.perf_counter()
        records = layout.records
        # record i is done once every text up to the highest any record up to i needs is
        highest = (
            np.maximum.reduceat(layout.rows, layout.occurrences[:-1]) if records else np.zeros(1)
        )
        self.chunk_ready = np.maximum.accumulate(highest)
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
        """Staged vectors cover every text before `next_row`."""
        self.resumed = self._counts(next_row)[1]
        self.started = time.perf_counter()

    def done(self, next_row: int) -> None:
        """Every text before `next_row` is embedded: report it."""
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
