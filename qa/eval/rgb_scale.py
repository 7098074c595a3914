"""RGB at scale: the same questions over their passages mixed into a pile of distractor articles.

Each set's items are asked over its full and reject corpora twice: alone (the cached indexes of
`run_rgb`) and together with distractor articles (the crud-news slice, or any folder) in an
index of their own, `<cache>/rgb/<set>-<variant>+<distractors>/`. The report puts the two side by
side and says whether accuracy and rejection stay within `TOLERANCE`.

RGB's reject rule still holds with distractors: a distractor article that mentions any part of
the gold answer of a rejected item asked is left out of the reject corpus with distractors (it
stays in the full one), exactly as RGB's own passages are, so that index is kept per half.
Leaving the items out of rejection scoring instead would lose most of them on the whole slice
(20 of the 25 rejected `zh` check items have such an article among the 9,648), so the pile is
trimmed, and the report says by how many articles.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.corpus.articles import ARTICLE_SUFFIXES
from qa.errors import ConfigError
from qa.eval.crud_news import split_articles
from qa.eval.rgb import RGBItem, Variant, corpus_dir, mentions_any_part
from qa.eval.rgb_eval import (
    RGBRow,
    RGBRun,
    RGBSplit,
    Say,
    ask_items,
    pipeline_for,
    run_rgb,
    split_items,
)
from qa.pipeline import QAPipeline

TOLERANCE = 0.05  # issue 11: accuracy and rejection with distractors within this of without
COMPARED = (
    "accuracy",
    "rejection",
    "false_refusals",
    "false_refusals_reject",
    "hit@1",
    "hit@3",
    "hit@5",
    "latency_p50_ms",
    "latency_p95_ms",
)
JUDGED = ("accuracy", "rejection")


@dataclass(frozen=True)
class Distractors:
    """A folder of distractor articles and the name its indexes are cached under."""

    label: str
    folder: Path

    def files(self) -> list[Path]:
        """The article files in the folder, by name."""
        return sorted(
            p
            for p in self.folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in ARTICLE_SUFFIXES
        )


def distractors_from(
    spec: str, bench_dir: Path, cache_dir: Path, limit: int | None = None
) -> Distractors:
    """`crud-news` (its first `limit` articles, split into `cache_dir`) or a folder of articles."""
    if spec == "crud-news":
        folder = split_articles(bench_dir, cache_dir, limit)
        return Distractors(folder.name, folder)
    folder = Path(spec)
    if not folder.is_dir():
        raise ConfigError(
            f"--distractors {spec!r} is neither crud-news nor a folder of articles: "
            "give crud-news or an existing folder"
        )
    if limit is not None:
        raise ConfigError(
            "--distractor-limit only cuts crud-news: give --distractors a smaller folder instead"
        )
    return Distractors(folder.resolve().name, folder)


def leaking_articles(files: Iterable[Path], items: Iterable[RGBItem]) -> dict[str, list[int]]:
    """Distractor file name -> ids of the rejected `items` whose gold answer it mentions (any
    part, as RGB's reject corpus is cut), for the files that mention one."""
    rejected = [i for i in items if i.rejected]
    out: dict[str, list[int]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        ids = [i.id for i in rejected if mentions_any_part(text, i.answers)]
        if ids:
            out[path.name] = ids
    return out


def kept_copy(files: list[Path], drop: Iterable[str], folder: Path) -> Path:
    """`folder` holding copies of `files` except those named in `drop`; unchanged copies are
    left alone (their index entries are reused) and stale ones deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    dropped = set(drop)
    wanted = {p.name: p for p in files if p.name not in dropped}
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    for name, source in wanted.items():
        target = folder / name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
    return folder


def with_vector_cache(base: QAPipeline, cache_dir: Path) -> QAPipeline:
    """`base` keeping every vector it embeds in `<cache_dir>/vectors` (unless its settings name
    another place), so that each passage and article is embedded once, however many indexes
    (full, reject, with and without distractors, either half) it goes into."""
    if base.settings.embed_cache_dir is not None:
        return base
    return base.with_settings(embed_cache_dir=cache_dir / "vectors")


def mixed_pipeline(
    base: QAPipeline,
    cache_dir: Path,
    set_name: str,
    variant: Variant,
    split: RGBSplit,
    distractors: Distractors,
    dropped: Iterable[str],
    progress: Say | None = None,
    limit: int | None = None,
) -> QAPipeline:
    """A pipeline over one RGB corpus with the distractor articles mixed in, indexed in
    `<corpus>+<label>/` (the reject corpus per half, without the `dropped` articles, which
    mention a rejected item's answer: see `leaking_articles`)."""
    rgb = corpus_dir(cache_dir, set_name, variant, limit)
    home = rgb.with_name(f"{rgb.name}+{distractors.label}")
    extra = distractors.folder
    if variant == "reject":  # what is dropped depends on the items asked: on the half
        home = home.with_name(f"{home.name}-{split}")
        extra = kept_copy(distractors.files(), dropped, home / "distractors")
    return pipeline_for(base, rgb / "articles", home / "index", progress, also=[extra])


def _difference(plain: float | None, mixed: float | None) -> float | None:
    return None if plain is None or mixed is None else round(mixed - plain, 4)


@dataclass
class RGBScale:
    """One set asked without and with distractors, and what the distractors did to it."""

    set: str
    plain: RGBRun
    mixed: RGBRun
    distractors: str  # the label, e.g. crud-news-500
    articles: int  # distractor articles in the full corpus
    dropped: dict[str, list[int]]  # left out of the reject corpus: article -> rejected item ids
    seconds: float  # ingest and asking with distractors
    differences: dict[str, float | None] = field(init=False)

    def __post_init__(self) -> None:
        self.differences = {
            m: _difference(self.plain.metrics.get(m), self.mixed.metrics.get(m)) for m in COMPARED
        }

    def within(self, metric: str) -> bool | None:
        """Whether `metric` moved by at most TOLERANCE (None when no item is scored on it)."""
        diff = self.differences[metric]
        return None if diff is None else abs(diff) <= TOLERANCE + 1e-9

    def verdict(self, metric: str) -> str:
        """'within 0.05', 'not within 0.05' or 'no items'."""
        within = self.within(metric)
        if within is None:
            return "no items"
        return f"{'' if within else 'not '}within {TOLERANCE:.2f}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for report.json's "rgb_distractors" key."""
        return {
            "set": self.set,
            "distractors": self.distractors,
            "articles": self.articles,
            "dropped_from_reject": self.dropped,
            "seconds": round(self.seconds, 1),
            "without": self.plain.metrics,
            "with": self.mixed.metrics,
            "differences": self.differences,
            "verdicts": {m: self.verdict(m) for m in JUDGED},
            "passages": self.mixed.passages,
            "items": [r.as_dict() for r in self.mixed.rows],
        }


def run_rgb_scale(
    base: QAPipeline,
    bench_dir: Path,
    sets: Iterable[str],
    split: RGBSplit,
    cache_dir: Path,
    distractors: Distractors,
    progress: Say | None = None,
    *,
    limit: int | None = None,
) -> tuple[list[RGBRun], list[RGBScale]]:
    """Each set's plain run (`run_rgb`, reusing its cached indexes) and the same items asked
    over the same corpora with the distractors mixed in."""
    files = distractors.files()
    base = with_vector_cache(base, cache_dir)
    plain_runs, scales = [], []
    for set_name in sets:
        (plain,) = run_rgb(base, bench_dir, [set_name], split, cache_dir, progress, limit=limit)
        items = split_items(bench_dir, set_name, split, limit)
        dropped = leaking_articles(files, items)  # only the items asked: keep the pile whole
        started = time.perf_counter()
        rows: list[RGBRow] = []
        passages: dict[str, int] = {}
        variants: tuple[Variant, ...] = ("full", "reject")
        for variant in variants:
            kept = len(files) - (len(dropped) if variant == "reject" else 0)
            passages[variant] = plain.passages[variant] + kept
            pipe = mixed_pipeline(
                base, cache_dir, set_name, variant, split, distractors, dropped, progress, limit
            )
            label = f"{set_name}-{variant}+{distractors.label}"
            rows += ask_items(pipe, items, variant, label, progress)
        mixed = RGBRun(set_name, split, rows, passages)
        seconds = time.perf_counter() - started
        plain_runs.append(plain)
        scales.append(
            RGBScale(set_name, plain, mixed, distractors.label, len(files), dropped, seconds)
        )
    return plain_runs, scales


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def scale_rows(scales: list[RGBScale]) -> list[list[str]]:
    """One row per set and metric: without, with distractors, the difference, the verdict."""
    header = ["set", "metric", "without", "with distractors", "difference", "verdict"]
    return [
        header,
        *[
            [
                s.set,
                metric,
                _fmt(s.plain.metrics.get(metric)),
                _fmt(s.mixed.metrics.get(metric)),
                _fmt(s.differences[metric], signed=True),
                s.verdict(metric) if metric in JUDGED else "",
            ]
            for s in scales
            for metric in COMPARED
        ],
    ]


def scale_lines(scales: list[RGBScale]) -> list[str]:
    """The verdicts and what was done with distractors that mention a rejected answer."""
    lines = []
    for s in scales:
        judged = "; ".join(
            f"{m} {_fmt(s.plain.metrics.get(m))} → {_fmt(s.mixed.metrics.get(m))} "
            f"({_fmt(s.differences[m], signed=True)}): {s.verdict(m)}"
            for m in JUDGED
        )
        items = {i for ids in s.dropped.values() for i in ids}
        asked = {r.item.id for r in s.mixed.rows if r.item.rejected}
        lines.append(
            f"{s.set} with the {s.articles:,} articles of {s.distractors}: {judged}. "
            f"{len(s.dropped):,} of them mention the gold answer of a rejected item asked "
            f"({len(items)} of the {len(asked)}); like RGB's own passages they are left out of "
            "the reject corpus with distractors and kept in the full one. Ingest and asking "
            f"with distractors took {s.seconds:.0f} s."
        )
    return lines


SCALE_NOTE = (
    "The same items asked over the same RGB corpora with distractor articles mixed into the "
    "index. 'without' is the plain RGB run above; accuracy and rejection are judged against "
    f"a tolerance of {TOLERANCE:.2f}."
)
