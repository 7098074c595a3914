"""`qa bench`: ingest throughput, cold and warm latency and peak memory at growing corpus sizes,
side by side with the standard LangChain RAG recipe on the same corpus and embedding model."""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.articles import load_article
from qa.chunking import split_sentences
from qa.config import Settings
from qa.evaluation import EvalItem, percentile
from qa.index.embeddings import Embedder
from qa.pipeline import QAPipeline

Say = Callable[[str], None]


@dataclass
class BenchRow:
    """Figures for one corpus and one system (ours or the LangChain baseline)."""

    system: str
    corpus: str
    chunks: int
    ingest_s: float
    chunks_per_s: float
    hit1: float
    hit3: float
    p50_ms: float
    p95_ms: float
    cold_s: float | None = None
    peak_mb: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: int) -> float:
    return percentile(values, q) or 0.0


_PLACES = (
    "Haiyan",
    "Pinghu",
    "Tongxiang",
    "Jiashan",
    "Haining",
    "Deqing",
    "Anji",
    "Yuyao",
    "Cixi",
    "Zhuji",
    "Yiwu",
    "Lanxi",
    "Wenling",
    "Yongkang",
    "Changxing",
    "Shengzhou",
)


def synthetic_corpus(seeds: Path, folder: Path, target_chunks: int, settings: Settings) -> None:
    """Write the seed articles plus deterministic distractor articles into `folder`.

    Distractors reuse seed sentences with other place names and other figures, mixed with
    sentences of shuffled seed words, so retrieval has real competition on the same topics.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sentences: list[str] = []
    for path in sorted(seeds.iterdir()):
        shutil.copy(path, folder / path.name)
        text = load_article(path, settings.max_article_bytes).text
        sentences += [text[s:e] for s, e in split_sentences(text)]
    words = " ".join(sentences).split()
    rng = random.Random(20261121)
    per_chunk = settings.chunk_size - settings.chunk_overlap
    written = 0
    n = 0
    while written < target_chunks * per_chunk:
        place = rng.choice(_PLACES)
        body = []
        for _ in range(24):
            if rng.random() < 0.5:
                sentence = re.sub(
                    r"\d+(?:\.\d+)?", lambda _: str(rng.randint(2, 999)), rng.choice(sentences)
                )
                sentence = re.sub("|".join(_PLACES), place, sentence)
            else:
                sentence = " ".join(rng.sample(words, 18)).capitalize() + "."
            body.append(sentence)
        text = f"{place} bulletin {n}: industrial development notes\n\n" + "\n\n".join(
            " ".join(body[i : i + 4]) for i in range(0, len(body), 4)
        )
        (folder / f"synthetic_{n:06d}.txt").write_text(text, encoding="utf-8")
        written += len(text)
        n += 1


def _hits(items: list[EvalItem], ranked: list[list[str]]) -> tuple[float, float]:
    gold = [(i, r) for i, r in zip(items, ranked, strict=True) if i.should_answer and i.sources]
    hit1 = sum(bool(r) and r[0] in i.sources for i, r in gold) / max(1, len(gold))
    hit3 = sum(any(s in i.sources for s in r[:3]) for i, r in gold) / max(1, len(gold))
    return hit1, hit3


def bench_ours(
    name: str, articles: Path, items: list[EvalItem], embedder: Embedder, work: Path, cold: bool
) -> BenchRow:
    """Ingest `articles` into a fresh index, then ask every eval question warm (and once cold)."""
    settings = Settings(articles_dir=articles, index_dir=work / f"ours-{name}")
    pipe = QAPipeline(settings, embedder=embedder)
    report = pipe.ingest(str(articles))  # only these articles, never the chat uploads
    chunks = len(pipe.store.keyword.records)
    latencies: list[float] = []
    ranked: list[list[str]] = []
    stages: dict[str, list[float]] = {}
    for item in items:
        answer = pipe.ask(item.question)
        latencies.append(answer.timings["total"])
        ranked.append([p.source for p in answer.passages])
        for stage, ms in answer.timings.items():
            stages.setdefault(stage, []).append(ms)
    hit1, hit3 = _hits(items, ranked)
    cold_s = _cold_ask(settings, items[0].question) if cold else None
    return BenchRow(
        "delta-qa",
        name,
        chunks,
        report.seconds,
        report.embedded / report.seconds,
        hit1,
        hit3,
        _pct(latencies, 50),
        _pct(latencies, 95),
        cold_s,
        _peak_mb(),
        {s: round(_pct(v, 50), 2) for s, v in stages.items()},
    )


def _cold_ask(settings: Settings, question: str) -> float:
    """Seconds for `qa ask` in a fresh process over an existing index (median of 3)."""
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_ARTICLES_DIR": str(settings.articles_dir),
    }
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "qa.cli", "ask", question],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class _LangChainEmbeddings:
    """Our embedder behind LangChain's Embeddings interface, so both systems embed alike."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]


def bench_langchain(
    name: str,
    articles: Path,
    items: list[EvalItem],
    embedder: Embedder,
    work: Path,
    settings: Settings,
) -> BenchRow:
    """The tutorial recipe: RecursiveCharacterTextSplitter(1000, 200), similarity_search(k=4)."""
    import chromadb
    import chromadb.config
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    wrapped: Any = type("Wrapped", (_LangChainEmbeddings, Embeddings), {})(embedder)
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = [
        Document(page_content=piece, metadata={"source": path.name})
        for path in sorted(articles.iterdir())
        for piece in splitter.split_text(load_article(path, settings.max_article_bytes).text)
    ]
    client = chromadb.PersistentClient(
        path=str(work / f"langchain-{name}"),
        settings=chromadb.config.Settings(anonymized_telemetry=False),
    )
    store = Chroma(collection_name="baseline", embedding_function=wrapped, client=client)
    started = time.perf_counter()
    for i in range(0, len(docs), 1000):
        store.add_documents(docs[i : i + 1000])
    ingest_s = time.perf_counter() - started
    latencies, ranked = [], []
    for item in items:
        clock = time.perf_counter()
        found = store.similarity_search(item.question, k=4)
        latencies.append((time.perf_counter() - clock) * 1000)
        ranked.append([d.metadata["source"] for d in found])
    hit1, hit3 = _hits(items, ranked)
    return BenchRow(
        "langchain-baseline",
        name,
        len(docs),
        ingest_s,
        len(docs) / ingest_s,
        hit1,
        hit3,
        _pct(latencies, 50),
        _pct(latencies, 95),
        None,
        _peak_mb(),
    )


def run_bench(
    seeds: Path, items: list[EvalItem], embedder: Embedder, sizes: list[int], say: Say = print
) -> list[BenchRow]:
    """Both systems at the seed corpus and at each synthetic size (in chunks)."""
    rows: list[BenchRow] = []
    settings = Settings()
    embedder.embed_query("warm up")  # model loading is not ingest throughput
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        work = Path(tmp)
        corpora = [("seed", seeds)]
        for size in sizes:
            folder = work / f"corpus-{size}"
            synthetic_corpus(seeds, folder, size, settings)
            corpora.append((f"~{size:,} chunks", folder))
        for name, folder in corpora:
            say(f"bench: {name}: delta-qa")
            rows.append(bench_ours(name, folder, items, embedder, work, cold=name == "seed"))
            say(f"bench: {name}: langchain baseline")
            rows.append(bench_langchain(name, folder, items, embedder, work, settings))
    return rows


def markdown(rows: list[BenchRow], meta: str) -> str:
    """The bench table, with our/baseline ratios per corpus."""
    lines = [
        f"# qa bench — {meta}",
        "",
        "| corpus | system | chunks | ingest s | chunks/s | hit@1 | hit@3 | p50 ms | p95 ms "
        "| cold ask s | peak MB |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        cold = f"{r.cold_s:.2f}" if r.cold_s is not None else "–"
        lines.append(
            f"| {r.corpus} | {r.system} | {r.chunks:,} | {r.ingest_s:.1f} | "
            f"{r.chunks_per_s:.0f} | {r.hit1:.3f} | {r.hit3:.3f} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {cold} | {r.peak_mb:.0f} |"
        )
    lines += ["", "| corpus | hit@3 ours − baseline | p50 ours / baseline |", "|---|---|---|"]
    for ours, base in zip(rows[::2], rows[1::2], strict=True):
        lines.append(
            f"| {ours.corpus} | {ours.hit3 - base.hit3:+.3f} | "
            f"{ours.p50_ms / max(base.p50_ms, 1e-9):.2f}× |"
        )
    lines += ["", "Stage p50 (ms) of delta-qa:", ""]
    lines += [
        f"- {r.corpus}: " + ", ".join(f"{s} {v}" for s, v in r.stages.items()) for r in rows[::2]
    ]
    return "\n".join(lines) + "\n"


def chart(rows: list[BenchRow], path: Path) -> None:
    """Bars of p50 latency and hit@3 per corpus, ours against the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = [r.corpus for r in rows[::2]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    x = range(len(corpora))
    for ax, attr, label in ((left, "p50_ms", "warm p50 ms"), (right, "hit3", "hit@3")):
        ax.bar([i - 0.2 for i in x], [getattr(r, attr) for r in rows[::2]], 0.4, label="delta-qa")
        ax.bar(
            [i + 0.2 for i in x],
            [getattr(r, attr) for r in rows[1::2]],
            0.4,
            label="langchain baseline",
        )
        ax.set_xticks(list(x), corpora)
        ax.set_title(label)
    left.legend(fontsize=8)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
