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

from qa.errors import ConfigError, QAError

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline

F = TypeVar("F", bound=Callable[..., Any])
THRESHOLDS = "evals/thresholds.toml"  # the repository's gate, read when `qa eval` runs in it


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
    "--check", is_flag=True, help="Only check the index; print what is wrong and exit 1 if any."
)
@_friendly
def ingest(targets: tuple[str, ...], url_file: Path | None, rebuild: bool, check: bool) -> None:
    """Index folders of .txt/.md/.html/.pdf/.docx articles, and web pages by address
    (default: QA_ARTICLES_DIR: seeds/ when the working folder holds one, else the articles/
    folder of the data home, QA_HOME; with the chat uploads and saved web pages).

    A web page (http:// or https:// only) is fetched, saved in QA_WEB_DIR and indexed under
    its address, with the default folders unless folders are given too. Only new or changed
    articles are embedded; articles whose file is gone are removed. An index left unfinished
    or damaged is rebuilt. Exits 1 when a file or page was skipped.

    \b
    Example: qa ingest seeds/ --rebuild
             qa ingest https://example.com/news/park.html --urls more-pages.txt
    """
    from qa.corpus.web import is_address

    urls = [t for t in targets if is_address(t)]
    folders = [t for t in targets if not is_address(t)]
    if url_file is not None:
        urls += _addresses(url_file)
    if check:
        store = _pipeline().store
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
            report = _pipeline().ingest_pages(
                urls, allow_private=True, folders=folders, rebuild=rebuild, progress=progress
            )
        else:
            report = _pipeline().ingest(folders or None, rebuild=rebuild, progress=progress)
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
    if not report.ok:
        sys.exit(1)


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
@_friendly
def chat(host: str, port: int) -> None:
    """Open the chat page: streamed cited answers, sources, article uploads, feedback.

    It listens on 127.0.0.1 only unless --host says otherwise, and never makes a share link.

    Example: qa chat --port 7860   (then open http://127.0.0.1:7860)
    """
    from qa.app.ui import serve

    serve(_pipeline(), host=host, port=port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7861, show_default=True, type=click.IntRange(1, 65535))
@_friendly
def serve(host: str, port: int) -> None:
    """Serve an OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions (streamed or
    whole), with each answer's citations and refusal in extra fields.

    Models: `extractive`, and `llm` when an LLM endpoint is configured. Keys: QA_API_KEYS
    (comma-separated; unset = none needed). It listens on 127.0.0.1 unless --host says
    otherwise, and answers as many questions at once as the chat page (QA_CHAT_CONCURRENCY).

    Example: qa serve   (then OPENAI_BASE_URL=http://127.0.0.1:7861/v1 with model "extractive")
    """
    from qa.app.serve import serve as run

    run(_pipeline(), host=host, port=port)


@main.command("mcp")
@_friendly
def mcp_tools() -> None:
    """Serve the tools `ask` (a cited answer) and `search_articles` (passages with their
    sources) to an agent over the Model Context Protocol, on stdin and stdout.

    Example agent config: {"mcpServers": {"delta-qa": {"command": "qa", "args": ["mcp"]}}}
    """
    from qa.app.mcp import serve as run

    run(_pipeline())


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
@_path_option(
    "--thresholds",
    THRESHOLDS,
    "Floors and ceilings of the gate (TOML); the default is optional (outside a checkout, "
    "where there is none, the run only reports).",
)
@click.option("--no-gate", is_flag=True, help="Report only; never exit non-zero for a low metric.")
@click.option(
    "--rgb",
    "rgb_split",
    type=click.Choice(["tune", "check", "all"]),
    is_flag=False,
    flag_value="tune",
    default=None,
    help="Also run the RGB benchmark on this half (tune on `tune`, report `check`). "
    "[bare --rgb: tune]",
)
@click.option(
    "--rgb-set",
    "rgb_sets",
    multiple=True,
    type=click.Choice(["en", "zh", "zh_int"]),
    help="RGB set to run (repeatable). [default: all three]",
)
@_path_option("--benchmarks", "../shared/benchmarks", "Folder holding rgb/ (never committed).")
@_path_option("--cache", ".qa-cache", "Where RGB's article folders and indexes are kept.")
@click.option("--no-seeds", is_flag=True, help="Skip the hand-written pairs (with --rgb).")
@click.option("--rgb-limit", type=click.IntRange(1), hidden=True)  # first N questions per file
@click.option(
    "--distractors",
    help="With --rgb: also ask over the RGB passages mixed into these articles, `crud-news` "
    "(from --benchmarks) or a folder, and report both side by side.",
)
@click.option(
    "--distractor-limit",
    type=click.IntRange(1),
    help="Only the first N crud-news articles as distractors (a quicker run).",
)
@_friendly
def evaluate(
    dataset: Path,
    split: str,
    backend: str,
    retrievers: tuple[str, ...],
    out: Path,
    thresholds: Path,
    no_gate: bool,
    rgb_split: str | None,
    rgb_sets: tuple[str, ...],
    benchmarks: Path,
    cache: Path,
    no_seeds: bool,
    rgb_limit: int | None,
    distractors: str | None,
    distractor_limit: int | None,
) -> None:
    """Score answers against hand-written Q&A pairs (and RGB); exit 1 when a metric misses
    its threshold.

    \b
    Example: qa eval --split test --retriever hybrid --retriever dense --retriever bm25
             qa eval --rgb tune --rgb-set en --no-seeds
             qa eval --rgb check --rgb-set zh --distractors crud-news --no-seeds
    """
    from qa.eval.reports import rgb_rows, summary_rows
    from qa.eval.rgb_eval import RGBConfig
    from qa.eval.rgb_scale import scale_lines, scale_rows
    from qa.eval.run import evaluate as run

    if rgb_split is None and (distractors or distractor_limit):
        raise ConfigError("--distractors mixes articles into RGB's corpora: add --rgb")
    rgb = None
    if rgb_split is not None:
        rgb = RGBConfig(
            benchmarks,
            rgb_sets or ("en", "zh", "zh_int"),
            rgb_split,  # type: ignore[arg-type]
            cache,
            rgb_limit,
            distractors,
            distractor_limit,
        )
    gate = None if no_gate else thresholds
    if gate == Path(THRESHOLDS) and not gate.exists():
        click.echo(f"gate: no {THRESHOLDS} here, so nothing is gated (--thresholds FILE)", err=True)
        gate = None
    result = run(
        _pipeline(),
        dataset,
        split=split,  # type: ignore[arg-type]
        backend=backend,
        retrievers=retrievers or ("hybrid",),  # type: ignore[arg-type]
        out=out,
        thresholds=gate,
        rgb=rgb,
        seeds=not no_seeds,
        say=lambda line: click.echo(line, err=True),
    )
    if result.runs:
        _print_table(summary_rows(result.runs))
    if result.rgb:
        _print_table(rgb_rows(result.rgb))
    if result.scale:
        _print_table(scale_rows(result.scale))
        for line in scale_lines(result.scale):
            click.echo(line)
    click.echo("reports: " + ", ".join(str(f) for f in result.files))
    for line in result.failures:
        click.echo(f"gate: {line}", err=True)
    if result.failures:
        sys.exit(1)


def _print_table(table: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


@main.command()
@click.option(
    "--corpus",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="A folder of articles to bench (default: the articles folder, QA_ARTICLES_DIR).",
)
@click.option(
    "--preset",
    type=click.Choice(["crud-news"]),
    default=None,
    help="crud-news: the seeds, then 1,000, 3,000 and all 9,648 crud-news articles.",
)
@click.option(
    "--sizes",
    default="",
    help="Corpus sizes in articles, comma-separated ('all' = every article): cuts of --corpus, "
    "or the crud-news sizes (default 1000,3000,all).",
)
@_path_option(
    "--benchmarks", "../shared/benchmarks", "Folder holding crud-news/ (never committed)."
)
@_path_option("--cache", ".qa-cache", "Where split articles, indexes and ingest figures are kept.")
@_path_option("--out", "evals/reports/bench", "Folder for bench.md, .json, .png and .html.")
@click.option(
    "--questions",
    default=150,
    show_default=True,
    help="Questions asked per size, each once: unfiltered, by article or by date, in turn.",
)
@click.option("--cold-runs", default=3, show_default=True, help="Cold `qa ask` runs (median).")
@click.option(
    "--server-at",
    default="",
    help="Label of the corpus size to ask through `chroma run` (default: the largest; "
    "'none' to skip).",
)
@click.option("--reingest", is_flag=True, help="Ingest again even where a kept index matches.")
@_friendly
def bench(
    corpus: Path | None,
    preset: str | None,
    sizes: str,
    benchmarks: Path,
    cache: Path,
    out: Path,
    questions: int,
    cold_runs: int,
    server_at: str,
    reingest: bool,
) -> None:
    """Ingest, memory, warm/filtered/cold ask latency per corpus size, against LangChain.

    The baseline is the standard recipe (RecursiveCharacterTextSplitter(1000, 200) and
    Chroma.similarity_search(k=4)) on the same articles and embedding model. Indexes are kept
    under --cache, so a rerun re-ingests only a corpus that changed (or all, with --reingest).
    The full crud-news preset takes hours on 2 cores.

    Examples: qa bench --corpus seeds; qa bench --preset crud-news --sizes 300
    """
    import os
    import platform

    from qa.config import Settings
    from qa.errors import ConfigError
    from qa.eval import bench_corpora, bench_report, bench_run
    from qa.index.embeddings import make_embedder

    if corpus is not None and preset is not None:
        raise ConfigError("give either --corpus DIR or --preset crud-news, not both")
    numbers: list[int | None] = [
        None if x.strip() == "all" else int(x) for x in sizes.split(",") if x.strip()
    ]
    settings = Settings()
    if preset == "crud-news":
        corpora = bench_corpora.preset_corpora(
            settings.articles_dir, benchmarks, cache, numbers or [1000, 3000, None]
        )
    else:
        corpora = bench_corpora.folder_corpora(corpus or settings.articles_dir, cache, numbers)
    embedder = make_embedder(settings)
    rows = bench_run.run_bench(
        corpora,
        embedder,
        questions=questions,
        cold_runs=cold_runs,
        server_at=None if server_at == "none" else server_at,
        reingest=reingest,
        say=lambda line: click.echo(line, err=True),
    )
    meta = (
        f"{dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"embedding {embedder.model_id}"
    )
    paths = bench_report.write(rows, meta, out)
    click.echo(paths[0].read_text(encoding="utf-8"))
    click.echo("reports: " + ", ".join(str(p) for p in paths))


def _samples(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> dict[str, int]:
    out = {}
    for entry in value:
        name, _, n = entry.partition("=")
        if name not in ("en", "zh", "zh_int") or not n.isdigit():
            raise click.BadParameter(f"{entry!r}: write SET=N, e.g. zh=24 (N=0: whole corpus)")
        out[name] = int(n)
    return out


@main.command("compare-retrieval")
@_path_option("--benchmarks", "../shared/benchmarks", "Folder holding rgb/ (never committed).")
@_path_option("--cache", ".qa-cache", "Where vectors are cached (retrieval/<model id>/).")
@_path_option("--out", "evals/reports/retrieval", "Folder for compare.md.")
@click.option(
    "--split", type=click.Choice(["tune", "check", "all"]), default="tune", show_default=True
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    type=click.Choice(["en", "zh", "zh_int"]),
    help="RGB set (repeatable). [default: all three]",
)
@click.option(
    "--embedder",
    "embedders",
    multiple=True,
    type=click.Choice(["use", "minilm", "e5"]),
    help="Embedder (repeatable); every pair is also tried. [default: all three]",
)
@click.option(
    "--sample",
    "samples",
    multiple=True,
    default=("zh=24", "zh_int=12"),
    show_default=True,
    callback=_samples,
    help="SET=N: measure the --sample-embedder models on N random items of SET with their "
    "own passages (beside every other method), not on the whole corpus.",
)
@click.option(
    "--sample-embedder",
    "sample_only",
    multiple=True,
    default=("minilm", "e5"),
    show_default=True,
    type=click.Choice(["use", "minilm", "e5"]),
    help="Embedders too slow for a whole sampled corpus.",
)
@click.option("--limit", type=click.IntRange(1), hidden=True)  # first N questions per file
@_friendly
def compare_retrieval(
    benchmarks: Path,
    cache: Path,
    out: Path,
    split: str,
    sets: tuple[str, ...],
    embedders: tuple[str, ...],
    samples: dict[str, int],
    sample_only: tuple[str, ...],
    limit: int | None,
) -> None:
    """Compare retrieval on RGB: dense per embedder and summed pairs, BM25, a grid of hybrid
    weights, and the LangChain + MiniLM recipe (English); writes compare.md and prints it.

    Embeddings are cached under --cache, so a rerun embeds nothing it has embedded before.

    Example: qa compare-retrieval --set en --embedder use --embedder minilm
    """
    from qa.eval import retrieval_compare

    results = retrieval_compare.run(
        benchmarks,
        cache,
        split=split,  # type: ignore[arg-type]
        sets=sets or ("en", "zh", "zh_int"),
        embedders=embedders or ("use", "minilm", "e5"),
        samples=samples,
        sample_only=sample_only,
        limit=limit,
        say=lambda line: click.echo(line, err=True),
    )
    table = retrieval_compare.markdown(results, split)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(table, encoding="utf-8")
    click.echo(table)
    click.echo(f"report: {out / 'compare.md'}")


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
@_friendly
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
        _print_answer(_pipeline().ask(question, **options), as_json, why)
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
