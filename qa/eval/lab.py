"""The lab: `python -m qa.eval` runs the benchmarks and the eval with its research options
(RGB, distractors), apart from the product's `qa` command; `qa eval` shares its eval options
(`eval_options`) and its report (`report`)."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qa.app.clikit import friendly, path_option, pipeline, print_table
from qa.errors import ConfigError
from qa.eval.plan import DATASET, THRESHOLDS, EvalPlan

if TYPE_CHECKING:
    from qa.eval.rgb_eval import RGBConfig


def eval_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of an eval run on the hand-written pairs, passed to `command` as one
    `plan: EvalPlan` (and whatever other options it has, as they are)."""

    def build(
        dataset: Path,
        split: str,
        backend: str,
        retrievers: tuple[str, ...],
        out: Path,
        thresholds: Path,
        no_gate: bool,
        **rest: Any,
    ) -> Any:
        gate: Path | None = None if no_gate else thresholds
        if gate == THRESHOLDS and not gate.exists():
            click.echo(
                f"gate: no {THRESHOLDS} here, so nothing is gated (--thresholds FILE)", err=True
            )
            gate = None
        plan = EvalPlan(
            dataset=dataset,
            split=split,  # type: ignore[arg-type]
            backend=backend,
            retrievers=retrievers or ("hybrid",),  # type: ignore[arg-type]
            out=out,
            thresholds=gate,
        )
        return command(plan=plan, **rest)

    # its name, help and the options given below this decorator are the command's
    functools.update_wrapper(build, command)
    options = [
        path_option("--dataset", str(DATASET), "JSONL Q&A pairs (schema in docs/evaluation.md)."),
        click.option(
            "--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True
        ),
        click.option(
            "--backend",
            type=click.Choice(["extractive", "llm"]),
            default="extractive",
            show_default=True,
        ),
        click.option(
            "--retriever",
            "retrievers",
            multiple=True,
            type=click.Choice(["hybrid", "dense", "bm25"]),
            help="Repeat for ablations side by side; the first one is gated. [default: hybrid]",
        ),
        path_option(
            "--out", "evals/reports/latest", "Folder for report.md, report.json and report.html."
        ),
        path_option(
            "--thresholds",
            str(THRESHOLDS),
            "Floors and ceilings of the gate (TOML); the default is optional (outside a "
            "checkout, where there is none, the run only reports).",
        ),
        click.option(
            "--no-gate", is_flag=True, help="Report only; never exit non-zero for a low metric."
        ),
    ]
    wrapped: Callable[..., Any] = build
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def report(plan: EvalPlan) -> None:
    """Carry out `plan` on the settings' pipeline, print its tables and report files, and
    exit 1 when the gate fails."""
    from qa.eval.reports import rgb_rows, summary_rows
    from qa.eval.rgb_scale import scale_lines, scale_rows
    from qa.eval.run import evaluate

    result = evaluate(pipeline(), plan, say=lambda line: click.echo(line, err=True))
    if result.runs:
        print_table(summary_rows(result.runs))
    if result.rgb:
        print_table(rgb_rows(result.rgb))
    if result.scale:
        print_table(scale_rows(result.scale))
        for line in scale_lines(result.scale):
            click.echo(line)
    click.echo("reports: " + ", ".join(str(f) for f in result.files))
    for line in result.failures:
        click.echo(f"gate: {line}", err=True)
    if result.failures:
        sys.exit(1)


@click.group()
def lab() -> None:
    """The Delta QA lab: the eval with RGB, benchmarks, retrieval comparisons.

    \b
    python -m qa.eval run --rgb check          the eval with RGB's checking half
    python -m qa.eval bench --corpus seeds     ingest and ask latency against LangChain
    python -m qa.eval compare-retrieval        retrieval methods on RGB
    """


@lab.command("run")
@eval_options
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
@path_option("--benchmarks", "../shared/benchmarks", "Folder holding rgb/ (never committed).")
@path_option("--cache", ".qa-cache", "Where RGB's article folders and indexes are kept.")
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
@friendly
def run(plan: EvalPlan, no_seeds: bool, **rgb_options: Any) -> None:
    """`qa eval`, and RGB: score answers against the hand-written Q&A pairs and RGB's
    questions; exit 1 when a metric misses its threshold.

    \b
    Example: python -m qa.eval run --rgb tune --rgb-set en --no-seeds
             python -m qa.eval run --rgb check --rgb-set zh --distractors crud-news --no-seeds
    """
    from dataclasses import replace

    report(replace(plan, rgb=rgb_config(**rgb_options), seeds=not no_seeds))


def rgb_config(
    rgb_split: str | None,
    rgb_sets: tuple[str, ...],
    benchmarks: Path,
    cache: Path,
    rgb_limit: int | None,
    distractors: str | None,
    distractor_limit: int | None,
) -> RGBConfig | None:
    """The RGB part of a run from its options (None without --rgb)."""
    from qa.eval.rgb_eval import RGBConfig

    if rgb_split is None:
        if distractors or distractor_limit:
            raise ConfigError("--distractors mixes articles into RGB's corpora: add --rgb")
        return None
    return RGBConfig(
        benchmarks,
        rgb_sets or ("en", "zh", "zh_int"),
        rgb_split,  # type: ignore[arg-type]
        cache,
        rgb_limit,
        distractors,
        distractor_limit,
    )


@lab.command()
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
@path_option("--benchmarks", "../shared/benchmarks", "Folder holding crud-news/ (never committed).")
@path_option("--cache", ".qa-cache", "Where split articles, indexes and ingest figures are kept.")
@path_option("--out", "evals/reports/bench", "Folder for bench.md, .json, .png and .html.")
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
@friendly
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

    Examples: python -m qa.eval bench --corpus seeds
              python -m qa.eval bench --preset crud-news --sizes 300
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


@lab.command("compare-retrieval")
@path_option("--benchmarks", "../shared/benchmarks", "Folder holding rgb/ (never committed).")
@path_option("--cache", ".qa-cache", "Where vectors are cached (retrieval/<model id>/).")
@path_option("--out", "evals/reports/retrieval", "Folder for compare.md.")
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
@friendly
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

    Example: python -m qa.eval compare-retrieval --set en --embedder use --embedder minilm
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
