"""Eval reports: Markdown tables, and an HTML page with per-type bars and a latency histogram."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.eval.evaluation import EvalRun

if TYPE_CHECKING:
    from qa.eval.rgb_eval import RGBRun
    from qa.eval.rgb_scale import RGBScale

HEADLINE = (
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr",
    "key_fact_recall",
    "all_facts",
    "citation_precision",
    "citation_support",
    "cited_share",
    "refusal_rate",
    "false_refusal_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
PER_TYPE = (
    "items",
    "hit@3",
    "key_fact_recall",
    "all_facts",
    "citation_precision",
    "refusal_rate",
    "false_refusal_rate",
)


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() and value > 1 else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    return [header, *rows]


def headline_rows(runs: list[EvalRun]) -> list[list[str]]:
    """Metric per row, one column per run (the ablations side by side)."""
    header = ["metric", *[f"{r.retriever} / {r.backend}" for r in runs]]
    return _table(header, [[m, *[_fmt(r.overall.get(m)) for r in runs]] for m in HEADLINE])


def group_rows(groups: dict[str, dict[str, float | None]], label: str) -> list[list[str]]:
    """One row per type (or language) of a run."""
    return _table(
        [label, *PER_TYPE], [[g, *[_fmt(v.get(m)) for m in PER_TYPE]] for g, v in groups.items()]
    )


def stage_rows(run: EvalRun) -> list[list[str]]:
    """p50/p95 per stage of a run."""
    return _table(
        ["stage", "p50 ms", "p95 ms"],
        [[s, _fmt(v["p50"]), _fmt(v["p95"])] for s, v in run.stages.items()],
    )


RISK_NOTE = (
    "Were the operating point this probability: the share of questions answered (coverage) and "
    "the share of those answers that are wrong (risk: a key fact missing, or unanswerable). "
    "Each answer is taken as it was given; the shipped point is the policy's threshold."
)


def risk_rows(run: EvalRun) -> list[list[str]]:
    """The risk–coverage curve of a run, a row per operating point."""
    return _table(
        ["operating point", "coverage", "risk"],
        [[_fmt(p["operating_point"]), _fmt(p["coverage"]), _fmt(p["risk"])] for p in run.risk],
    )


def _markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


RGB_COLUMNS = (
    ("accuracy", "accuracy"),
    ("rejection", "rejection"),
    ("false_refusals", "false refusals"),
    ("false_refusals_reject", "false refusals (reject)"),
    ("hit@1", "hit@1"),
    ("hit@3", "hit@3"),
    ("hit@5", "hit@5"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
)


def rgb_rows(rgb: list[RGBRun]) -> list[list[str]]:
    """One row per RGB set: sizes, accuracy, rejection, false refusals, hit@k, latency."""
    header = ["set", "split", "items", "rejected", *[label for _, label in RGB_COLUMNS]]
    return _table(
        [*header, "passages full / reject"],
        [
            [
                run.set,
                run.split,
                str(int(run.metrics["items"] or 0)),
                str(int(run.metrics["rejected_items"] or 0)),
                *[_fmt(run.metrics[key]) for key, _ in RGB_COLUMNS],
                f"{run.passages.get('full', 0)} / {run.passages.get('reject', 0)}",
            ]
            for run in rgb
        ],
    )


RGB_NOTE = (
    "RGB (Chen et al., AAAI 2024; CC BY-NC-SA 4.0). Accuracy: share of answers holding every "
    "part of the gold answer (a refusal is wrong); hit@k over the full corpus. Rejection: share "
    "of the rejected third declined over the reject corpus; false refusals: share of items "
    "declined over the full corpus, and of the other items over the reject corpus."
)


def title(meta: dict[str, Any]) -> str:
    """The report's heading: the seeds' dataset, and the RGB half when RGB ran."""
    parts = []
    if "dataset" in meta:
        parts.append(f"{meta['dataset']} ({meta['split']}, {meta['items']} items)")
    if "rgb" in meta:
        parts.append(f"RGB {meta['rgb']['split']} half ({', '.join(meta['rgb']['sets'])})")
        if "distractors" in meta["rgb"]:
            parts[-1] += f" with and without {meta['rgb']['distractors']} distractors"
    return "Eval report — " + " + ".join(parts)


def write_markdown(
    runs: list[EvalRun],
    path: Path,
    meta: dict[str, Any],
    gate: list[str],
    rgb: list[RGBRun] | None = None,
    scale: list[RGBScale] | None = None,
) -> None:
    """report.md: headline, gate, per type, per language and per stage tables, then RGB (and
    RGB with distractors beside it)."""
    parts = [f"# {title(meta)}", "", f"{meta['date']}, {meta['machine']}", ""]
    if meta.get("index_note"):
        parts += [f"Note: {meta['index_note']}.", ""]
    if runs:
        parts += ["## Headline", "", _markdown(headline_rows(runs)), ""]
    parts += ["## Gate", ""]
    parts += [f"- FAIL {line}" for line in gate] or ["- all metrics within thresholds"]
    parts.append("")
    if runs:
        main = runs[0]
        parts += [
            f"## Per type ({main.retriever})",
            "",
            _markdown(group_rows(main.by_type, "type")),
            "",
            f"## Per language ({main.retriever})",
            "",
            _markdown(group_rows(main.by_lang, "lang")),
            "",
            f"## Latency per stage ({main.retriever})",
            "",
            _markdown(stage_rows(main)),
            "",
        ]
        if main.risk:
            parts += [f"## Risk–coverage ({main.retriever})", "", RISK_NOTE, ""]
            parts += [_markdown(risk_rows(main)), ""]
    if rgb:
        parts += ["## RGB benchmark", "", RGB_NOTE, "", _markdown(rgb_rows(rgb)), ""]
    if scale:
        from qa.eval.rgb_scale import SCALE_NOTE, scale_lines, scale_rows

        parts += ["## RGB with distractors", "", SCALE_NOTE, "", _markdown(scale_rows(scale)), ""]
        parts += [f"- {line}" for line in scale_lines(scale)] + [""]
    path.write_text("\n".join(parts), encoding="utf-8")


def _html_table(table: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _charts(run: EvalRun) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(run.by_type)
    series = [
        ("hit@3", "#4C72B0"),
        ("key_fact_recall", "#55A868"),
        ("refusal_rate", "#C44E52"),
        ("false_refusal_rate", "#8172B2"),
    ]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(series)
    for i, (name, colour) in enumerate(series):
        values = [run.by_type[t].get(name) or 0.0 for t in types]
        ax.bar([x + i * width for x in range(len(types))], values, width, label=name, color=colour)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(types))], types, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.legend(ncols=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    bars = _svg(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.hist([r.answer.timings.get("total", 0.0) for r in run.rows], bins=30, color="#4C72B0")
    ax.set_xlabel("ask() total, ms")
    ax.set_ylabel("questions")
    histogram = _svg(fig)
    plt.close(fig)
    return bars, histogram


def _seed_sections(runs: list[EvalRun]) -> tuple[str, str]:
    """The seeds' HTML above the gate (headline) and below it (per type, latency, items)."""
    if not runs:
        return "", ""
    main = runs[0]
    bars, histogram = _charts(main)
    items = _html_table(
        [["id", "type", "question", "answer", "facts", "gold rank"]]
        + [
            [
                r.item.id,
                r.item.type,
                r.item.question,
                r.answer.text,
                f"{sum(r.facts)}/{len(r.facts)}",
                str(r.gold_rank or "–"),
            ]
            for r in main.rows
        ]
    )
    return f"<h2>Headline</h2>{_html_table(headline_rows(runs))}", (
        f"""<h2>Per type ({html.escape(main.retriever)})</h2>{bars}
{_html_table(group_rows(main.by_type, "type"))}
<h2>Per language</h2>{_html_table(group_rows(main.by_lang, "lang"))}
<h2>Latency</h2>{histogram}{_html_table(stage_rows(main))}
<h2>Risk–coverage</h2><p>{html.escape(RISK_NOTE)}</p>{_html_table(risk_rows(main))}
<h2>Every item</h2>{items}"""
    )


def _rgb_section(rgb: list[RGBRun]) -> str:
    """The RGB table and every RGB question asked, per corpus."""
    if not rgb:
        return ""
    items = _html_table(
        [["set", "corpus", "id", "question", "gold", "answer", "correct", "refused", "hit rank"]]
        + [
            [
                run.set,
                r.corpus + (" (rejected)" if r.item.rejected else ""),
                str(r.item.id),
                r.item.query,
                " + ".join(" | ".join(part) for part in r.item.answers),
                r.answer.text,
                "yes" if r.correct else "no",
                "yes" if r.answer.refused else "no",
                str(r.hit_rank or "–"),
            ]
            for run in rgb
            for r in run.rows
        ]
    )
    return (
        f"<h2>RGB benchmark</h2><p>{html.escape(RGB_NOTE)}</p>{_html_table(rgb_rows(rgb))}"
        f"<h2>Every RGB question</h2>{items}"
    )


def _scale_section(scale: list[RGBScale]) -> str:
    """RGB without and with distractors side by side, and the verdicts."""
    if not scale:
        return ""
    from qa.eval.rgb_scale import SCALE_NOTE, scale_lines, scale_rows

    lines = "".join(f"<li>{html.escape(line)}</li>" for line in scale_lines(scale))
    return (
        f"<h2>RGB with distractors</h2><p>{html.escape(SCALE_NOTE)}</p>"
        f"{_html_table(scale_rows(scale))}<ul>{lines}</ul>"
    )


def write_html(
    runs: list[EvalRun],
    path: Path,
    meta: dict[str, Any],
    gate: list[str],
    rgb: list[RGBRun] | None = None,
    scale: list[RGBScale] | None = None,
) -> None:
    """report.html: the tables, per-type bars, a latency histogram and every item's answer."""
    verdict = "".join(f"<li class=fail>{html.escape(g)}</li>" for g in gate) or (
        "<li class=pass>all metrics within thresholds</li>"
    )
    head, body = _seed_sections(runs)
    heading = html.escape(title(meta))
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>{heading}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px;text-align:left;vertical-align:top}}.fail{{color:#b00}}.pass{{color:#070}}</style>
</head><body><h1>{heading}</h1><p>{html.escape(meta["date"])},
{html.escape(meta["machine"])}</p>
{head}<h2>Gate</h2><ul>{verdict}</ul>
{body}{_rgb_section(rgb or [])}{_scale_section(scale or [])}</body></html>""",
        encoding="utf-8",
    )


def summary_rows(runs: list[EvalRun]) -> list[list[str]]:
    """The short table `qa eval` prints."""
    table = headline_rows(runs)
    keep = {
        "hit@3",
        "mrr",
        "key_fact_recall",
        "citation_precision",
        "citation_support",
        "refusal_rate",
        "false_refusal_rate",
        "latency_p50_ms",
    }
    return [table[0], *[row for row in table[1:] if row[0] in keep]]
