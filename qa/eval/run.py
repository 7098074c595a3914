"""`qa eval` as a whole: the seeds' pairs (`qa.eval.evaluation`) and RGB (`qa.eval.rgb_eval`,
`qa.eval.rgb_scale`), the gate of `evals/thresholds.toml`, and the report files
(`qa.eval.reports`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.eval import reports
from qa.eval.evaluation import EvalItem, EvalRun, in_split, load_dataset, run_eval
from qa.eval.plan import EvalPlan
from qa.eval.rgb_eval import RGBConfig, RGBRun, run_rgb
from qa.eval.rgb_scale import RGBScale, distractors_from, run_rgb_scale
from qa.pipeline import QAPipeline


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
    plan: EvalPlan,
    *,
    progress: Callable[[int, int], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> EvalResult:
    """Carry out `plan`: the seeds' pairs unless `plan.seeds` is False and RGB when `plan.rgb`
    is given; gate the first retriever's run and the RGB metrics against `plan.thresholds`,
    and write report.md/.json/.html to `plan.out`."""
    import datetime as dt
    import os
    import platform

    dataset, split, rgb, out = plan.dataset, plan.split, plan.rgb, plan.out
    runs: list[EvalRun] = []
    items: list[EvalItem] = []
    note: str | None = None
    if plan.seeds:
        every = load_dataset(dataset)
        items = in_split(every, split)
        if not items:
            raise ConfigError(f"{dataset} has no items in split {split!r}")
        runs = run_eval(
            pipeline, items, retrievers=plan.retrievers, backend=plan.backend, progress=progress
        )
        note = index_note(set(pipeline.store.manifest().articles), every)
        if note and say is not None:
            say(f"note: {note}")
    rgb_runs, scale = _run_rgb(pipeline, plan.backend, rgb, say)
    failures = []
    if plan.thresholds:
        rgb_metrics = {r.set: r.metrics for r in rgb_runs}
        gate = load_thresholds(plan.thresholds)
        failures = check_gate(runs[0] if runs else None, gate, rgb_metrics)
    files: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "embedding_model": pipeline.embedder.model_id,
        }
        if plan.seeds:
            meta.update(dataset=dataset.name, split=split, items=len(items), index_note=note)
        if rgb is not None:
            meta["rgb"] = {"split": rgb.split, "sets": list(rgb.sets), "limit": rgb.limit}
            if rgb.distractors is not None:
                meta["rgb"]["distractors"] = scale[0].distractors if scale else rgb.distractors
        files = [out / "report.md", out / "report.json", out / "report.html"]
        reports.write_markdown(runs, files[0], meta, failures, rgb_runs, scale)
        write_json(runs, files[1], {**meta, "gate": failures}, rgb_runs, scale)
        reports.write_html(runs, files[2], meta, failures, rgb_runs, scale)
    return EvalResult(runs, failures, files, rgb_runs, scale)


def index_note(indexed: set[str], items: list[EvalItem]) -> str | None:
    """What a reader of the figures must know when the index does not hold exactly the
    articles the pairs cite (all splits): others compete with them for every question, or some
    are missing. None when it does."""
    cited = {source for item in items for source in item.sources}
    extra, missing = indexed - cited, cited - indexed
    if not cited or not (extra or missing):
        return None
    parts = []
    if extra:
        parts.append(
            f"the index holds {len(extra)} article{'s' if len(extra) != 1 else ''} besides the "
            f"{len(cited - missing)} the pairs cite ({', '.join(sorted(extra)[:3])}"
            f"{', …' if len(extra) > 3 else ''}); their sentences compete for every answer"
        )
    if missing:
        parts.append(
            f"{len(missing)} article{'s' if len(missing) != 1 else ''} the pairs cite "
            f"{'are' if len(missing) != 1 else 'is'} not indexed ({', '.join(sorted(missing)[:3])})"
        )
    return (
        "; ".join(parts) + ", so these figures are not the articles' own: index them alone "
        "(`qa ingest FOLDER --only`, or another QA_INDEX_DIR) to compare"
    )


def _run_rgb(
    pipeline: QAPipeline, backend: str, rgb: RGBConfig | None, say: Callable[[str], None] | None
) -> tuple[list[RGBRun], list[RGBScale]]:
    """The RGB runs `rgb` asks for, and the runs with distractors when it names some."""
    if rgb is None:
        return [], []

    base = pipeline if backend == pipeline.backend else pipeline.with_settings(backend=backend)
    args = (base, rgb.bench_dir, rgb.sets, rgb.split, rgb.cache_dir)
    if rgb.distractors is None:
        return run_rgb(*args, say, limit=rgb.limit), []
    pile = distractors_from(rgb.distractors, rgb.bench_dir, rgb.cache_dir, rgb.distractor_limit)
    return run_rgb_scale(*args, pile, say, limit=rgb.limit)
