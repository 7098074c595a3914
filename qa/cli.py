"""The `qa` command: `qa ingest`, `qa ask`, `qa chat` — a thin shell over the library."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from qa.errors import QAError

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Turn a QAError into one line on stderr and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except QAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _path_option(name: str, default: str, help_text: str) -> Callable[[F], F]:
    """A --option taking a path, with its default shown in --help."""
    return click.option(
        name,
        type=click.Path(path_type=Path),
        default=Path(default),
        show_default=True,
        help=help_text,
    )


def _pipeline() -> QAPipeline:
    from qa import default_pipeline

    return default_pipeline()


@click.group()
@click.version_option(package_name="delta-qa")
def main() -> None:
    """Delta QA: cited answers about Zhejiang and Yangtze River Delta industry news.

    \b
    qa ingest            index the articles in seeds/ (only what changed)
    qa ask "question"    answer with [n] citations
    qa chat              the chat page on http://127.0.0.1:7860
    """


@main.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Drop the index and embed every article again.")
@_friendly
def ingest(folder: Path | None, rebuild: bool) -> None:
    """Index a folder of .txt/.md/.html articles (default: seeds/, or QA_ARTICLES_DIR).

    Only new or changed articles are embedded; articles whose file is gone are removed.
    Exits 1 when a file was skipped.

    Example: qa ingest seeds/ --rebuild
    """
    from rich.progress import Progress, TaskID

    bar = Progress(transient=True)  # started only when there is real embedding work to show
    task: TaskID | None = None

    def progress(done: int, total: int) -> None:
        nonlocal task
        if total <= 8:  # a handful of chunks embeds in a blink
            return
        if task is None:
            bar.start()
            task = bar.add_task("embedding chunks", total=total)
        bar.update(task, completed=done)

    try:
        report = _pipeline().ingest(
            str(folder) if folder else None, rebuild=rebuild, progress=progress
        )
    finally:
        if task is not None:
            bar.stop()
    for name, reason in report.skipped:
        click.echo(f"skipped {name}: {reason}", err=True)
    for name, twin in report.duplicates:
        click.echo(f"duplicate {name}: same text as {twin}, not indexed twice", err=True)
    click.echo(
        f"added {len(report.added)}, updated {len(report.updated)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)}, skipped {len(report.skipped)} "
        f"({report.embedded} chunks embedded in {report.seconds:.2f} s)"
    )
    if not report.ok:
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@_friendly
def chat(host: str, port: int) -> None:
    """Open the chat page: streamed cited answers, sources, article uploads, feedback.

    It listens on 127.0.0.1 only unless --host says otherwise, and never makes a share link.

    Example: qa chat --port 7860   (then open http://127.0.0.1:7860)
    """
    from qa.ui import serve

    serve(_pipeline(), host=host, port=port)


@main.command("eval")
@_path_option("--dataset", "evals/qa_pairs.jsonl", "JSONL Q&A pairs (schema in README).")
@click.option(
    "--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True
)
@click.option(
    "--backend", type=click.Choice(["extractive", "llm"]), default="extractive", show_default=True
)
@click.option(
    "--retriever",
    "retrievers",
    multiple=True,
    type=click.Choice(["hybrid", "dense", "bm25"]),
    help="Repeat for ablations side by side; the first one is gated. [default: hybrid]",
)
@_path_option("--out", "evals/reports/latest", "Folder for report.md, report.json and report.html.")
@_path_option("--thresholds", "evals/thresholds.toml", "Floors and ceilings of the gate (TOML).")
@click.option("--no-gate", is_flag=True, help="Report only; never exit non-zero for a low metric.")
@_friendly
def evaluate(
    dataset: Path,
    split: str,
    backend: str,
    retrievers: tuple[str, ...],
    out: Path,
    thresholds: Path,
    no_gate: bool,
) -> None:
    """Score answers against hand-written Q&A pairs; exit 1 when a metric misses its threshold.

    Example: qa eval --split test --retriever hybrid --retriever dense --retriever bm25
    """
    from qa.evaluation import evaluate as run
    from qa.reports import summary_rows

    result = run(
        _pipeline(),
        dataset,
        split=split,  # type: ignore[arg-type]
        backend=backend,
        retrievers=retrievers or ("hybrid",),  # type: ignore[arg-type]
        out=out,
        thresholds=None if no_gate else thresholds,
    )
    table = summary_rows(result.runs)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    click.echo("reports: " + ", ".join(str(f) for f in result.files))
    for line in result.failures:
        click.echo(f"gate: {line}", err=True)
    if result.failures:
        sys.exit(1)


@main.command()
@click.option(
    "--sizes",
    default="10000,100000",
    show_default=True,
    help="Synthetic corpus sizes in chunks, comma-separated ('' for the seeds only).",
)
@_path_option("--dataset", "evals/qa_pairs.jsonl", "Questions to time and to score hit@k on.")
@_path_option("--out", "evals/reports/bench", "Folder for bench.md and bench.svg.")
@_friendly
def bench(sizes: str, dataset: Path, out: Path) -> None:
    """Time ingest and ask() at the seed corpus and larger synthetic ones, against LangChain.

    The baseline is the standard recipe (RecursiveCharacterTextSplitter(1000, 200) and
    Chroma.similarity_search(k=4)) on the same articles and embedding model. 100,000 chunks
    take a long while to embed on 2 cores.

    Example: qa bench --sizes 10000
    """
    import datetime as dt
    import os
    import platform

    from qa import bench as bench_module
    from qa.evaluation import load_dataset

    pipe = _pipeline()
    numbers = [int(x) for x in sizes.split(",") if x.strip()]
    rows = bench_module.run_bench(
        pipe.settings.articles_dir,
        load_dataset(dataset),
        pipe.embedder,
        numbers,
        say=lambda line: click.echo(line, err=True),
    )
    meta = (
        f"{dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"embedding {pipe.embedder.model_id}"
    )
    out.mkdir(parents=True, exist_ok=True)
    table = bench_module.markdown(rows, meta)
    (out / "bench.md").write_text(table, encoding="utf-8")
    bench_module.chart(rows, out / "bench.svg")
    click.echo(table)
    click.echo(f"reports: {out / 'bench.md'}, {out / 'bench.svg'}")


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the whole Answer as JSON.")
@click.option("-k", type=click.IntRange(1, 50), help="Passages to draw from.")
@click.option("--source", "sources", multiple=True, help="Only this article file (repeatable).")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="Published on or after YYYY-MM-DD."
)
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), help="Published on or before YYYY-MM-DD."
)
@_friendly
def ask(
    question: str | None,
    as_json: bool,
    k: int | None,
    sources: tuple[str, ...],
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    """Answer a question from the articles, with numbered sources.

    Without QUESTION, reads questions from the terminal until an empty line or Ctrl-D;
    follow-ups there ("what about its output value?") are read against the earlier ones.
    With QA_LLM_BASE_URL or OPENAI_API_KEY set, an LLM writes the answer (QA_BACKEND).

    Example: qa ask "How many enterprises are in the Pinghu CNC machine tool cluster?"
    """
    options: dict[str, Any] = {
        "k": k,
        "sources": list(sources) or None,
        "since": since.date() if since else None,
        "until": until.date() if until else None,
    }
    if question is not None:
        _print_answer(_pipeline().ask(question, **options), as_json)
        return
    history: list[tuple[str, str]] = []
    while True:
        try:
            line = input("question> ").strip()
        except EOFError:
            break
        if not line:
            break
        try:
            answer = _pipeline().ask(line, history=history[-3:], **options)
            history.append((line, answer.text))
            _print_answer(answer, as_json)
        except QAError as exc:  # a bad question in the loop is reported, the loop goes on
            click.echo(f"error: {exc}", err=True)


def _print_answer(answer: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    from qa.render import UNVERIFIED

    unverified = {c.n for c in answer.citations if not c.verified}
    click.echo(
        re.sub(
            r"\[(\d+)\]",
            lambda m: f"[{m[1]}, unverified]" if int(m[1]) in unverified else m[0],
            answer.text,
        )
    )
    if answer.notice:
        click.echo(f"note: {answer.notice}")
    if answer.citations:
        click.echo("\nSources:")
    for c in answer.citations:
        when = f", {c.date.isoformat()}" if c.date else ""
        checked = "" if c.verified else f" (unverified: {UNVERIFIED})"
        click.echo(f"[{c.n}] {c.title} ({c.source}{when}), chars {c.start}-{c.end}{checked}")
    click.echo()


if __name__ == "__main__":
    main()
