"""The offline eval of hand-written Q&A pairs: ask each one and score it deterministically.

Metrics are pure functions of (item, Answer) pairs; `run_eval` produces an EvalRun per
retriever. `qa.eval.run` gates the runs and has `qa.eval.reports` write them.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.answer.retrieval import Mode
from qa.errors import ArticleError, ConfigError
from qa.models import Answer
from qa.pipeline import QAPipeline

Split = Literal["dev", "test", "all"]


class EvalItem(BaseModel):
    """One hand-written question (schema of DESIGN.md §8, plus split/lang/answerable)."""

    id: str
    question: str
    answer: str = ""
    key_facts: list[list[str]] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    type: str = "factoid"
    difficulty: str = "medium"
    split: str = "test"
    lang: str = "en"
    answerable: bool | None = None

    @property
    def should_answer(self) -> bool:
        """Whether a good bot answers (all but unanswerable items)."""
        if self.answerable is not None:
            return self.answerable
        return self.type != "unanswerable"


def load_dataset(path: Path, split: Split = "all") -> list[EvalItem]:
    """Read a JSONL dataset; raise ConfigError naming the bad line."""
    if not path.exists():
        raise ConfigError(f"no dataset at {path}: give --dataset a JSONL file of Q&A pairs")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate_json(line))
        except ValueError as exc:
            raise ConfigError(f"{path}:{number} is not a valid Q&A pair: {exc}") from None
    return in_split(items, split)


def in_split(items: list[EvalItem], split: Split) -> list[EvalItem]:
    """The items of one split (all of them for "all")."""
    return [i for i in items if split == "all" or i.split == split]


# --- metrics (pure functions) -------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"[^\w%]+", " ", text.lower()).strip()


def fact_hits(item: EvalItem, answer: Answer) -> list[bool]:
    """For each key fact, whether any of its alternatives is in the answer text."""
    text = f" {_norm(answer.text)} "
    return [any(f" {_norm(alt)} " in text for alt in fact) for fact in item.key_facts]


def first_gold_rank(item: EvalItem, answer: Answer) -> int | None:
    """1-based rank of the first passage from a gold article, or None."""
    for passage in answer.passages:
        if passage.source in item.sources:
            return passage.rank
    return None


def citations_supported(answer: Answer, texts: Callable[[str], str | None]) -> bool:
    """Whether every cited quote is verbatim in its article at the stated offsets."""
    for c in answer.citations:
        text = texts(c.source)
        if text is None or text[c.start : c.end] != c.quote:
            return False
    return True


@dataclass
class Row:
    """One item's outcome."""

    item: EvalItem
    answer: Answer
    facts: list[bool]
    gold_rank: int | None
    supported: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for report.json."""
        return {
            "id": self.item.id,
            "type": self.item.type,
            "lang": self.item.lang,
            "question": self.item.question,
            "should_answer": self.item.should_answer,
            "refused": self.answer.refused,
            "answer": self.answer.text,
            "backend": self.answer.backend,
            "notice": self.answer.notice,
            "facts": self.facts,
            "gold_rank": self.gold_rank,
            "cited": [c.source for c in self.answer.citations],
            "citations_supported": self.supported,
            "timings": self.answer.timings,
        }


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile (inclusive method), rounded to 3 decimals; None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


def metrics(rows: list[Row]) -> dict[str, float | None]:
    """Headline metrics of a set of rows (None where no item qualifies)."""
    answerable = [r for r in rows if r.item.should_answer]
    with_gold = [r for r in answerable if r.item.sources]
    unanswerable = [r for r in rows if not r.item.should_answer]
    answered = [r for r in answerable if not r.answer.refused]
    cited = [c for r in answered for c in r.answer.citations]
    gold_of = {id(c): r.item.sources for r in answered for c in r.answer.citations}
    out: dict[str, float | None] = {"items": len(rows)}
    for k in (1, 3, 5):
        out[f"hit@{k}"] = _mean(r.gold_rank is not None and r.gold_rank <= k for r in with_gold)
    out["mrr"] = _mean(1 / r.gold_rank if r.gold_rank else 0.0 for r in with_gold)
    with_facts = [r for r in answerable if r.facts]
    out["key_fact_recall"] = _mean(sum(r.facts) / len(r.facts) for r in with_facts)
    out["all_facts"] = _mean(all(r.facts) for r in with_facts)
    out["citation_precision"] = _mean(c.source in gold_of[id(c)] for c in cited)
    out["citation_support"] = _mean(r.supported for r in rows if r.answer.citations)
    out["cited_share"] = _mean(bool(r.answer.citations) for r in answered)
    out["refusal_rate"] = _mean(r.answer.refused for r in unanswerable)
    out["false_refusal_rate"] = _mean(r.answer.refused for r in answerable)
    totals = [r.answer.timings.get("total", 0.0) for r in rows]
    out["latency_p50_ms"] = percentile(totals, 50)
    out["latency_p95_ms"] = percentile(totals, 95)
    return out


RISK_AT = (0.02, 0.06, 0.1, 0.2, 0.3, 0.5, 0.7)  # probabilities the risk–coverage table shows


def confidence(answer: Answer) -> float | None:
    """The reader's probability behind an extractive answer: its best chosen sentence's, or the
    best turned-down one's when it declined (0 when nothing was retrieved); None without one."""
    trace = answer.trace
    if trace is None:
        return None
    scores = [c.score for c in trace.chosen]
    if trace.best_rejected is not None:
        scores.append(trace.best_rejected.score)
    return max(scores, default=0.0)


def risk_coverage(rows: list[Row]) -> list[dict[str, float]]:
    """At each of RISK_AT as the operating point: coverage (the share of questions answered)
    and risk (the share of those answers that are wrong: a key fact missing, or the question
    unanswerable). An answer is taken as it was given; a higher point only drops answers."""
    scored = [(c, r) for r in rows if (c := confidence(r.answer)) is not None]
    out = []
    for point in RISK_AT:
        answered = [r for c, r in scored if c >= point]
        wrong = [r for r in answered if not (r.item.should_answer and r.facts and all(r.facts))]
        out.append(
            {
                "operating_point": point,
                "coverage": round(len(answered) / len(scored), 4) if scored else 0.0,
                "risk": round(len(wrong) / len(answered), 4) if answered else 0.0,
            }
        )
    return out


def stage_latency(rows: list[Row]) -> dict[str, dict[str, float | None]]:
    """p50/p95 in ms of each stage in Answer.timings."""
    stages = sorted({s for r in rows for s in r.answer.timings})
    return {
        s: {
            "p50": percentile([r.answer.timings[s] for r in rows if s in r.answer.timings], 50),
            "p95": percentile([r.answer.timings[s] for r in rows if s in r.answer.timings], 95),
        }
        for s in stages
    }


@dataclass
class EvalRun:
    """All rows of one configuration, with metrics overall, per type and per language."""

    retriever: str
    backend: str
    rows: list[Row]
    overall: dict[str, float | None] = field(init=False)
    by_type: dict[str, dict[str, float | None]] = field(init=False)
    by_lang: dict[str, dict[str, float | None]] = field(init=False)
    stages: dict[str, dict[str, float | None]] = field(init=False)
    risk: list[dict[str, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.overall = metrics(self.rows)
        types = sorted({r.item.type for r in self.rows})
        self.by_type = {t: metrics([r for r in self.rows if r.item.type == t]) for t in types}
        langs = sorted({r.item.lang for r in self.rows})
        self.by_lang = {g: metrics([r for r in self.rows if r.item.lang == g]) for g in langs}
        self.stages = stage_latency(self.rows)
        self.risk = risk_coverage(self.rows)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for report.json."""
        return {
            "retriever": self.retriever,
            "backend": self.backend,
            "overall": self.overall,
            "by_type": self.by_type,
            "by_lang": self.by_lang,
            "stages": self.stages,
            "risk_coverage": self.risk,
            "items": [r.as_dict() for r in self.rows],
        }


def run_eval(
    pipeline: QAPipeline,
    items: list[EvalItem],
    *,
    retrievers: Iterable[Mode] = ("hybrid",),
    backend: str = "extractive",
    progress: Callable[[int, int], None] | None = None,
) -> list[EvalRun]:
    """Ask every item once per retriever and score the answers."""
    if backend != pipeline.backend:
        pipeline = pipeline.with_settings(backend=backend)
    pipeline.ensure_index()
    texts = _article_texts(pipeline)
    modes = list(retrievers)
    runs = []
    done, total = 0, len(items) * len(modes)
    for mode in modes:
        rows = []
        for item in items:
            answer = pipeline.ask(item.question, mode=mode)
            rows.append(
                Row(
                    item,
                    answer,
                    fact_hits(item, answer),
                    first_gold_rank(item, answer),
                    citations_supported(answer, texts),
                )
            )
            done += 1
            if progress is not None:
                progress(done, total)
        runs.append(EvalRun(mode, backend, rows))
    return runs


def _article_texts(pipeline: QAPipeline) -> Callable[[str], str | None]:
    """Cleaned article text by file name (None when the article or its file is gone)."""
    cache: dict[str, str | None] = {}

    def text(source: str) -> str | None:
        if source not in cache:
            try:
                cache[source] = pipeline.article_text(source)
            except ArticleError:
                cache[source] = None
        return cache[source]

    return text
