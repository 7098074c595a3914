"""`qa.eval bench` against a real `chroma run` server: our index at one corpus size served by it.

The server is given the vectors of the embedded index (copied, not embedded again: the ingest
is measured on the embedded store) and keeps them under the cache for the next run; the BM25
index and manifest are copied beside it. Then the same warm and filtered asks are timed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from qa.corpus.chunking import chunker_config
from qa.eval.bench import Corpus, Probe, Row, Say, ask_ours, disk_mb, ours_settings
from qa.index.chroma_server import chroma_server
from qa.index.embeddings import Embedder
from qa.index.store import Store

SYSTEM = "delta-qa + chroma run"
PAGE = 1000


def _local_collection(index: Path, name: str) -> Any:
    import chromadb
    import chromadb.config

    client = chromadb.PersistentClient(
        path=str(index / "chroma"), settings=chromadb.config.Settings(anonymized_telemetry=False)
    )
    return client.get_collection(name)


def _fill(store: Store, source: Path, say: Say) -> None:
    """Replace the server's collection and the index copy with those of `source`."""
    store.reset()
    shutil.rmtree(store.folder, ignore_errors=True)
    shutil.copytree(source, store.folder, ignore=shutil.ignore_patterns("chroma"))
    local = _local_collection(source, store.settings.collection)
    total = local.count()
    say(f"bench: copying {total:,} vectors into the chroma server")
    for offset in range(0, total, PAGE):
        got = local.get(include=["embeddings", "metadatas"], limit=PAGE, offset=offset)
        store.vectors.collection.upsert(
            ids=got["ids"], embeddings=got["embeddings"], metadatas=got["metadatas"]
        )


def bench_server(
    corpus: Corpus, articles: int, embedder: Embedder, questions: list[Probe], say: Say
) -> Row:
    """Warm and filtered asks through `chroma run` over the corpus's kept index."""
    source = corpus.work / "delta-qa"
    copied = corpus.work / "server-index"
    data = corpus.work / "server-data"
    made_from = json.loads((corpus.work / "delta-qa-ingest.json").read_text(encoding="utf-8"))
    marker = corpus.work / "server-source.json"
    data.mkdir(parents=True, exist_ok=True)
    with chroma_server(data) as url:
        settings = ours_settings(corpus, index_dir=copied, chroma_url=url)
        store = Store(
            settings, embedder, chunker_config(settings.chunk_size, settings.chunk_overlap)
        )
        fresh = marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == made_from
        if not fresh or not copied.exists():
            _fill(store, source, say)
            marker.write_text(json.dumps(made_from), encoding="utf-8")
        row = Row(corpus.label, articles, SYSTEM, len(questions))
        row.index_mb = disk_mb(data) + disk_mb(copied)
        say(f"bench: {corpus.label}: {SYSTEM}: asks")
        ask_ours(row, settings, embedder, questions)
    return row
