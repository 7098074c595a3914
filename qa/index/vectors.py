"""The vector store: one Chroma collection, embedded on disk or on a `chroma run` server."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from qa.config import Settings, offline_environment
from qa.errors import BackendError, ConfigError, IndexDamagedError, IndexMismatchError, QAError
from qa.index.records import ChunkRecord

REBUILD_HINT = "run `qa ingest --rebuild` to re-embed every article"
_BATCH = 1000  # ids per Chroma call


class VectorStore:
    """The chunk vectors with their source and date, opened on first use; `identity` (model,
    dimension, chunker) is stored on the collection and checked whenever it is opened."""

    def __init__(
        self, settings: Settings, folder: Path, identity: Callable[[], dict[str, str | int]]
    ) -> None:
        self.settings = settings
        # absolute: Chroma keeps one client per path string, so a relative one opened from
        # two working folders in one process would reach the first folder's store
        self.path = folder.absolute() / "chroma"
        self.identity = identity  # called on open: an OpenAI model's dimension comes late
        self._client: Any = None
        self._collection: Any = None
        # one thread opens the store: chromadb's client, built by two threads at once, fails
        # in one of them ("Could not connect to tenant default_tenant")
        self._opening = threading.Lock()
        self.lost = False  # the collection vanished: recount before it is queried again

    @property
    def collection(self) -> Any:
        """The Chroma collection, created with the identity in its metadata."""
        with self._opening:
            if self._collection is None:
                self._collection = self._open_collection()
            return self._collection

    def forget(self, reopen: bool = False) -> None:
        """Look the collection up again on next use; `reopen` also opens the embedded store
        again, whose in-process caches do not see another process's writes."""
        self._collection = None
        if reopen and not self.settings.chroma_url:
            self._close_embedded()

    def count(self) -> int:
        """How many chunks the store holds; IndexDamagedError naming the fix when unreadable."""
        with self._readable():
            return int(self.collection.count())

    def ids(self) -> set[str]:
        """Every chunk id the store holds (reads them all: for checks, not for questions)."""
        with self._readable():
            return set(self.collection.get(include=[])["ids"])

    def upsert(self, records: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add or replace chunks with their vectors and where they come from. Their text is
        not sent: nothing reads it from the store (the keyword index holds it), and Chroma's
        full-text index of it took 3/4 of the upsert time and of the store's size."""
        for i in range(0, len(records), _BATCH):
            batch = records[i : i + _BATCH]
            with self._server_calls():
                self.collection.upsert(
                    ids=[r.id for r in batch],
                    embeddings=vectors[i : i + _BATCH],
                    metadatas=[_metadata(r) for r in batch],
                )

    def delete(self, chunk_ids: list[str]) -> None:
        """Remove chunks by id."""
        for i in range(0, len(chunk_ids), _BATCH):
            with self._server_calls():
                self.collection.delete(ids=chunk_ids[i : i + _BATCH])

    def nearest(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks that pass `where`; chromadb's
        NotFoundError when the collection vanished (then `lost` is set)."""
        from chromadb.errors import ChromaError, NotFoundError

        try:
            with self._server_calls():
                result = self.collection.query(
                    query_embeddings=[vector], n_results=k, where=where, include=["distances"]
                )
        except NotFoundError:
            self._collection = None  # opened by name again on next use
            self.lost = True
            raise
        except ChromaError as exc:  # a damaged store: the HNSW files or the sqlite log
            raise IndexDamagedError(
                f"the vector store cannot be searched ({type(exc).__name__}): "
                "run `qa ingest --rebuild`"
            ) from None
        return [
            (cid, 1.0 - float(d))
            for cid, d in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def drop(self) -> None:
        """Drop every vector, whatever state the store is in: an embedded store that cannot
        even be opened is deleted from disk."""
        try:
            with self._server_calls():
                self._connected().delete_collection(self.settings.collection)
        except IndexDamagedError:  # only the embedded store is checked on opening
            self._close_embedded()
            shutil.rmtree(self.path, ignore_errors=True)
        except QAError:
            raise  # a Chroma server that cannot be reached is not ours to delete
        except Exception:  # missing (NotFoundError/ValueError by version), or damaged
            if not self.settings.chroma_url:
                self._close_embedded()
                shutil.rmtree(self.path, ignore_errors=True)
        self._collection = None

    @contextlib.contextmanager
    def _readable(self) -> Iterator[None]:
        try:
            with self._server_calls():
                yield
        except QAError:
            raise
        except Exception as exc:  # a damaged embedded store raises chromadb's own errors
            raise IndexDamagedError(
                f"the vector store cannot be read ({type(exc).__name__}): run `qa ingest --rebuild`"
            ) from None

    @contextlib.contextmanager
    def _server_calls(self) -> Iterator[None]:
        """Turn a Chroma server that stopped answering into a BackendError naming the fix."""
        import httpx  # what chromadb's HttpClient speaks through

        try:
            yield
        except httpx.TransportError as exc:
            if not self.settings.chroma_url:
                raise
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> BackendError:
        return BackendError(
            f"cannot reach the Chroma server at {self.settings.chroma_url} ({exc}): start it "
            "with `chroma run --path DIR --port N`, or unset QA_CHROMA_URL for the embedded store"
        )

    def describe(self) -> str:
        """What the store is, for messages: the server's URL or "the vector store"."""
        url = self.settings.chroma_url
        return f"the Chroma server at {url}" if url else "the vector store"

    def _connected(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        offline_environment()
        import chromadb
        import chromadb.config

        chroma_settings = chromadb.config.Settings(anonymized_telemetry=False)
        url = self.settings.chroma_url
        if not url:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._open_embedded(chromadb, chroma_settings)
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"QA_CHROMA_URL={url!r} is not a URL like http://127.0.0.1:8000")
        try:
            return chromadb.HttpClient(
                host=parts.hostname,
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain exceptions for connection errors
            raise self._unreachable(exc) from None

    def _open_embedded(self, chromadb: Any, chroma_settings: Any) -> Any:
        """The embedded store, once its files are checked: Chroma's native code crashes the
        process on some damaged files instead of raising."""
        from qa.index.hnsw import damage

        problem = damage(self.path)
        if problem is None:
            try:
                return chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)
            except Exception as exc:  # a damaged chroma.sqlite3 raises its own errors
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        raise IndexDamagedError(
            f"the vector store in {self.path} is damaged ({problem}): run `qa ingest --rebuild`"
        )

    def _open_collection(self) -> Any:
        wanted = self.identity()
        collection = self._connected().get_or_create_collection(
            self.settings.collection,
            metadata=wanted,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,  # we always pass vectors: Chroma must never download a model
        )
        meta = collection.metadata or {}
        for key, value in wanted.items():
            if meta.get(key, value) != value:
                raise IndexMismatchError(
                    f"the Chroma collection {self.settings.collection!r} holds vectors of "
                    f"{key}={meta.get(key)!r}, not {value!r}: {REBUILD_HINT}"
                )
        return collection

    def _close_embedded(self) -> None:
        """Drop chromadb's process-wide handle on the embedded store (a damaged store keeps
        failing through that handle even after its files are gone), so the next use opens it
        from disk."""
        from chromadb.api.shared_system_client import SharedSystemClient

        system = SharedSystemClient._identifier_to_system.pop(str(self.path), None)
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()
        self._client = None
        self._collection = None


def _metadata(record: ChunkRecord) -> dict[str, str | int]:
    """Where a chunk comes from, as Chroma keeps it: the article, its date, the offsets, and
    the page it starts on (a PDF's chunks only: Chroma holds no None)."""
    metadata: dict[str, str | int] = {
        "source": record.source,
        "date": record.date,
        "start": record.start,
        "end": record.end,
    }
    page = record.page_at(record.start)
    if page is not None:
        metadata["page"] = page
    return metadata
