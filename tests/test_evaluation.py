"""The eval harness: metrics on hand-made answers, the gate, reports, and the CI quality gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import ConfigError
from qa.eval.evaluation import (
    EvalItem,
    Row,
    fact_hits,
    first_gold_rank,
    load_dataset,
    metrics,
    risk_coverage,
)
from qa.eval.plan import EvalPlan
from qa.eval.run import evaluate
from qa.models import Answer, Citation, Passage
from qa.pipeline import QAPipeline

from .conftest import ROOT

DATASET = ROOT / "evals" / "qa_pairs.jsonl"
THRESHOLDS = ROOT / "evals" / "thresholds.toml"


def answer(text: str, sources: list[str], cited: list[str], refused: bool = False) -> Answer:
    return Answer(
        question="q",
        text=text,
        refused=refused,
        backend="extractive",
        timings={"total": 5.0},
        passages=[
            Passage(rank=i, source=s, chunk_id=str(i), text="t", score=1 / i)
            for i, s in enumerate(sources, start=1)
        ],
        citations=[
            Citation(n=i, source=s, title="t", date=None, quote="q", start=0, end=1, verified=True)
            for i, s in enumerate(cited, start=1)
        ],
    )


def test_metrics_on_known_answers() -> None:
    good = EvalItem(
        id="a",
        question="q",
        key_facts=[["70"], ["14 billion", "140亿"]],
        sources=["x.txt"],
        type="number",
    )
    half = EvalItem(id="b", question="q", key_facts=[["1998"], ["CNC"]], sources=["y.txt"])
    trap = EvalItem(id="c", question="q", type="unanswerable", answerable=False)
    rows = [
        Row(
            good,
            a := answer("More than 70 firms made 14 Billion yuan.", ["x.txt"], ["x.txt"]),
            fact_hits(good, a),
            first_gold_rank(good, a),
            True,
        ),
        Row(
            half,
            b := answer("Founded in 1998.", ["x.txt", "z.txt", "y.txt"], ["x.txt"]),
            fact_hits(half, b),
            first_gold_rank(half, b),
            True,
        ),
        Row(
            trap,
            c := answer("The indexed articles do not …", ["x.txt"], [], refused=True),
            fact_hits(trap, c),
            first_gold_rank(trap, c),
            True,
        ),
    ]
    m = metrics(rows)
    assert (
        m["hit@1"] == 0.5
        and m["hit@3"] == 1.0
        and m["mrr"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)
    )
    assert m["key_fact_recall"] == 0.75 and m["all_facts"] == 0.5
    assert m["citation_precision"] == 0.5 and m["cited_share"] == 1.0
    assert m["refusal_rate"] == 1.0 and m["false_refusal_rate"] == 0.0


def test_facts_match_whole_words_only() -> None:
    item = EvalItem(id="a", question="q", key_facts=[["8"]])
    assert fact_hits(item, answer("There are 8 core areas.", [], [])) == [True]
    assert fact_hits(item, answer("In 2018 it began.", [], [])) == [False]


def test_a_bad_dataset_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "1", "question": "ok?"}\n{"id": 2}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine.jsonl:2 is not a valid Q&A pair"):
        load_dataset(path)


def test_offline_eval_on_the_test_split_passes_the_gate(seeded: QAPipeline, tmp_path: Path) -> None:
    result = evaluate(seeded, EvalPlan(DATASET, split="test", out=tmp_path, thresholds=THRESHOLDS))
    assert result.failures == []
    run = result.runs[0]
    assert run.overall["citation_support"] == 1.0
    assert {"number", "unanswerable", "chinese"} <= set(run.by_type)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert len(report["runs"][0]["items"]) == run.overall["items"]
    assert "| hit@3 |" in (tmp_path / "report.md").read_text(encoding="utf-8")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "<script" not in page


def test_ablations_are_side_by_side_and_a_strict_gate_fails(
    seeded: QAPipeline, tmp_path: Path
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text('[min]\nkey_fact_recall = 0.99\n[max]\n"latency_p50_ms" = 0.001\n')
    plan = EvalPlan(
        DATASET,
        split="dev",
        retrievers=("hybrid", "dense", "bm25"),
        out=tmp_path,
        thresholds=strict,
    )
    result = evaluate(seeded, plan)
    assert [r.retriever for r in result.runs] == ["hybrid", "dense", "bm25"]
    assert len(result.failures) == 2 and "key_fact_recall" in result.failures[0]
    header = (tmp_path / "report.md").read_text(encoding="utf-8").split("## Headline")[1]
    assert "hybrid / extractive | dense / extractive | bm25 / extractive" in header


def test_risk_coverage_counts_what_each_operating_point_would_answer() -> None:
    from qa.models import Considered, Trace

    def traced(probability: float, refused: bool) -> Answer:
        seen = Considered(source="x.txt", quote="q", score=probability, features={})
        trace = Trace(
            analysis={},
            policy="p",
            threshold=0.06,
            decision="d",
            chosen=[] if refused else [seen],
            best_rejected=seen if refused else None,
        )
        return answer("a", ["x.txt"], [], refused).model_copy(update={"trace": trace})

    right = EvalItem(id="a", question="q", key_facts=[["70"]], sources=["x.txt"])
    trap = EvalItem(id="c", question="q", type="unanswerable", answerable=False)
    rows = [
        Row(right, traced(0.9, False), [True], 1, True),
        Row(right, traced(0.3, False), [False], 1, True),  # answered without the fact
        Row(trap, traced(0.08, False), [], 1, True),  # a near miss answered
        Row(trap, traced(0.01, True), [], 1, True),
    ]
    curve = {p["operating_point"]: p for p in risk_coverage(rows)}
    assert curve[0.06] == {"operating_point": 0.06, "coverage": 0.75, "risk": round(2 / 3, 4)}
    assert curve[0.5] == {"operating_point": 0.5, "coverage": 0.25, "risk": 0.0}


def test_the_eval_says_when_the_index_is_not_the_pairs_articles() -> None:
    from qa.eval.run import index_note

    items = [EvalItem(id="1", question="q?", sources=["a.txt", "b.txt"])]
    assert index_note({"a.txt", "b.txt"}, items) is None
    extra = index_note({"a.txt", "b.txt", "mine.txt"}, items)
    assert extra is not None and extra.startswith("the index holds 1 article besides the 2")
    assert "--only" in extra
    missing = index_note({"a.txt"}, items)
    assert missing is not None and "1 article the pairs cite is not indexed (b.txt)" in missing
    assert index_note({"x.txt"}, [EvalItem(id="2", question="q?")]) is None  # pairs cite none
