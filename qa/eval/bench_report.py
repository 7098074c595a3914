"""The `qa.eval bench` report: a table per corpus size, the issue's goals with the measured figure
and met / not met, and a plot of warm latency and peak memory against corpus size; written as
bench.md, bench.json, bench.png and bench.html (the plot inline)."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qa.eval.bench import Row
from qa.eval.bench_server import SYSTEM as SERVER

COLUMNS = (
    "system",
    "articles",
    "chunks",
    "ingest s",
    "chunks/s",
    "raw chunks/s",
    "ingest / raw",
    "index MB",
    "peak RSS MB",
    "questions",
    "hit@1",
    "hit@k",
    "warm p50 ms",
    "warm p95 ms",
    "by-article p50 ms",
    "by-date p50 ms",
    "cold qa ask s",
)
NOTES = (
    "Ingest: each system in a fresh process, from reading the files to the last vector stored; "
    "ours embeds each chunk (with its title) and each distinct sentence, the recipe each chunk.",
    "Raw: the same texts embedded directly in batches of 256 (as ingest does) after the ingest, "
    "in the same process (an evenly spread sample when there are more than the sample size: "
    "see raw_sample in bench.json); raw chunks/s is the chunks/s an ingest doing nothing but "
    "embedding would reach; ingest / raw compares characters per second.",
    "Peak RSS: the ingest process's ru_maxrss, model included (base_rss_mb in bench.json is the "
    "peak with the model loaded, before the ingest).",
    "Questions: the first 60 characters of the title of every k-th article; hit@k is the share "
    "of the unfiltered asks whose article is in the top 3 (ours) or the top 4 (the recipe). "
    "Ours is a whole ask() (retrieve and answer); the recipe times similarity_search(k=4) only.",
    "Each question is asked once, unfiltered, restricted to its own article or to the week up "
    "to its date, the three kinds dealt in turn: every ask meets its question for the first "
    "time, so nothing an earlier ask of it left cached speeds it. Through chroma run: the "
    "embedded index's vectors copied into a local server, asked another set of questions.",
)


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def cells(row: Row) -> list[str]:
    """One table row of COLUMNS."""
    ing = row.ingest
    raw_chunks = raw_share = None
    if ing:
        raw_chunks = ing["chunks"] * ing["raw_chars_per_s"] / max(ing["chars"], 1)
        raw_share = ing["chars_per_s"] / ing["raw_chars_per_s"]
    return [
        row.system,
        f"{row.articles:,}",
        f"{ing['chunks']:,}" if ing else "–",
        _f(ing.get("ingest_s")),
        _f(ing["chunks"] / ing["ingest_s"] if ing else None),
        _f(raw_chunks),
        "–" if raw_share is None else f"{raw_share:.0%}",
        _f(row.index_mb),
        _f(ing.get("peak_rss_mb"), 0),
        str(row.questions),
        _f(row.hit1, 3),
        _f(row.hitk, 3),
        _f(row.p50_ms),
        _f(row.p95_ms),
        _f(row.source_p50_ms),
        _f(row.date_p50_ms),
        _f(row.cold_s, 2),
    ]


def by_corpus(rows: list[Row]) -> dict[str, list[Row]]:
    """Rows grouped by corpus, in run order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.corpus, []).append(row)
    return groups


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def goals(rows: list[Row]) -> list[tuple[str, str, bool | None]]:
    """(goal, measured figure, met) for each goal of the issue; met is None when unmeasured."""
    ours = [r for r in rows if r.system == "delta-qa"]
    last = ours[-1]
    recipe = next(r for r in rows if r.corpus == last.corpus and r.system == "langchain")
    server = next((r for r in rows if r.system == SERVER), None)
    served = next((r for r in ours if server and r.corpus == server.corpus), None)
    at = f"at {last.corpus} ({last.articles:,} articles)"
    share = _ratio(last.ingest["chars_per_s"], last.ingest["raw_chars_per_s"])
    speed = _ratio(last.p50_ms, recipe.p50_ms)
    filtered = [_ratio(last.source_p50_ms, last.p50_ms), _ratio(last.date_p50_ms, last.p50_ms)]
    worst = max((f for f in filtered if f is not None), default=None)
    peak = max(r.ingest["peak_rss_mb"] for r in ours)
    via = _ratio(server.p50_ms if server else None, served.p50_ms if served else None)

    def check(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    return [
        (
            "ingest ≥ 90% of the embedder's raw throughput on the same texts",
            f"{share:.0%} {at}" if share is not None else "–",
            None if share is None else share >= 0.9,
        ),
        ("warm ask() p50 ≤ 30 ms", f"{_f(last.p50_ms)} ms {at}", check(last.p50_ms, 30)),
        ("warm ask() p50 ≤ 1.5× the recipe's retrieval p50", f"{_f(speed, 2)}× {at}",
         check(speed, 1.5)),
        ("filtered ask ≤ 1.2× unfiltered (by article, by date range)",
         " / ".join(_f(f, 2) + "×" for f in filtered) + f" {at}", check(worst, 1.2)),
        ("cold `qa ask` ≤ 3 s", f"{_f(last.cold_s, 2)} s {at}", check(last.cold_s, 3)),
        ("peak RSS during ingest ≤ 1.5 GB", f"{peak:,.0f} MB (largest of every size)",
         check(peak, 1536)),
        ("p50 through `chroma run` ≤ 2× the embedded store",
         f"{_f(via, 2)}× at {server.corpus}" if server else "not run", check(via, 2)),
    ]  # fmt: skip


def _md_table(table: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    return lines + ["| " + " | ".join(row) + " |" for row in table[1:]]


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "not met", None: "not measured"}[met]


def _stages(rows: list[Row]) -> list[list[str]]:
    names = sorted({s for r in rows for s in r.stages}, key=lambda s: (s == "total", s))
    return [["corpus", "system", *[f"{s} p50/p95" for s in names]]] + [
        [r.corpus, r.system]
        + [
            f"{r.stages[s]['p50']:.1f} / {r.stages[s]['p95']:.1f}" if s in r.stages else "–"
            for s in names
        ]
        for r in rows
        if r.stages
    ]


def markdown(rows: list[Row], meta: str) -> str:
    """bench.md: the goals, then a table per corpus size, the stage times and the notes."""
    lines = [f"# qa bench — {meta}", "", "## Goals", ""]
    lines += _md_table(
        [["goal", "measured", "verdict"]] + [[g, m, _verdict(ok)] for g, m, ok in goals(rows)]
    )
    for corpus, group in by_corpus(rows).items():
        lines += ["", f"## {corpus}", ""]
        lines += _md_table([list(COLUMNS)] + [cells(r) for r in group])
    lines += ["", "## Stages of our ask() (ms)", "", *_md_table(_stages(rows)), "", "## Notes", ""]
    lines += [f"- {note}" for note in NOTES]
    return "\n".join(lines) + "\n"


def plot(rows: list[Row], path: Path) -> None:
    """bench.png: warm p50 and ingest peak RSS against corpus size, per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for system, style in (("delta-qa", "o-"), ("langchain", "s--"), (SERVER, "^")):
        mine = sorted((r for r in rows if r.system == system), key=lambda r: r.articles)
        if not mine:
            continue
        x = [r.articles for r in mine]
        left.plot(x, [r.p50_ms or 0 for r in mine], style, label=system)
        if system != SERVER:
            right.plot(x, [r.ingest["peak_rss_mb"] for r in mine], style, label=system)
    for ax, title in ((left, "warm p50 ms"), (right, "ingest peak RSS MB")):
        ax.set_xscale("log")
        ax.set_xlabel("articles")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _html_table(table: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(rows: list[Row], meta: str, image: Path) -> str:
    """bench.html: the same tables as bench.md, the goals coloured, the plot inline."""
    goal_rows = "".join(
        f"<tr class={'pass' if ok else 'fail'}><td>{html.escape(g)}</td><td>{html.escape(m)}"
        f"</td><td>{_verdict(ok)}</td></tr>"
        for g, m, ok in goals(rows)
    )
    sizes = "".join(
        f"<h2>{html.escape(c)}</h2>{_html_table([list(COLUMNS)] + [cells(r) for r in group])}"
        for c, group in by_corpus(rows).items()
    )
    png = base64.b64encode(image.read_bytes()).decode()
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in NOTES)
    heading = html.escape(f"qa bench — {meta}")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{heading}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px;text-align:left;vertical-align:top}}.fail{{color:#b00}}.pass{{color:#070}}</style>
</head><body><h1>{heading}</h1>
<h2>Goals</h2><table><thead><tr><th>goal</th><th>measured</th><th>verdict</th></tr></thead>
<tbody>{goal_rows}</tbody></table>
<h2>Latency and memory against corpus size</h2>
<img alt="warm p50 and ingest peak RSS against corpus size" src="data:image/png;base64,{png}">
{sizes}<h2>Stages of our ask() (ms)</h2>{_html_table(_stages(rows))}
<h2>Notes</h2><ul>{notes}</ul></body></html>"""


def write(rows: list[Row], meta: str, out: Path) -> list[Path]:
    """Write bench.md, bench.json, bench.png and bench.html into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"bench.{ext}" for ext in ("md", "json", "png", "html")]
    paths[0].write_text(markdown(rows, meta), encoding="utf-8")
    data: dict[str, Any] = {
        "meta": meta,
        "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals(rows)],
        "rows": [asdict(r) for r in rows],
    }
    paths[1].write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    plot(rows, paths[2])
    paths[3].write_text(page(rows, meta, paths[2]), encoding="utf-8")
    return paths
