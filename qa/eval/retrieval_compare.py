"""`python -m qa.eval compare-retrieval`: retrieval alone, measured on RGB's real news.

Per set, over the set's whole corpus: dense retrieval with each offline embedder and with
score-level sums of two embedders' cosines, BM25, their weighted reciprocal-rank fusion over a
small grid of weights and `rrf_k`, and (English) the LangChain + MiniLM recipe; each scored by
hit@1/3/4/5, MRR and query time. One passage is one document (no title line, no chunking).

Vectors come from the embedder classes directly (no Chroma, except inside the LangChain recipe)
and are cached as .npy under `<cache>/retrieval/<model id>/<set>-…` keyed by the texts' sha1, so a
rerun embeds nothing twice and a stopped run keeps what it embedded. Where a slow model would take
too long over a whole Chinese corpus, it is measured on a seeded random sample of the questions
with all of their passages, side by side with every other method on that same sample.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from qa.answer.retrieval import fuse
from qa.config import EmbeddingBackend, Settings, offline_environment
from qa.eval.rgb import RGBItem, corpus_passages, item_passages, load_items
from qa.eval.rgb_eval import RGBSplit, hit_rank
from qa.eval.vector_cache import REPEATS, VectorCache
from qa.index.embeddings import Vectors, make_embedder
from qa.index.keyword import KeywordIndex
from qa.index.records import ChunkRecord
from qa.text import terms

Say = Callable[[str], None]
EMBEDDERS = ("minilm", "e5", "use")  # a pair is named in this order: minilm+use, e5+use
_DEFAULTS = {name: f.default for name, f in Settings.model_fields.items()}  # no env read here
CUTOFF: int = _DEFAULTS["candidates"]  # each ranking's length before fusion; MRR counts to here
WEIGHTS = ((0.5, 2.0), (0.5, 1.0), (1.0, 1.0), (1.0, 0.5), (2.0, 0.5))  # (dense, bm25)
RRF_KS = (20, 60)
DEFAULT = (_DEFAULTS["dense_weight"], _DEFAULTS["bm25_weight"], _DEFAULTS["rrf_k"])
SAMPLE_SEED = 2024
KS = (1, 3, 4, 5)


@dataclass(frozen=True)
class Scope:
    """One comparison: a set's items, the passages retrieved from, and the embedders run."""

    set: str
    name: str  # "full corpus" or "sample"
    items: list[RGBItem]
    passages: list[str]
    embedders: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """One method's scores on a scope; `query_ms` is the p50 time per question."""

    method: str
    metrics: dict[str, float]
    query_ms: float | None


@dataclass
class Result:
    """A scope's rows and its hybrid grid: (dense method, rrf_k, dense w, bm25 w) → metrics."""

    scope: Scope
    rows: list[Row] = field(default_factory=list)
    grid: dict[tuple[str, int, float, float], dict[str, float]] = field(default_factory=dict)


def scores(rankings: Sequence[Sequence[int]], scope: Scope) -> dict[str, float]:
    """hit@k (the top k passages jointly hold every part of the answer) and MRR (1 / that
    least k, 0 beyond CUTOFF), averaged over the scope's items."""
    ranks = [
        hit_rank([scope.passages[i] for i in ranking[:CUTOFF]], item.answers)
        for ranking, item in zip(rankings, scope.items, strict=True)
    ]
    out = {f"hit@{k}": float(np.mean([r is not None and r <= k for r in ranks])) for k in KS}
    out["mrr"] = float(np.mean([1 / r if r else 0.0 for r in ranks]))
    return out


def dense_rankings(queries: Sequence[Vectors], passages: Sequence[Vectors]) -> list[list[int]]:
    """Passages by the sum of the cosines of each embedder (one embedder: its cosine)."""
    similarity = sum(q @ p.T for q, p in zip(queries, passages, strict=True))
    order = np.argsort(-np.asarray(similarity), axis=1, kind="stable")[:, :CUTOFF]
    return [[int(i) for i in row] for row in order]


def bm25_rankings(scope: Scope) -> tuple[list[list[int]], list[float]]:
    """The project's KeywordIndex over one record per passage, and the ms per question."""
    records = [
        ChunkRecord(str(i), str(i), "", 0, 0, len(p), p, ()) for i, p in enumerate(scope.passages)
    ]
    with tempfile.TemporaryDirectory() as folder:
        index = KeywordIndex.write(Path(folder) / "keyword", records)  # no sentences
        rankings, times = [], []
        for item in scope.items:
            clock = time.perf_counter()
            rankings.append([row for row, _ in index.search(terms(item.query), CUTOFF)])
            times.append((time.perf_counter() - clock) * 1000)
    return rankings, times


def hybrid_rankings(
    dense: list[list[int]], bm25: list[list[int]], weights: tuple[float, float], rrf_k: int
) -> list[list[int]]:
    """Weighted RRF of the two rankings, exactly as `Retriever.retrieve` fuses them."""
    return [
        [i for i, _ in fuse([(weights[0], d), (weights[1], b)], rrf_k)[:CUTOFF]]
        for d, b in zip(dense, bm25, strict=True)
    ]


def langchain_recipe(scope: Scope, cache: VectorCache) -> Row:
    """RecursiveCharacterTextSplitter(1000, 200) chunks of every passage, MiniLM vectors in a
    LangChain Chroma store, `similarity_search(k=4)` as the recipe does (hit@4); the other
    columns come from the same search with k=CUTOFF. Scored on chunk texts."""
    offline_environment()
    import chromadb
    import chromadb.config
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    chunks = [
        piece
        for p in scope.passages
        for piece in RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_text(
            p
        )
    ]
    questions = [i.query for i in scope.items]
    table: dict[str, list[float]] = {
        **dict(zip(chunks, cache.passages(scope.set, chunks).tolist(), strict=True)),
        **dict(zip(questions, cache.queries(scope.set, questions)[0].tolist(), strict=True)),
    }

    class Cached(Embeddings):  # the cached MiniLM vectors behind LangChain's interface
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return table[text]

    client = chromadb.EphemeralClient(chromadb.config.Settings(anonymized_telemetry=False))
    store = Chroma(
        collection_name=f"recipe-{scope.set}-{len(chunks)}",
        embedding_function=Cached(),
        client=client,
    )
    try:
        store.add_texts(chunks, ids=[str(i) for i in range(len(chunks))])
        top4 = [[d.page_content for d in store.similarity_search(q, k=4)] for q in questions]
        top = [[d.page_content for d in store.similarity_search(q, k=CUTOFF)] for q in questions]
    finally:
        store.delete_collection()
    recipe = Scope(scope.set, scope.name, scope.items, chunks, ("minilm",))
    index = {c: i for i, c in enumerate(chunks)}
    metrics = scores([[index[c] for c in r] for r in top], recipe)
    metrics["hit@4"] = scores([[index[c] for c in r] for r in top4], recipe)["hit@4"]
    return Row(f"LangChain recipe: splitter 1000/200 + MiniLM, {len(chunks)} chunks", metrics, None)


def dense_methods(embedders: Sequence[str]) -> list[tuple[str, ...]]:
    """Each embedder alone, then every pair (score-level sum of cosines)."""
    ordered = [e for e in EMBEDDERS if e in embedders]
    singles = [(e,) for e in sorted(ordered, key=lambda e: e != "use")]
    return singles + list(itertools.combinations(ordered, 2))


def compare_scope(scope: Scope, caches: dict[str, VectorCache]) -> Result:
    """Every method on one scope."""
    result = Result(scope)
    questions = [i.query for i in scope.items]
    vectors = {e: caches[e].passages(scope.set, scope.passages) for e in scope.embedders}
    queries = {e: caches[e].queries(scope.set, questions) for e in scope.embedders}
    bm25, bm25_ms = bm25_rankings(scope)
    result.rows.append(Row("bm25", scores(bm25, scope), statistics.median(bm25_ms)))
    hybrids: list[Row] = []
    bm25_p50 = statistics.median(bm25_ms)
    for method in dense_methods(scope.embedders):
        name = "+".join(method)
        ms = sum(statistics.median(queries[e][1]) for e in method)
        dense = dense_rankings([queries[e][0] for e in method], [vectors[e] for e in method])
        result.rows.append(Row(f"dense {name}", scores(dense, scope), ms))
        for rrf_k, weights in itertools.product(RRF_KS, WEIGHTS):
            metrics = scores(hybrid_rankings(dense, bm25, weights, rrf_k), scope)
            result.grid[(name, rrf_k, *weights)] = metrics
        default = result.grid[(name, DEFAULT[2], DEFAULT[0], DEFAULT[1])]
        hybrids.append(
            Row(f"hybrid {name} {_grid_label(DEFAULT)} (default)", default, ms + bm25_p50)
        )
        best = max(
            (key for key in result.grid if key[0] == name),
            key=lambda key: (result.grid[key]["hit@5"], result.grid[key]["mrr"]),
        )
        if result.grid[best] != default:
            label = _grid_label((best[2], best[3], best[1]))
            hybrids.append(Row(f"hybrid {name} {label} (best)", result.grid[best], ms + bm25_p50))
    result.rows += hybrids
    if scope.set == "en" and "minilm" in scope.embedders:
        result.rows.append(langchain_recipe(scope, caches["minilm"]))
    return result


def _grid_label(point: tuple[float, float, int]) -> str:
    return f"{point[0]:g}:{point[1]:g} k={point[2]}"


def scopes(
    bench_dir: Path,
    split: RGBSplit,
    sets: Sequence[str],
    embedders: Sequence[str],
    samples: dict[str, int],
    sample_only: Sequence[str],
    limit: int | None = None,
) -> list[Scope]:
    """Each set's full corpus (without `sample_only` embedders where the set is sampled),
    and, for a set in `samples`, N of its items drawn with SAMPLE_SEED and their own passages."""
    out = []
    for set_name in sets:
        items = [
            i for i in load_items(bench_dir, set_name, limit=limit) if split in ("all", i.split)
        ]
        n = samples.get(set_name, 0)
        sampled = 0 < n < len(items)
        full_embedders = tuple(e for e in embedders if not (sampled and e in sample_only))
        passages = [p.strip() for p in corpus_passages(bench_dir, set_name, "full", limit=limit)]
        out.append(Scope(set_name, "full corpus", items, passages, full_embedders))
        if sampled:
            chosen = sorted(random.Random(SAMPLE_SEED).sample(items, n), key=lambda i: i.id)
            own = item_passages(bench_dir, set_name, limit=limit)
            texts = dict.fromkeys(p.strip() for i in chosen for p in own[i.id])
            out.append(Scope(set_name, "sample", chosen, list(texts), tuple(embedders)))
    return out


def run(
    bench_dir: Path,
    cache_dir: Path,
    *,
    split: RGBSplit = "tune",
    sets: Sequence[str] = ("en", "zh", "zh_int"),
    embedders: Sequence[str] = ("use", "minilm", "e5"),
    samples: dict[str, int] | None = None,
    sample_only: Sequence[str] = ("minilm", "e5"),
    limit: int | None = None,
    say: Say = print,
) -> list[Result]:
    """Every scope compared; embeddings cached under `cache_dir/retrieval`."""
    plan = scopes(bench_dir, split, sets, embedders, samples or {}, sample_only, limit)
    caches = {
        e: VectorCache(cache_dir / "retrieval", make_embedder(_settings(e)), say) for e in embedders
    }
    results = []
    for scope in plan:
        say(
            f"compare {scope.set} {scope.name}: {len(scope.items)} items, "
            f"{len(scope.passages)} passages, {', '.join(scope.embedders)}"
        )
        results.append(compare_scope(scope, caches))
    return results


def _settings(backend: str) -> Settings:
    return Settings(embedding_backend=cast(EmbeddingBackend, backend))


def markdown(results: Sequence[Result], split: str) -> str:
    """The report: per scope, a table of methods and the hybrid grid."""
    lines = [
        f"# Retrieval compared on RGB ({split} half), {dt.date.today().isoformat()}",
        "",
        f"One passage = one document, title line excluded. hit@k: the top k passages jointly "
        f"hold every part of the answer; MRR: 1 / the least such k (0 past {CUTOFF}). "
        f"Dense and BM25 each give their top {CUTOFF} before fusion (`candidates`); hybrid "
        "= weighted RRF as `Retriever.retrieve`, written `dense:bm25 k=rrf_k` (only the ratio "
        "of the weights matters). a+b = sum of both cosines. query ms: per question the least "
        f"of {REPEATS} timed embeddings (warm model, 2 shared cores), p50 over the questions; "
        "a+b adds both, hybrid adds BM25. (default) = the settings' fusion; (best) = the grid "
        "point with the highest hit@5, then MRR, on these items.",
        "",
    ]
    for result in results:
        scope = result.scope
        lines += [
            f"## {scope.set}: {scope.name}, {len(scope.passages)} passages, "
            f"{len(scope.items)} items",
            "",
        ]
        if scope.name == "sample":
            ids = ", ".join(str(i.id) for i in scope.items)
            lines += [
                f"Random sample (seed {SAMPLE_SEED}) of the {split} items, with all their "
                f"passages: ids {ids}.",
                "",
            ]
        lines += ["| method | hit@1 | hit@3 | hit@4 | hit@5 | MRR | query ms |", "|---" * 7 + "|"]
        for row in result.rows:
            ms = f"{row.query_ms:.2f}" if row.query_ms is not None else "–"
            values = " | ".join(f"{row.metrics[m]:.3f}" for m in (*[f"hit@{k}" for k in KS], "mrr"))
            lines.append(f"| {row.method} | {values} | {ms} |")
        heads = [f"{d:g}:{b:g}" for d, b in WEIGHTS]
        lines += [
            "",
            "Hybrid grid, hit@5 / MRR (columns dense:bm25 weights):",
            "",
            "| dense | rrf_k | " + " | ".join(heads) + " |",
            "|---" * (2 + len(heads)) + "|",
        ]
        for name in dict.fromkeys(key[0] for key in result.grid):
            for rrf_k in RRF_KS:
                cells = [result.grid[(name, rrf_k, d, b)] for d, b in WEIGHTS]
                lines.append(
                    f"| {name} | {rrf_k} | "
                    + " | ".join(f"{c['hit@5']:.2f} / {c['mrr']:.3f}" for c in cells)
                    + " |"
                )
        lines.append("")
    return "\n".join(lines)
