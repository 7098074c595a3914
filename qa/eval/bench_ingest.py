"""One ingest of `qa.eval bench`, measured in a process of its own so that corpus sizes do not share
a heap: seconds, chunks, the embedder's raw throughput on the very texts the ingest embedded,
and the process's peak RSS. Run as `python -m qa.eval.bench_ingest SYSTEM CORPUS INDEX`; it
prints one JSON object on stdout."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.corpus.embed import BATCH as EMBED_BATCH
from qa.index.embeddings import Embedder, make_embedder

SYSTEMS = ("delta-qa", "langchain")
BATCH = EMBED_BATCH  # the batch our ingest embeds in; the raw measurement uses the same
RAW_SAMPLE = 2000  # texts embedded directly to measure the raw throughput


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_ours(corpus: Path, index: Path, embedder: Embedder) -> tuple[float, int, list[str]]:
    """Seconds, chunks, and the distinct texts embedded (chunks with their title, sentences)."""
    from qa.corpus.embed import distinct_texts
    from qa.pipeline import QAPipeline

    settings = Settings(articles_dir=corpus, index_dir=index, uploads_dir=index / "uploads")
    pipe = QAPipeline(settings, embedder=embedder)
    report = pipe.ingest(str(corpus), rebuild=True)
    records = pipe.store.keyword.records
    return report.seconds, len(records), distinct_texts(records)


class _Wrapped:
    """Our embedder behind LangChain's Embeddings interface, so both systems embed alike."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]


def langchain_embeddings(embedder: Embedder) -> Any:
    """`embedder` as a langchain_core Embeddings object."""
    from langchain_core.embeddings import Embeddings

    return type("OurEmbeddings", (_Wrapped, Embeddings), {})(embedder)


def langchain_store(index: Path, embedder: Embedder) -> Any:
    """The recipe's Chroma vector store kept in `index`."""
    import chromadb
    import chromadb.config
    from langchain_chroma import Chroma

    client = chromadb.PersistentClient(
        path=str(index), settings=chromadb.config.Settings(anonymized_telemetry=False)
    )
    return Chroma(
        collection_name="recipe", embedding_function=langchain_embeddings(embedder), client=client
    )


def ingest_recipe(corpus: Path, index: Path, embedder: Embedder) -> tuple[float, int, list[str]]:
    """The LangChain tutorial recipe: RecursiveCharacterTextSplitter(1000, 200) into Chroma;
    timed from reading the files to the last vector stored, as ours is."""
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qa.corpus.ingest import read_folder

    store = langchain_store(index, embedder)
    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    articles, _ = read_folder(corpus, Settings().max_article_bytes)
    docs = [
        Document(
            page_content=piece,
            metadata={"source": a.id, "date": int(a.date.strftime("%Y%m%d")) if a.date else 0},
        )
        for a in articles
        for piece in splitter.split_text(a.text)
    ]
    for i in range(0, len(docs), 1000):
        store.add_documents(docs[i : i + 1000])
    seconds = time.perf_counter() - started
    return seconds, len(docs), [d.page_content for d in docs]


def raw_throughput(embedder: Embedder, texts: list[str], sample: int) -> dict[str, Any]:
    """Texts and characters per second of `embedder.embed_documents` alone, in batches of
    BATCH, on every text or on an evenly spread sample of `sample` of them."""
    step = max(1, -(-len(texts) // sample))
    chosen = texts[::step]
    started = time.perf_counter()
    for i in range(0, len(chosen), BATCH):
        embedder.embed_documents(chosen[i : i + BATCH])
    seconds = max(time.perf_counter() - started, 1e-9)
    return {
        "raw_sample": len(chosen),
        "raw_texts_per_s": len(chosen) / seconds,
        "raw_chars_per_s": sum(map(len, chosen)) / seconds,
    }


def measure(system: str, corpus: Path, index: Path, sample: int = RAW_SAMPLE) -> dict[str, Any]:
    """Ingest `corpus` into a fresh `index` with one system and return its figures."""
    embedder = make_embedder(Settings())
    embedder.embed_documents(["warm up"])  # loading the model is not ingest
    base = peak_rss_mb()
    run = ingest_ours if system == "delta-qa" else ingest_recipe
    seconds, chunks, texts = run(corpus, index, embedder)
    peak = peak_rss_mb()
    chars = sum(map(len, texts))
    return {
        "system": system,
        "ingest_s": seconds,
        "chunks": chunks,
        "texts": len(texts),
        "chars": chars,
        "chars_per_s": chars / max(seconds, 1e-9),
        "base_rss_mb": base,
        "peak_rss_mb": peak,
        **raw_throughput(embedder, texts, sample),
    }


def main(argv: list[str]) -> None:
    """`SYSTEM CORPUS INDEX [SAMPLE]` → one JSON line of figures on stdout."""
    system, corpus, index = argv[0], Path(argv[1]), Path(argv[2])
    if system not in SYSTEMS:
        raise SystemExit(f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    sample = int(argv[3]) if len(argv) > 3 else RAW_SAMPLE
    print(json.dumps(measure(system, corpus, index, sample)))


if __name__ == "__main__":
    main(sys.argv[1:])
