"""`qa.eval bench` as a whole: every corpus in turn, ours and the recipe (`qa.eval.bench`), then our
asks through a real `chroma run` (`qa.eval.bench_server`)."""

from __future__ import annotations

from qa.eval.bench import Corpus, Row, Say, bench_size
from qa.eval.bench_server import bench_server
from qa.index.embeddings import Embedder


def run_bench(
    corpora: list[Corpus],
    embedder: Embedder,
    *,
    questions: int = 150,
    cold_runs: int = 3,
    server_at: str | None = "",
    reingest: bool = False,
    say: Say = print,
) -> list[Row]:
    """Every corpus in turn, both systems; then our asks through `chroma run` at the corpus
    labelled `server_at` ('' = the last, None = none)."""
    embedder.embed_query("warm up")  # model loading is no ask's latency
    rows: list[Row] = []
    for corpus in corpora:
        found, asked = bench_size(corpus, embedder, questions, cold_runs, reingest, say)
        rows += found
        if server_at is not None and corpus.label == (server_at or corpora[-1].label):
            rows.append(bench_server(corpus, found[0].articles, embedder, asked, say))
    return rows
