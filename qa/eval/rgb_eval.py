"""Ask RGB's questions over its passages and score them: accuracy, rejection, hit@k, latency.

Each item of a split is asked twice: over the full corpus (it should be answered) and over the
reject corpus, where a third of the items lost every passage that gives their answer away (they
should be declined; the rest should still be answered). `rgb_metrics` is a pure function of the
rows; `run_rgb` builds the corpora and indexes (cached, incremental) and asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qa.corpus.embed import IngestProgress, Progress
from qa.errors import ConfigError, IndexMismatchError
from qa.eval.evaluation import percentile
from qa.eval.rgb import RGBItem, Variant, build_corpus, contains_answer, load_items
from qa.models import Answer
from qa.pipeline import QAPipeline

RGBSplit = Literal["tune", "check", "all"]
Say = Callable[[str], None]  # one progress line at a time


@dataclass(frozen=True)
class RGBConfig:
    """What `qa.eval run --rgb` asks for: the data, the sets, the half, where to cache, a limit."""

    bench_dir: Path
    sets: tuple[str, ...] = ("en", "zh", "zh_int")
    split: RGBSplit = "tune"
    cache_dir: Path = Path(".qa-cache")
    limit: int | None = None  # only the first N questions of each file (tests, quick runs)
    distractors: str | None = None  # "crud-news" or a folder of articles to mix in
    distractor_limit: int | None = None  # only the first N crud-news articles


def hit_rank(passages: Sequence[str], answers: list[list[str]]) -> int | None:
    """The least k whose top-k passages jointly contain the answer, or None."""
    for k in range(1, len(passages) + 1):
        if contains_answer("\n".join(passages[:k]), answers):
            return k
    return None


@dataclass
class RGBRow:
    """One item asked over one corpus, with its score."""

    item: RGBItem
    corpus: Variant
    answer: Answer
    correct: bool = field(init=False)
    hit_rank: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.correct = not self.answer.refused and contains_answer(
            self.answer.text, self.item.answers
        )
        self.hit_rank = hit_rank([p.text for p in self.answer.passages], self.item.answers)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for report.json."""
        return {
            "id": self.item.id,
            "corpus": self.corpus,
            "rejected": self.item.rejected,
            "query": self.item.query,
            "gold": self.item.answers,
            "answer": self.answer.text,
            "refused": self.answer.refused,
            "correct": self.correct,
            "cited": [c.source for c in self.answer.citations],
            "hit_rank": self.hit_rank,
            "timings": self.answer.timings,
            "trace": self.answer.model_dump(mode="json").get("trace"),
        }


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else None


def rgb_metrics(rows: list[RGBRow]) -> dict[str, float | None]:
    """Accuracy, rejection, false refusals (both corpora), hit@1/3/5 and latency of a set's rows.

    accuracy, false_refusals and hit@k are over the full corpus; rejection over the rejected
    items and false_refusals_reject over the others, both on the reject corpus; latency over
    every question asked.
    """
    full = [r for r in rows if r.corpus == "full"]
    reject = [r for r in rows if r.corpus == "reject"]
    out: dict[str, float | None] = {
        "items": len(full),
        "rejected_items": sum(r.item.rejected for r in full),
        "accuracy": _share(r.correct for r in full),
        "rejection": _share(r.answer.refused for r in reject if r.item.rejected),
        "false_refusals": _share(r.answer.refused for r in full),
        "false_refusals_reject": _share(r.answer.refused for r in reject if not r.item.rejected),
    }
    for k in (1, 3, 5):
        out[f"hit@{k}"] = _share(r.hit_rank is not None and r.hit_rank <= k for r in full)
    totals = [r.answer.timings.get("total", 0.0) for r in rows]
    out["latency_p50_ms"] = percentile(totals, 50)
    out["latency_p95_ms"] = percentile(totals, 95)
    return out


@dataclass
class RGBRun:
    """One set's rows over both corpora, its metrics and the size of each corpus (articles)."""

    set: str
    split: RGBSplit
    rows: list[RGBRow]
    passages: dict[str, int]
    metrics: dict[str, float | None] = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = rgb_metrics(self.rows)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for report.json's "rgb" key."""
        return {
            "set": self.set,
            "split": self.split,
            "passages": self.passages,
            "metrics": self.metrics,
            "items": [r.as_dict() for r in self.rows],
        }


def pipeline_for(
    base: QAPipeline,
    corpus: Path,
    index_dir: Path,
    progress: Say | None = None,
    *,
    also: Sequence[Path] = (),
) -> QAPipeline:
    """A pipeline like `base` over the article folder `corpus` (and the folders in `also`, such
    as distractor articles), indexed (incrementally) in `index_dir`; unchanged folders embed
    nothing."""
    uploads = index_dir.parent / "uploads"  # stays empty: nothing is uploaded to a benchmark
    uploads.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", index_dir.parent.name).strip("-")
    pipe = base.with_settings(
        articles_dir=corpus,
        index_dir=index_dir,
        uploads_dir=uploads,
        web_dir=uploads / "web",
        # with a Chroma server, index_dir does not separate the vectors: the collection does
        collection=f"{base.settings.collection}-rgb-{name}",
    )
    folders = [str(corpus), *(str(folder) for folder in also)]
    say = None if progress is None else _every_tenth(index_dir.parent.name, progress)
    try:
        report = pipe.ingest(folders, progress=say)
    except IndexMismatchError:  # a cached index of an older format or model: built again
        report = pipe.ingest(folders, progress=say, rebuild=True)
    if progress is not None:
        progress(
            f"rgb {index_dir.parent.name}: added {len(report.added)}, updated "
            f"{len(report.updated)}, removed {len(report.removed)}, unchanged "
            f"{len(report.unchanged)}, skipped {len(report.skipped)} "
            f"({report.embedded} chunks embedded in {report.seconds:.1f} s)"
        )
    return pipe


def _every_tenth(label: str, say: Say) -> Progress:
    """An ingest progress callback that says how far embedding got, about ten times."""
    from qa.corpus.embed import progress_line

    said = [0]

    def progress(step: IngestProgress) -> None:
        tenth = step.chunks * 10 // max(step.chunks_total, 1)
        if tenth > said[0]:
            said[0] = tenth
            say(f"rgb {label}: {progress_line(step)}")

    return progress


def split_items(
    bench_dir: Path, set_name: str, split: RGBSplit, limit: int | None = None
) -> list[RGBItem]:
    """The items of one set in `split` (of its first `limit` questions), or a ConfigError."""
    items = [i for i in load_items(bench_dir, set_name, limit=limit) if split in ("all", i.split)]
    if not items:
        raise ConfigError(
            f"RGB {set_name} has no items in the {split} half"
            + (f" of its first {limit} questions: raise --rgb-limit" if limit else "")
        )
    return items


def ask_items(
    pipe: QAPipeline, items: list[RGBItem], variant: Variant, label: str, progress: Say | None
) -> list[RGBRow]:
    """Ask every item over `pipe`'s corpus (of kind `variant`) and score the answers."""
    rows = []
    for n, item in enumerate(items, start=1):
        rows.append(RGBRow(item, variant, pipe.ask(item.query)))
        if progress is not None and (n % 25 == 0 or n == len(items)):
            progress(f"rgb {label}: asked {n}/{len(items)}")
    return rows


def run_rgb(
    base: QAPipeline,
    bench_dir: Path,
    sets: Iterable[str],
    split: RGBSplit,
    cache_dir: Path,
    progress: Say | None = None,
    *,
    limit: int | None = None,
) -> list[RGBRun]:
    """Ask every item of `split` of each set over its full and its reject corpus; score them."""
    runs = []
    for set_name in sets:
        items = split_items(bench_dir, set_name, split, limit)
        rows: list[RGBRow] = []
        passages: dict[str, int] = {}
        variants: tuple[Variant, ...] = ("full", "reject")
        for variant in variants:
            folder = build_corpus(bench_dir, set_name, variant, cache_dir, limit=limit)
            passages[variant] = sum(1 for _ in folder.iterdir())
            pipe = pipeline_for(base, folder, folder.parent / "index", progress)
            rows += ask_items(pipe, items, variant, f"{set_name}-{variant}", progress)
        runs.append(RGBRun(set_name, split, rows, passages))
    return runs
