"""The `qa` command: `qa ingest`, `qa ask`, `qa chat` — a thin shell over the library."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from qa.app.clikit import friendly, pipeline
from qa.errors import ConfigError, QAError
from qa.eval.lab import eval_options, report
from qa.eval.plan import EvalPlan


@click.group()
@click.version_option(package_name="delta-qa")
def main() -> None:
    """Delta QA: cited answers about Zhejiang and Yangtze River Delta industry news.

    \b
    qa ingest [FOLDER]   index articles (only what changed); see QA_HOME
    qa ask "question"    answer with [n] citations
    qa chat              the chat page on http://127.0.0.1:7860
    qa serve             an OpenAI-compatible API on http://127.0.0.1:7861/v1
    qa mcp               the tools ask and search_articles for agents (MCP, stdio)
    """


@main.command()
@click.argument("targets", nargs=-1)
@click.option(
    "--urls",
    "url_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A text file of web addresses, one a line (blank lines and # comments are skipped).",
)
@click.option("--rebuild", is_flag=True, help="Drop the index and embed every article again.")
@click.option(
    "--only",
    is_flag=True,
    help="The index holds these folders' articles alone: articles indexed from other folders "
    "(the seeds, say) are removed from it, never from disk.",
)
@click.option(
    "--check", is_flag=True, help="Only check the index; print what is wrong and exit 1 if any."
)
@friendly
def ingest(
    targets: tuple[str, ...], url_file: Path | None, rebuild: bool, only: bool, check: bool
) -> None:
    """Index folders of .txt/.md/.html/.pdf/.docx articles, and web pages by address
    (default: QA_ARTICLES_DIR: seeds/ when the working folder holds one, else the articles/
    folder of the data home, QA_HOME; with the chat uploads and saved web pages).

    A web page (http:// or https:// only) is fetched, saved in QA_WEB_DIR and indexed under
    its address, with the default folders unless folders are given too. Only new or changed
    articles are embedded; articles whose file is gone are removed. An index left unfinished
    or damaged is rebuilt. Articles indexed from other folders stay beside the given ones
    unless --only is given; the last line says what the index holds, by folder. Exits 1 when
    a file or page was skipped.

    \b
    Example: qa ingest my_articles/ --only
             qa ingest seeds/ --rebuild
             qa ingest https://example.com/news/park.html --urls more-pages.txt
    """
    from qa.corpus.web import is_address

    urls = [t for t in targets if is_address(t)]
    folders = [t for t in targets if not is_address(t)]
    if url_file is not None:
        urls += _addresses(url_file)
    if check:
        store = pipeline().store
        if not store.exists():
            click.echo("index: none built yet: run `qa ingest`", err=True)
            sys.exit(1)
        problems = store.problems()
        for line in problems:
            click.echo(f"index: {line}", err=True)
        click.echo("index: inconsistent, run `qa ingest`" if problems else "index: consistent")
        sys.exit(1 if problems else 0)
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from qa.corpus.embed import IngestProgress, progress_line

    bar = Progress(  # started only when there is real embedding work to show
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        transient=True,
    )
    task: TaskID | None = None

    def progress(step: IngestProgress) -> None:
        nonlocal task
        if step.chunks_total <= 8:  # a handful of chunks embeds in a blink
            return
        if task is None:
            bar.start()
            task = bar.add_task("embedding", total=step.chunks_total, status="")
        bar.update(task, completed=step.chunks, status=progress_line(step))

    try:
        if urls:  # the user's own machine: any address they type, http(s) only
            report = pipeline().ingest_pages(
                urls, allow_private=True, folders=folders, rebuild=rebuild, progress=progress
            )
        else:
            report = pipeline().ingest(
                folders or None, rebuild=rebuild, progress=progress, only=only
            )
    finally:
        if task is not None:
            bar.stop()
    for line in report.repaired:
        click.echo(f"repaired: {line} (the index was rebuilt)", err=True)
    for name, reason in report.skipped:
        click.echo(f"skipped {name}: {reason}", err=True)
    for name, twin in report.duplicates:
        click.echo(f"duplicate {name}: same text as {twin}, not indexed twice", err=True)
    click.echo(
        f"added {len(report.added)}, updated {len(report.updated)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)}, skipped {len(report.skipped)} "
        f"({report.embedded} new chunks, {report.texts} titles and sentences embedded, "
        f"in {report.seconds:.2f} s)"
    )
    click.echo(holdings(report.holds))
    if not report.ok:
        sys.exit(1)


def holdings(holds: dict[str, int]) -> str:
    """What the index holds, by the folder each article came from ("index: 7 articles: 5 from
    seeds, 2 from my_articles"), folders shown relative to the working folder when inside it."""
    total = sum(holds.values())
    if not total:
        return "index: empty"

    def shown(origin: str) -> str:
        path = Path(origin)
        return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else origin

    parts = [f"{n} from {shown(o)}" for o, n in sorted(holds.items(), key=lambda x: -x[1])]
    return f"index: {total} article{'s' if total != 1 else ''}: " + ", ".join(parts)


def _addresses(path: Path) -> list[str]:
    """The web addresses listed in a file, one a line; blank lines and # comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--urls {path} cannot be read ({exc}): give a UTF-8 text file") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@friendly
def chat(host: str, port: int) -> None:
    """Open the chat page: streamed cited answers, sources, article uploads, feedback.

    It listens on 127.0.0.1 only unless --host says otherwise, and never makes a share link.

    Example: qa chat --port 7860   (then open http://127.0.0.1:7860)
    """
    from qa.app.ui import serve

    serve(pipeline(), host=host, port=port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7861, show_default=True, type=click.IntRange(1, 65535))
@friendly
def serve(host: str, port: int) -> None:
    """Serve an OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions (streamed or
    whole), with each answer's citations and refusal in extra fields.

    Models: `extractive`, and `llm` when an LLM endpoint is configured. Keys: QA_API_KEYS
    (comma-separated; unset = none needed). It listens on 127.0.0.1 unless --host says
    otherwise, and answers as many questions at once as the chat page (QA_CHAT_CONCURRENCY).

    Example: qa serve   (then OPENAI_BASE_URL=http://127.0.0.1:7861/v1 with model "extractive")
    """
    from qa.app.serve import serve as run

    run(pipeline(), host=host, port=port)


@main.command("mcp")
@friendly
def mcp_tools() -> None:
    """Serve the tools `ask` (a cited answer) and `search_articles` (passages with their
    sources) to an agent over the Model Context Protocol, on stdin and stdout.

    Example agent config: {"mcpServers": {"delta-qa": {"command": "qa", "args": ["mcp"]}}}
    """
    from qa.app.mcp import serve as run

    run(pipeline())


@main.command("eval")
@eval_options
@friendly
def evaluate(plan: EvalPlan) -> None:
    """Score answers against hand-written Q&A pairs; exit 1 when a metric misses its
    threshold (evals/thresholds.toml in a checkout).

    \b
    Example: qa eval --split test --retriever hybrid --retriever dense --retriever bm25
             qa eval --dataset my_pairs.jsonl --no-gate
    The benchmarks (RGB, latency, retrieval comparisons) are in the lab: python -m qa.eval
    """
    report(plan)


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
@click.option("--why", is_flag=True, help="Also print why it answered or declined (the trace).")
@friendly
def ask(
    question: str | None,
    as_json: bool,
    why: bool,
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
        _print_answer(pipeline().ask(question, **options), as_json, why)
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
            answer = pipeline().ask(line, history=history[-3:], **options)
            history.append((line, answer.text))
            _print_answer(answer, as_json, why)
        except QAError as exc:  # a bad question in the loop is reported, the loop goes on
            click.echo(f"error: {exc}", err=True)


def _print_answer(answer: Any, as_json: bool, why: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    from qa.app.render import UNVERIFIED

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
        when += f", p. {c.page}" if c.page is not None else ""
        checked = "" if c.verified else f" (unverified: {UNVERIFIED})"
        click.echo(f"[{c.n}] {c.title} ({c.source}{when}), chars {c.start}-{c.end}{checked}")
    if why and answer.trace is not None:
        click.echo("\nWhy:")
        for line in answer.trace.lines():
            click.echo(f"  {line}")
    click.echo()


if __name__ == "__main__":
    main()
