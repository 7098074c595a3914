"""`qa bench --corpus` on the five seed articles: both systems and the `chroma run` row are
measured, the report has every column, the goals and the plot, and a rerun keeps the indexes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.eval.bench import dealt, probes
from qa.eval.bench_report import COLUMNS

from .conftest import ROOT, SEEDS

pytestmark = [pytest.mark.slow, pytest.mark.chroma_server]


def _bench(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "qa.eval", "bench", "--corpus", str(SEEDS)]
    command += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    command += ["--questions", "3", "--cold-runs", "1"]
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "unused-index")}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True
    )


def test_bench_on_the_seeds_writes_every_column_and_keeps_its_indexes(tmp_path: Path) -> None:
    first = _bench(tmp_path)
    out = tmp_path / "out"
    table = (out / "bench.md").read_text(encoding="utf-8")
    assert "| " + " | ".join(COLUMNS) + " |" in table
    data = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    systems = [r["system"] for r in data["rows"]]
    assert systems == ["delta-qa", "langchain", "delta-qa + chroma run"]
    ours, recipe, served = data["rows"]
    for row in (ours, recipe):
        assert row["ingest"]["chunks"] > 0 and row["ingest"]["raw_chars_per_s"] > 0
        assert row["ingest"]["peak_rss_mb"] > 0 and row["index_mb"] > 0
    for row in (ours, recipe, served):
        assert row["hitk"] == 1.0  # each question is its own article's title
        assert None not in (row["p50_ms"], row["source_p50_ms"], row["date_p50_ms"])
    assert ours["cold_s"] > 0 and {"embed", "dense", "bm25", "answer"} <= set(ours["stages"])
    assert len(data["goals"]) == 7 and all(g["met"] is not None for g in data["goals"])
    page = (out / "bench.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in page and "<h2>Goals</h2>" in page
    assert (out / "bench.png").read_bytes().startswith(b"\x89PNG")
    assert "ingest" in first.stderr

    again = _bench(tmp_path)
    assert "index kept from an earlier run" in again.stderr
    assert ": ingest\n" not in again.stderr


def test_questions_come_from_the_articles_titles() -> None:
    found = probes(SEEDS, 3)
    assert len(found) == 3 and len({q.source for q in found}) == 3
    assert all(q.text[:20] in (SEEDS / q.source).read_text(encoding="utf-8") for q in found)


def test_each_question_is_asked_once_and_every_kind_of_ask_is_made() -> None:
    questions = probes(SEEDS, 5)
    asks = dealt(questions)
    assert [q for q, _, _ in asks] == questions  # once each: no ask finds its question cached
    assert {kind for _, kind, _ in asks} == {"all", "source", "date"}
    assert all(q.date is not None for q, kind, _ in asks if kind == "date")
