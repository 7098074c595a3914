"""`qa.eval bench`: ingest throughput against the embedder's raw throughput, index size, peak RSS,
warm, filtered and cold ask latency at growing corpus sizes, side by side with the standard
LangChain recipe on the same articles and embedder, and the same asks through `chroma run`.

Every ingest runs in a process of its own (qa.eval.bench_ingest). Indexes and their figures are
kept under the cache, one folder per corpus size, so a rerun re-ingests only what changed (or
everything with `reingest`); the asks are measured afresh on every run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.corpus.articles import ARTICLE_SUFFIXES, load_article
from qa.eval.evaluation import percentile
from qa.index.embeddings import Embedder

Say = Callable[[str], None]
QUESTION_CHARS = 60  # a question is the head of an article's title, cut here
DATE_WINDOW = dt.timedelta(days=7)  # a date-filtered ask looks at the week up to the article
WARM_UP = "warm up"  # asked first, untimed: loading indexes and models is no ask's latency


@dataclass(frozen=True)
class Corpus:
    """One corpus size: a label, a folder of article files, and its cache folder."""

    label: str
    folder: Path
    work: Path


@dataclass(frozen=True)
class Probe:
    """A question derived from an article: its title's head, asked to find that article."""

    text: str
    source: str
    date: dt.date | None


@dataclass
class Row:
    """Figures of one system at one corpus size; None where a figure is not measured."""

    corpus: str
    articles: int
    system: str
    questions: int
    ingest: dict[str, Any] = field(default_factory=dict)  # from qa.eval.bench_ingest
    index_mb: float | None = None
    hit1: float | None = None
    hitk: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    source_p50_ms: float | None = None
    date_p50_ms: float | None = None
    cold_s: float | None = None
    stages: dict[str, dict[str, float]] = field(default_factory=dict)


def article_files(folder: Path) -> list[Path]:
    """The article files of a folder, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES
    )


def stamp(folder: Path) -> str:
    """What a folder's articles are (names and sizes): an index built from another is stale."""
    text = "|".join(f"{p.name}:{p.stat().st_size}" for p in article_files(folder))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def probes(folder: Path, count: int) -> list[Probe]:
    """`count` questions spread evenly over the articles: the head of every k-th title."""
    files = article_files(folder)
    step = max(1, len(files) // max(count, 1))
    out = []
    for path in files[::step][:count]:
        article = load_article(path, Settings().max_article_bytes)
        text = article.title[:QUESTION_CHARS].strip()
        if len(text) >= 4:
            out.append(Probe(text, article.id, article.date))
    return out


def disk_mb(folder: Path) -> float:
    """Space a folder takes on disk (allocated blocks, as `du` counts), in MB."""
    blocks = sum(p.lstat().st_blocks for p in folder.rglob("*") if not p.is_symlink())
    return blocks * 512 / 2**20


def ingested(system: str, corpus: Corpus, reingest: bool, say: Say) -> dict[str, Any]:
    """The ingest figures of one system: kept ones when the index matches the corpus, else
    measured by a fresh `python -m qa.eval.bench_ingest` over a fresh index folder."""
    index = corpus.work / system
    kept = corpus.work / f"{system}-ingest.json"
    want = stamp(corpus.folder)
    if not reingest and kept.exists() and index.exists():
        figures: dict[str, Any] = json.loads(kept.read_text(encoding="utf-8"))
        if figures.get("stamp") == want:
            say(f"bench: {corpus.label}: {system}: index kept from an earlier run")
            return figures
    shutil.rmtree(index, ignore_errors=True)
    say(f"bench: {corpus.label}: {system}: ingest")
    done = subprocess.run(
        [sys.executable, "-m", "qa.eval.bench_ingest", system, str(corpus.folder), str(index)],
        check=True,
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    figures = {**json.loads(done.stdout.strip().splitlines()[-1]), "stamp": want}
    kept.write_text(json.dumps(figures), encoding="utf-8")
    return figures


def _p(values: list[float], q: int) -> float | None:
    return percentile(values, q) if values else None


def _hits(found: list[list[str]], wanted: list[str]) -> tuple[float, float]:
    pairs = list(zip(found, wanted, strict=True))
    n = max(1, len(pairs))
    return sum(bool(f) and f[0] == w for f, w in pairs) / n, sum(w in f for f, w in pairs) / n


def variants(q: Probe) -> list[tuple[str, dict[str, Any]]]:
    """The asks of one question: unfiltered, by its article, by the week up to its date."""
    out: list[tuple[str, dict[str, Any]]] = [("all", {}), ("source", {"sources": [q.source]})]
    if q.date is not None:
        out.append(("date", {"since": q.date - DATE_WINDOW, "until": q.date}))
    return out


def dealt(questions: list[Probe]) -> list[tuple[Probe, str, dict[str, Any]]]:
    """Each question asked once, as the kind of ask made least so far that it allows (one
    without a date is never asked by date): every ask meets its words for the first time, as
    a reader's does, so nothing an earlier ask of the same question left cached (its analysis,
    its sentences' facts and terms) speeds it, and turn-about keeps a busy moment from
    favouring one kind."""
    made = dict.fromkeys(("date", "source", "all"), 0)  # on a tie the rarer kind goes first
    out = []
    for q in questions:
        allowed = dict(variants(q))
        kind = min((k for k in made if k in allowed), key=made.__getitem__)
        made[kind] += 1
        out.append((q, kind, allowed[kind]))
    return out


def _fill_row(
    row: Row, times: dict[str, list[float]], found: list[list[str]], wanted: list[str]
) -> None:
    row.hit1, row.hitk = _hits(found, wanted)
    row.p50_ms, row.p95_ms = _p(times["all"], 50), _p(times["all"], 95)
    row.source_p50_ms, row.date_p50_ms = _p(times["source"], 50), _p(times["date"], 50)


def ask_ours(row: Row, settings: Settings, embedder: Embedder, questions: list[Probe]) -> None:
    """Warm asks (unfiltered, by article, by date range) through our pipeline into `row`."""
    from qa.pipeline import QAPipeline

    pipe = QAPipeline(settings, embedder=embedder)
    pipe.ask(WARM_UP)  # the first ask loads the BM25 index and the answer policy
    times: dict[str, list[float]] = {"all": [], "source": [], "date": []}
    found, wanted = [], []
    stages: dict[str, list[float]] = {}
    for q, kind, options in dealt(questions):
        answer = pipe.ask(q.text, **options)
        times[kind].append(answer.timings["total"])
        if kind == "all":
            found.append([p.source for p in answer.passages][:3])
            wanted.append(q.source)
            for stage, ms in answer.timings.items():
                stages.setdefault(stage, []).append(ms)
    _fill_row(row, times, found, wanted)
    row.stages = {s: {"p50": _p(v, 50) or 0.0, "p95": _p(v, 95) or 0.0} for s, v in stages.items()}


def _recipe_filter(options: dict[str, Any]) -> dict[str, Any] | None:
    """Our ask options as a Chroma `where` on the recipe's metadata."""
    if "sources" in options:
        return {"source": options["sources"][0]}
    if "since" in options:
        since, until = (int(options[k].strftime("%Y%m%d")) for k in ("since", "until"))
        return {"$and": [{"date": {"$gte": since}}, {"date": {"$lte": until}}]}
    return None


def ask_recipe(row: Row, index: Path, embedder: Embedder, questions: list[Probe]) -> None:
    """The recipe's retrieval, similarity_search(k=4), timed per question, into `row`."""
    from qa.eval.bench_ingest import langchain_store

    store = langchain_store(index, embedder)
    store.similarity_search(WARM_UP, k=4)
    times: dict[str, list[float]] = {"all": [], "source": [], "date": []}
    found, wanted = [], []
    for q, kind, options in dealt(questions):
        clock = time.perf_counter()
        docs = store.similarity_search(q.text, k=4, filter=_recipe_filter(options))
        times[kind].append((time.perf_counter() - clock) * 1000)
        if kind == "all":
            found.append([d.metadata["source"] for d in docs])
            wanted.append(q.source)
    _fill_row(row, times, found, wanted)


def cold_ask(settings: Settings, question: str, runs: int) -> float:
    """Seconds for `qa ask` in a fresh process over an existing index (median of `runs`)."""
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_ARTICLES_DIR": str(settings.articles_dir),
        "QA_UPLOADS_DIR": str(settings.uploads_dir),
        "QA_WEB_DIR": str(settings.web_dir),
    }
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "qa.app.cli", "ask", question],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_size(
    corpus: Corpus,
    embedder: Embedder,
    count: int,
    cold_runs: int,
    reingest: bool,
    say: Say,
) -> tuple[list[Row], list[Probe]]:
    """Both systems at one corpus size: ingest (or keep), then warm, filtered and cold asks.
    Also returns the questions for `chroma run`: another set, so that what our asks left
    cached does not speed the server's (the same set when the corpus is too small for two)."""
    corpus.work.mkdir(parents=True, exist_ok=True)
    articles = len(article_files(corpus.folder))
    pool = probes(corpus.folder, 2 * count)
    questions, spare = pool[::2], pool[1::2]
    if articles < 2 * count:
        questions = spare = pool[:count]
    rows = []
    for system in ("delta-qa", "langchain"):
        figures = ingested(system, corpus, reingest, say)
        row = Row(corpus.label, articles, system, len(questions), figures)
        row.index_mb = disk_mb(corpus.work / system)
        say(f"bench: {corpus.label}: {system}: asks")
        if system == "delta-qa":
            settings = ours_settings(corpus)
            ask_ours(row, settings, embedder, questions)
            row.cold_s = cold_ask(settings, questions[0].text, cold_runs)
        else:
            ask_recipe(row, corpus.work / system, embedder, questions)
        rows.append(row)
    return rows, spare


def ours_settings(corpus: Corpus, **changes: Any) -> Settings:
    """Our settings over the corpus's kept index."""
    index = changes.pop("index_dir", corpus.work / "delta-qa")
    return Settings(
        articles_dir=corpus.folder,
        index_dir=index,
        uploads_dir=corpus.work / "uploads",
        web_dir=corpus.work / "web",
        feedback_file=corpus.work / "feedback.jsonl",
        **changes,
    )
