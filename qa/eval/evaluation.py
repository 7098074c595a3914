"""The offline eval harness: run `ask()` on hand-written Q&A pairs and score it deterministically.

Metrics are pure functions of (item, Answer) pairs; `run_eval` produces an EvalRun per
retriever, `check_gate` compares a run with `evals/thresholds.toml`, and `qa.eval.reports` writes
report.md / report.json / report.html.
"""

from __future__ import annotations

import json
import re
import statistics
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from qa.answer.retrieval import Mode
from qa.errors import ArticleError, ConfigError
from qa.models import Answer
from qa.pipeline import QAPipeline

if TYPE_CHECKING:
    from qa.eval.rgb_eval import RGBConfig, RGBRun
    from qa.eval.rgb_scale import RGBScale

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

    def __post_init__(self) -> None:
        self.overall = metrics(self.rows)
        types = sorted({r.item.type for r in self.rows})
        self.by_type = {t: metrics([r for r in self.rows if r.item.type == t]) for t in types}
        langs = sorted({r.item.lang for r in self.rows})
        self.by_lang = {g: metrics([r for r in self.rows if r.item.lang == g]) for g in langs}
        self.stages = stage_latency(self.rows)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for report.json."""
        return {
            "retriever": self.retriever,
            "backend": self.backend,
            "overall": self.overall,
            "by_type": self.by_type,
            "by_lang": self.by_lang,
            "stages": self.stages,
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


# --- the gate ---------------------------------------------------------------------------
def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """`[min]` floors and `[max]` ceilings of headline metrics, and `[rgb.min]`/`[rgb.max]`
    ones of RGB metrics keyed `<set>.<metric>` (e.g. `"en.accuracy" = 0.5`), when present."""
    if not path.exists():
        raise ConfigError(f"no thresholds file at {path}: give --thresholds a TOML file")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rgb = data.get("rgb", {})
    return {
        "min": dict(data.get("min", {})),
        "max": dict(data.get("max", {})),
        "rgb.min": _flat(rgb.get("min", {})),
        "rgb.max": _flat(rgb.get("max", {})),
    }


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """`en.accuracy = 0.5` (a nested table in TOML) and `"en.accuracy" = 0.5` alike."""
    out: dict[str, float] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = float(value)
    return out


def check_gate(
    run: EvalRun | None,
    thresholds: dict[str, dict[str, float]],
    rgb: dict[str, dict[str, float | None]] | None = None,
) -> list[str]:
    """One line per metric that falls under its floor or over its ceiling: the seeds' run's
    headline metrics, and the RGB metrics of each set run (`rgb`: set name -> metrics)."""
    values: dict[str, float | None] = dict(run.overall) if run is not None else {}
    failures = _compare(values, thresholds.get("min", {}), thresholds.get("max", {}))
    if rgb:
        flat = {f"{s}.{name}": v for s, metrics in rgb.items() for name, v in metrics.items()}
        failures += _compare(flat, thresholds.get("rgb.min", {}), thresholds.get("rgb.max", {}))
    return failures


def _compare(
    values: dict[str, float | None], floors: dict[str, float], ceilings: dict[str, float]
) -> list[str]:
    failures = []
    for name, floor in floors.items():
        value = values.get(name)
        if value is not None and value < floor:
            failures.append(f"{name} = {value:.3f} is under the floor {floor}")
    for name, ceiling in ceilings.items():
        value = values.get(name)
        if value is not None and value > ceiling:
            failures.append(f"{name} = {value:.3f} is over the ceiling {ceiling}")
    return failures


def write_json(
    runs: list[EvalRun],
    path: Path,
    meta: dict[str, Any],
    rgb: list[RGBRun] | None = None,
    scale: list[RGBScale] | None = None,
) -> None:
    """Everything, per item, as JSON; RGB runs under "rgb" and RGB with distractors under
    "rgb_distractors", keyed by set."""
    data: dict[str, Any] = {"meta": meta, "runs": [r.as_dict() for r in runs]}
    if rgb:
        data["rgb"] = {r.set: r.as_dict() for r in rgb}
    if scale:
        data["rgb_distractors"] = {s.set: s.as_dict() for s in scale}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


@dataclass
class EvalResult:
    """What `evaluate` did: the runs, the gate's failures (empty = pass) and the files written."""

    runs: list[EvalRun]
    failures: list[str]
    files: list[Path]
    rgb: list[RGBRun] = field(default_factory=list)
    scale: list[RGBScale] = field(default_factory=list)  # RGB with distractors, when asked


def evaluate(
    pipeline: QAPipeline,
    dataset: Path,
    *,
    split: Split = "all",
    backend: str = "extractive",
    retrievers: Iterable[Mode] = ("hybrid",),
    out: Path | None = None,
    thresholds: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    rgb: RGBConfig | None = None,
    seeds: bool = True,
    say: Callable[[str], None] | None = None,
) -> EvalResult:
    """Run the eval (the seeds' pairs unless `seeds=False`, and RGB when `rgb` is given), gate
    the first retriever's run and the RGB metrics, and write report.md/.json/.html to `out`."""
    import datetime as dt
    import os
    import platform

    from qa.eval import reports

    if not seeds and rgb is None:
        raise ConfigError("nothing to evaluate: drop --no-seeds, or add --rgb")
    runs: list[EvalRun] = []
    items: list[EvalItem] = []
    if seeds:
        items = load_dataset(dataset, split)
        if not items:
            raise ConfigError(f"{dataset} has no items in split {split!r}")
        runs = run_eval(pipeline, items, retrievers=retrievers, backend=backend, progress=progress)
    rgb_runs, scale = _run_rgb(pipeline, backend, rgb, say)
    failures = []
    if thresholds:
        rgb_metrics = {r.set: r.metrics for r in rgb_runs}
        failures = check_gate(runs[0] if runs else None, load_thresholds(thresholds), rgb_metrics)
    files: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "embedding_model": pipeline.embedder.model_id,
        }
        if seeds:
            meta.update(dataset=dataset.name, split=split, items=len(items))
        if rgb is not None:
            meta["rgb"] = {"split": rgb.split, "sets": list(rgb.sets), "limit": rgb.limit}
            if rgb.distractors is not None:
                meta["rgb"]["distractors"] = scale[0].distractors if scale else rgb.distractors
        files = [out / "report.md", out / "report.json", out / "report.html"]
        reports.write_markdown(runs, files[0], meta, failures, rgb_runs, scale)
        write_json(runs, files[1], {**meta, "gate": failures}, rgb_runs, scale)
        reports.write_html(runs, files[2], meta, failures, rgb_runs, scale)
    return EvalResult(runs, failures, files, rgb_runs, scale)


def _run_rgb(
    pipeline: QAPipeline, backend: str, rgb: RGBConfig | None, say: Callable[[str], None] | None
) -> tuple[list[RGBRun], list[RGBScale]]:
    """The RGB runs `rgb` asks for, and the runs with distractors when it names some."""
    if rgb is None:
        return [], []
    from qa.eval.rgb_eval import run_rgb
    from qa.eval.rgb_scale import distractors_from, run_rgb_scale

    base = pipeline if backend == pipeline.backend else pipeline.with_settings(backend=backend)
    args = (base, rgb.bench_dir, rgb.sets, rgb.split, rgb.cache_dir)
    if rgb.distractors is None:
        return run_rgb(*args, say, limit=rgb.limit), []
    pile = distractors_from(rgb.distractors, rgb.bench_dir, rgb.cache_dir, rgb.distractor_limit)
    return run_rgb_scale(*args, pile, say, limit=rgb.limit)
