"""`qa bench` at a tiny size: both systems run on the same corpus and the table compares them."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.eval.bench import markdown, run_bench, synthetic_corpus
from qa.config import Settings
from qa.evaluation import load_dataset
from qa.index.embeddings import Embedder

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow


def test_synthetic_corpus_is_deterministic_and_keeps_the_seeds(tmp_path: Path) -> None:
    synthetic_corpus(SEEDS, tmp_path / "a", 200, Settings())
    synthetic_corpus(SEEDS, tmp_path / "b", 200, Settings())
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {p.name for p in SEEDS.iterdir()} <= set(names) and len(names) > 10
    assert all(
        (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names
    )


def test_bench_compares_with_the_langchain_baseline(embedder: Embedder) -> None:
    items = load_dataset(ROOT / "evals" / "qa_pairs.jsonl", "dev")[:20]
    rows = run_bench(SEEDS, items, embedder, [150], say=lambda _: None)
    assert [(r.system, r.corpus) for r in rows] == [
        ("delta-qa", "seed"),
        ("langchain-baseline", "seed"),
        ("delta-qa", "~150 chunks"),
        ("langchain-baseline", "~150 chunks"),
    ]
    assert rows[0].cold_s is not None and rows[0].cold_s < 30
    assert rows[2].chunks > rows[0].chunks and all(r.p50_ms > 0 for r in rows)
    table = markdown(rows, "test")
    assert "| seed | delta-qa | 58 |" in table and "hit@3 ours − baseline" in table
