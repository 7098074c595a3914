"""The index on disk: Chroma vectors (embedded or a server), the BM25 index and the manifest."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from qa.chunking import chunker_config
from qa.config import Settings, offline_environment
from qa.errors import (
    BackendError,
    ConfigError,
    IndexDamagedError,
    IndexMismatchError,
    QAError,
)
from qa.index.embeddings import Embedder
from qa.index.keyword import ChunkRecord, KeywordIndex

# 2: chunk records carry sentence spans, and sentence vectors are stored beside the BM25 index
FORMAT = 2
REBUILD_HINT = "run `qa ingest --rebuild` to re-embed every article"


class Store:
    """Reads and writes one index; writers must hold `qa.ingest.writer_lock` first."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.folder = settings.index_dir
        self.chunker = chunker_config(settings.chunk_size, settings.chunk_overlap)
        self._chroma: Any = None  # opened on first use, each of these
        self._collection: Any = None
        self._keyword: KeywordIndex | None = None

    def reload(self, reopen: bool = False) -> None:
        """Read the collection and the BM25 index afresh on next use; `reopen` also opens the
        embedded Chroma store again, whose in-process caches do not see another process's
        writes."""
        self._collection = None
        self._keyword = None
        if reopen and not self.settings.chroma_url:
            self._close_embedded()

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

    def manifest(self) -> dict[str, Any]:
        """The manifest: model, chunker and, per article, its sha256, metadata and chunk ids."""
        if not self._manifest_path.exists():
            return {
                "format": FORMAT,
                "embedding_model": self.embedder.model_id,
                "dimension": self.embedder.dimension,
                "chunker": self.chunker,
                "articles": {},
            }
        try:
            manifest: dict[str, Any] = json.loads(self._manifest_path.read_text(encoding="utf-8"))
            if not isinstance(manifest.get("articles"), dict):
                raise ValueError("no articles")
        except (OSError, ValueError) as exc:
            raise IndexDamagedError(
                f"the index manifest {self._manifest_path} is damaged ({exc}): "
                "run `qa ingest`, which repairs it"
            ) from None
        return manifest

    # --- the write phase ------------------------------------------------------------------
    # Commit protocol: an ingest writes `ingest.pending` (fsynced) before it changes Chroma,
    # then Chroma, then the BM25 folder (written aside, renamed into place), then the manifest
    # (written aside, renamed into place), and removes the marker last. A marker left behind
    # means the process died inside the write phase: the next `qa ingest` checks the three
    # parts against each other and rebuilds when they disagree; a question refuses to answer
    # from such an index and names the command that repairs it.
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

    def check_counts(self) -> None:
        """Fail, naming the fix, when the vector store does not hold the manifest's chunks (a
        Chroma server restarted on an empty path, a collection dropped): one count, cheap."""
        listed = sum(len(meta["chunks"]) for meta in self.manifest()["articles"].values())
        try:
            held = self.collection.count()
        except QAError:
            raise
        except Exception as exc:  # a damaged embedded store raises its own errors
            raise IndexDamagedError(
                f"the vector store cannot be read ({type(exc).__name__}): run `qa ingest --rebuild`"
            ) from None
        if held != listed:
            raise IndexDamagedError(
                f"the vector store holds {held} chunks where the manifest lists {listed}: "
                "run `qa ingest`, which repairs it"
            )

    def problems(self) -> list[str]:
        """What is wrong with the index: an unfinished ingest, a damaged part, or chunk ids
        on which Chroma, the BM25 index and the manifest disagree (empty when consistent)."""
        out = ["the last ingest did not finish"] if self.unfinished() else []
        try:
            listed = {c for meta in self.manifest()["articles"].values() for c in meta["chunks"]}
            records = [r.id for r in self.keyword.records]
            stored = set(self.collection.get(include=[])["ids"])
        except (IndexDamagedError, BackendError) as exc:
            return [*out, str(exc)]
        except QAError:
            raise  # another model, chunker or format: only a deliberate --rebuild mixes nothing
        except Exception as exc:  # a damaged Chroma store raises its own errors
            return [*out, f"the vector store cannot be read ({type(exc).__name__})"]
        if len(records) != len(set(records)):
            out.append(f"{len(records) - len(set(records))} chunk ids twice in the BM25 index")
        for name, ids in (("the BM25 index", set(records)), ("Chroma", stored)):
            if ids - listed:
                out.append(f"{len(ids - listed)} chunks in {name} that the manifest lacks")
            if listed - ids:
                out.append(f"{len(listed - ids)} chunks of the manifest missing from {name}")
        return out

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self._manifest_path)

    def exists(self) -> bool:
        """Whether an index has been built here."""
        return self._manifest_path.exists()

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
        """Fail if the index was built in an older format, or with another model or chunker."""
        if not self.exists():
            return
        built = self.manifest()
        if built.get("format") != FORMAT:
            raise IndexMismatchError(
                f"the index in {self.folder} was written in format {built.get('format')!r}, "
                f"but this version reads format {FORMAT} (sentence vectors stored at ingest): "
                f"{REBUILD_HINT}"
            )
        wanted = self._identity()
        for key, value in wanted.items():
            if built.get(key) != value:
                raise IndexMismatchError(
                    f"the index in {self.folder} was built with {key}={built.get(key)!r}, "
                    f"but the settings ask for {value!r}: {REBUILD_HINT}"
                )

    # --- Chroma ---------------------------------------------------------------------------
    @property
    def _client(self) -> Any:
        if self._chroma is None:
            self._chroma = self._connect()
        return self._chroma

    def _connect(self) -> Any:
        offline_environment()
        import chromadb
        import chromadb.config

        chroma_settings = chromadb.config.Settings(anonymized_telemetry=False)
        url = self.settings.chroma_url
        if not url:
            self.folder.mkdir(parents=True, exist_ok=True)
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
            raise BackendError(
                f"cannot reach the Chroma server at {url} ({exc}): start it with "
                "`chroma run --path DIR --port N`, or unset QA_CHROMA_URL for the embedded store"
            ) from None

    def _open_embedded(self, chromadb: Any, chroma_settings: Any) -> Any:
        """The embedded store, once its files are checked: Chroma's native code crashes the
        process on some damaged files instead of raising."""
        from qa.index.hnsw import damage

        path = self.folder / "chroma"
        problem = damage(path)
        if problem is None:
            try:
                return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception as exc:  # a damaged chroma.sqlite3 raises its own errors
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        raise IndexDamagedError(
            f"the vector store in {path} is damaged ({problem}): run `qa ingest --rebuild`"
        )

    @property
    def collection(self) -> Any:
        """The Chroma collection, created with the model and chunker in its metadata."""
        if self._collection is None:
            self._collection = self._open_collection()
        return self._collection

    def _open_collection(self) -> Any:
        wanted = self._identity()
        collection = self._client.get_or_create_collection(
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

    def upsert(self, records: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add or replace chunks with their vectors."""
        step = 1000
        for i in range(0, len(records), step):
            batch = records[i : i + step]
            self.collection.upsert(
                ids=[r.id for r in batch],
                embeddings=vectors[i : i + step],
                documents=[r.text for r in batch],
                metadatas=[
                    {"source": r.source, "date": r.date, "start": r.start, "end": r.end}
                    for r in batch
                ],
            )

    def delete(self, chunk_ids: list[str]) -> None:
        """Remove chunks by id."""
        for i in range(0, len(chunk_ids), 1000):
            self.collection.delete(ids=chunk_ids[i : i + 1000])

    def dense(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks that pass `where`."""
        from chromadb.errors import ChromaError

        try:
            result = self.collection.query(
                query_embeddings=[vector], n_results=k, where=where, include=["distances"]
            )
        except ChromaError as exc:  # a damaged store: the HNSW files or the sqlite log
            raise IndexDamagedError(
                f"the vector store cannot be searched ({type(exc).__name__}): "
                "run `qa ingest --rebuild`"
            ) from None
        return [
            (cid, 1.0 - float(d))
            for cid, d in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def reset(self) -> None:
        """Drop every vector, the BM25 index and the manifest (for a rebuild), whatever state
        they are in: an embedded store that cannot even be opened is deleted from disk."""
        try:
            self._client.delete_collection(self.settings.collection)
        except IndexDamagedError:
            self._forget_embedded_store()  # only the embedded store is checked on opening
        except QAError:
            raise  # a Chroma server that cannot be reached is not ours to delete
        except Exception:  # missing (NotFoundError/ValueError by version), or damaged
            if not self.settings.chroma_url:
                self._forget_embedded_store()
        self.reload()
        shutil.rmtree(self.folder / "keyword", ignore_errors=True)
        self._manifest_path.unlink(missing_ok=True)

    def _forget_embedded_store(self) -> None:
        """Delete the embedded Chroma folder and chromadb's cached handle on it (a damaged
        store keeps failing through that handle even after its files are gone)."""
        self._close_embedded()
        shutil.rmtree(self.folder / "chroma", ignore_errors=True)

    def _close_embedded(self) -> None:
        """Drop chromadb's process-wide handle on the embedded store, so the next use opens
        it from disk."""
        from chromadb.api.shared_system_client import SharedSystemClient

        system = SharedSystemClient._identifier_to_system.pop(str(self.folder / "chroma"), None)
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()
        self._chroma = None

    # --- BM25 -----------------------------------------------------------------------------
    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index, the chunk records and their sentence vectors, loaded from disk."""
        if self._keyword is None:
            self._keyword = self._load_keyword()
        return self._keyword

    def _load_keyword(self) -> KeywordIndex:
        loaded = KeywordIndex.load(self.folder / "keyword")
        if loaded is None and self.exists() and self.manifest()["articles"]:
            raise IndexDamagedError(  # else every question would be declined, silently
                f"the keyword index in {self.folder / 'keyword'} is missing: "
                "run `qa ingest`, which repairs it"
            )
        empty = np.zeros((0, max(self.embedder.dimension, 1)), dtype=np.float16)
        return loaded or KeywordIndex([], None, empty)

    def write_keyword(self, records: list[ChunkRecord], sentence_vectors: np.ndarray) -> None:
        """Rebuild and save the BM25 index over `records`.

        `sentence_vectors` are the sentence vectors of the records the current index lacks,
        rows in record order; the others' are carried over from the current index.
        """
        index = KeywordIndex.build(records, sentence_vectors, previous=self.keyword)
        index.save(self.folder / "keyword")
        self._keyword = index
