"""The hand-written eval pairs: schema, and every evidence quote verbatim in its article."""

from __future__ import annotations

import json
import re

from qa.corpus.articles import load_article

from .conftest import ROOT, SEEDS

TYPES = {
    "factoid",
    "number",
    "date",
    "list",
    "paraphrase",
    "multi_article",
    "unanswerable",
    "false_premise",
    "chinese",
}


def items() -> list[dict[str, object]]:
    path = ROOT / "evals" / "qa_pairs.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_schema_and_coverage() -> None:
    data = items()
    assert len(data) >= 100 and len({d["id"] for d in data}) == len(data)
    assert {d["type"] for d in data} == TYPES
    assert sum(d["lang"] == "zh" for d in data) >= 15
    assert {d["split"] for d in data} == {"dev", "test"}
    assert {s for d in data for s in d["sources"]} == {p.name for p in SEEDS.iterdir()}  # type: ignore[attr-defined]


def test_every_evidence_quote_is_verbatim_in_a_cleaned_source() -> None:
    texts = {p.name: re.sub(r"\s+", " ", load_article(p, 2_000_000).text) for p in SEEDS.iterdir()}
    for d in items():
        for quote in d["evidence"]:  # type: ignore[attr-defined]
            assert any(quote in texts[s] for s in d["sources"]), (d["id"], quote)  # type: ignore[attr-defined]
