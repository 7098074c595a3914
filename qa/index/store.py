"""The one owner of an index on disk: the vector store, the BM25 index and the manifest, and
the commit protocol that changes them together."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import BackendError, IndexDamagedError, IndexMismatchError
from qa.index.bm25 import Bm25
from qa.index.embeddings import Embedder
from qa.index.gate import ReadWriteGate
from qa.index.keyword import BLOCK, KeywordIndex, NewVectors
from qa.index.manifest import FORMAT, Manifest
from qa.index.records import ChunkRecord
from qa.index.vectors import REBUILD_HINT, VectorStore

_SAME_VECTOR = 1e-4  # a cosine this close to 1 is the same vector (float16 staging, HNSW's float32)


class Store:
    """Reads and writes one index; writers must hold `qa.corpus.ingest.writer_lock` first.
    `chunker` names how its chunks are made (`qa.corpus.chunking.chunker_config`): the index
    stores it and is refused when it names another."""

    def __init__(self, settings: Settings, embedder: Embedder, chunker: str) -> None:
        self.settings = settings
        self.embedder = embedder
        self.folder = settings.index_dir
        self.chunker = chunker
        self.vectors = VectorStore(settings, self.folder, self._identity)
        self._keyword: KeywordIndex | None = None  # loaded on first use
        self._gate = ReadWriteGate()  # searches in flight finish before a reopen

    def reload(self, reopen: bool = False) -> None:
        """Read the collection and the BM25 index afresh on next use; `reopen` also opens the
        embedded Chroma store again, whose in-process caches do not see another process's
        writes."""
        with self._gate.writing():
            self.vectors.forget(reopen)
            self._keyword = None

    def generation(self) -> tuple[int, int, int] | None:
        """Which manifest is on disk (inode, mtime, size): it changes with every finished
        ingest, since the manifest is replaced last; None before the first."""
        try:
            info = self._manifest_path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    # --- manifest -------------------------------------------------------------------------
    @property
    def _manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> Manifest:
        """The manifest on disk, or an empty one for this model and chunker before the first
        ingest."""
        if not self._manifest_path.exists():
            return Manifest(self.embedder.model_id, self.embedder.dimension, self.chunker)
        return Manifest.load(self._manifest_path)

    def exists(self) -> bool:
        """Whether an index has been built here."""
        return self._manifest_path.exists()

    # --- the write phase ------------------------------------------------------------------
    # Commit protocol: an ingest embeds everything first (its vectors kept in a staging
    # folder, so a killed ingest resumes without embedding again), then writes
    # `ingest.pending` (fsynced) before it changes Chroma, then Chroma, then the BM25 folder
    # (written aside, renamed into place), then the manifest (written aside, fsynced, renamed
    # into place), and removes the marker last. Readers go by the manifest, which is replaced
    # last. A marker left behind means the process died inside the write phase: the next
    # `qa ingest` checks the three parts against each other and rebuilds when they disagree
    # (from the staged vectors where it can); a question refuses to answer from such an index
    # and names the command that repairs it.
    @property
    def _pending_path(self) -> Path:
        return self.folder / "ingest.pending"

    def begin_write(self) -> None:
        """Mark the write phase as begun (durably, before the first change)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._pending_path.open("w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
            f.flush()
            os.fsync(f.fileno())

    def end_write(self) -> None:
        """Mark the write phase as finished (after the manifest is in place)."""
        self._pending_path.unlink(missing_ok=True)

    def unfinished(self) -> bool:
        """Whether an ingest died inside its write phase."""
        return self._pending_path.exists()

    def write(
        self,
        manifest: Manifest,
        records: list[ChunkRecord],
        stale: list[str],
        fresh: list[ChunkRecord],
        vectors: NewVectors,
        fault: Callable[[str], None],
    ) -> None:
        """Commit one ingest: drop the `stale` chunk ids, add the `fresh` records with their
        `vectors`, rebuild the BM25 index over `records` (the kept ones and the fresh ones)
        and replace the manifest. Vectors go from the staged files to the store a block at a
        time. `fault` is called with the name of each step done (testing: see
        `qa.corpus.ingest.fault_point`)."""
        self.begin_write()
        fault("began")
        if stale:
            self.vectors.delete(stale)
            fault("deleted")
        if fresh:
            self._send(fresh, vectors)
            if self.settings.chroma_url:
                self._check_served(fresh, vectors)
            fault("upserted")
        self._keyword = KeywordIndex.write(self.folder / "keyword", records, vectors, self.keyword)
        fault("keyword")
        manifest.save(self._manifest_path)
        fault("manifest")
        self.end_write()
        if fresh:
            # chromadb's embedded store can go on searching an HNSW index that lacks vectors
            # it just took: they are counted and stored, yet no query returns them (about 1
            # ingest in 40 in a loop of uploads). Opened again from disk, it holds them.
            with self._gate.writing():
                self.vectors.forget(reopen=True)

    def _send(self, fresh: list[ChunkRecord], vectors: NewVectors) -> None:
        """Upsert the new chunks, a block of staged vectors at a time."""
        for start in range(0, len(fresh), BLOCK):
            end = min(start + BLOCK, len(fresh))
            self.vectors.upsert(fresh[start:end], vectors.chunks(start, end))

    def _check_served(self, fresh: list[ChunkRecord], vectors: NewVectors) -> None:
        """A `chroma run` server has the embedded store's fault (see `write`), and cannot be
        opened again from here: it is asked for the last new chunk by that chunk's own vector
        and, when it does not return it, sent the new chunks again, after which it does (6
        writes in 200 in a loop of uploads; each one mended by sending again)."""
        last = len(fresh) - 1
        probe = vectors.chunks(last, last + 1)[0]
        for attempt in range(2):
            found = self.vectors.nearest(probe, 1, None)
            # a chunk of the same text elsewhere has the same vector: as good a match
            if found and (found[0][0] == fresh[-1].id or found[0][1] > 1 - _SAME_VECTOR):
                return
            if not attempt:
                self._send(fresh, vectors)
        raise BackendError(
            f"{self.vectors.describe()} took the new chunks but does not return them: "
            "restart it and run `qa ingest`, which writes them again"
        )

    # --- checks ---------------------------------------------------------------------------
    def check_counts(self) -> None:
        """Fail, naming the fix, when the vector store does not hold the manifest's chunks (a
        Chroma server restarted on an empty path, a collection dropped): one count, cheap."""
        listed = self.manifest().chunk_count()
        held = self.vectors.count()
        if held != listed:
            raise IndexDamagedError(
                f"{self.vectors.describe()} holds {held} chunks where the manifest lists "
                f"{listed}: run `qa ingest`, which repairs it"
            )
        self.vectors.lost = False

    def nearest(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        """The k nearest chunks (see `VectorStore.nearest`). A collection that vanished (a
        Chroma server restarted on an empty path, or dropped) is opened by name again and
        queried only once it holds the manifest's chunks, as after a `qa ingest` elsewhere:
        an empty one never answers silently."""
        from chromadb.errors import NotFoundError

        with self._gate.reading():
            if self.vectors.lost:
                self.check_counts()
            try:
                return self.vectors.nearest(vector, k, where)
            except NotFoundError:
                self.check_counts()
                return self.vectors.nearest(vector, k, where)

    def problems(self, thorough: bool = True) -> list[str]:
        """What is wrong with the index: an unfinished ingest, a damaged part, or chunk ids
        on which Chroma, the BM25 index and the manifest disagree (empty when consistent).
        Not `thorough`: Chroma's chunks are counted, not listed (cheap on a big index)."""
        out = ["the last ingest did not finish"] if self.unfinished() else []
        try:
            listed = self.manifest().chunk_ids()
            records = [r.id for r in self.keyword.records]
            stored = self.vectors.ids() if thorough else None
            held = self.vectors.count() if stored is None else len(stored)
        except IndexDamagedError as exc:
            return [*out, str(exc)]
        if len(records) != len(set(records)):
            out.append(f"{len(records) - len(set(records))} chunk ids twice in the BM25 index")
        for name, ids in (("the BM25 index", set(records)), ("Chroma", stored)):
            if ids is None:
                if held != len(listed):
                    out.append(f"Chroma holds {held} chunks where the manifest lists {len(listed)}")
                continue
            if ids - listed:
                out.append(f"{len(ids - listed)} chunks in {name} that the manifest lacks")
            if listed - ids:
                out.append(f"{len(listed - ids)} chunks of the manifest missing from {name}")
        return out

    def _identity(self) -> dict[str, str | int]:
        """What vectors in this index must agree on: model, dimension (when known), chunker."""
        identity: dict[str, str | int] = {
            "embedding_model": self.embedder.model_id,
            "chunker": self.chunker,
        }
        if self.embedder.dimension:  # an OpenAI model's is known only after its first call
            identity["dimension"] = self.embedder.dimension
        return identity

    def check_compatible(self) -> None:
        """Fail if the index was built in another format, or with another model or chunker."""
        if not self.exists():
            return
        built = self.manifest()
        if built.format != FORMAT:
            raise IndexMismatchError(
                f"the index in {self.folder} was written in format {built.format}, but this "
                f"version reads format {FORMAT} (sentence vectors stored at ingest): "
                f"{REBUILD_HINT}"
            )
        for key, value in self._identity().items():
            if getattr(built, key) != value:
                raise IndexMismatchError(
                    f"the index in {self.folder} was built with {key}={getattr(built, key)!r}, "
                    f"but the settings ask for {value!r}: {REBUILD_HINT}"
                )

    def reset(self) -> None:
        """Drop every vector, the BM25 index and the manifest (for a rebuild), whatever state
        they are in."""
        self.vectors.drop()
        self._keyword = None
        shutil.rmtree(self.folder / "keyword", ignore_errors=True)
        self._manifest_path.unlink(missing_ok=True)

    # --- BM25 -----------------------------------------------------------------------------
    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index, the chunk records and their sentence vectors, loaded from disk."""
        if self._keyword is None:
            loaded = KeywordIndex.load(self.folder / "keyword")
            if loaded is None and self.exists() and self.manifest().articles:
                raise IndexDamagedError(  # else every question would be declined, silently
                    f"the keyword index in {self.folder / 'keyword'} is missing: "
                    "run `qa ingest`, which repairs it"
                )
            empty = np.zeros((0, max(self.embedder.dimension, 1)), dtype=np.float16)
            self._keyword = loaded or KeywordIndex([], Bm25(), empty)
        return self._keyword
