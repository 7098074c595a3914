"""The lab's compare-retrieval: fusion as the retriever does it, and a run on RGB's first questions.

The run reads the first questions of the real en_fact file from `../shared/benchmarks/` and
skips when it is absent (a fresh clone).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.answer.retrieval import fuse
from qa.eval.lab import lab
from qa.eval.retrieval_compare import hybrid_rankings

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks"


def test_weighted_rrf_favours_the_heavier_ranking_and_keeps_ties_in_first_seen_order() -> None:
    assert [k for k, _ in fuse([(1.0, ["a", "b"]), (1.0, ["b", "a"])], 60)] == ["a", "b"]
    assert hybrid_rankings([[0, 1]], [[1, 0]], (1.0, 2.0), 60) == [[1, 0]]
    assert hybrid_rankings([[0, 1]], [[2]], (1.0, 1.0), 20) == [[0, 2, 1]]


@pytest.mark.slow  # ~5 s alone, 15 s on 2 busy cores (loading the model, embedding 49 passages)
@pytest.mark.skipif(
    not (BENCH / "rgb" / "en_fact.dev.jsonl").is_file(),
    reason="no RGB data at ../shared/benchmarks/rgb (it is never committed; see README)",
)
def test_compare_retrieval_on_three_english_questions_with_use_and_bm25(tmp_path: Path) -> None:
    args = ["compare-retrieval", "--set", "en", "--embedder", "use", "--limit", "5"]
    args += ["--benchmarks", str(BENCH), "--cache", str(tmp_path / "cache")]
    args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(lab, args)
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "compare.md").read_text(encoding="utf-8")
    assert "## en: full corpus" in report and ", 3 items" in report  # tune ids 0, 4, 8
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1:6]
        for line in report.splitlines()
        if line.startswith("| ") and "|---" not in line
    }
    assert {"bm25", "dense use", "hybrid use 0.5:2 k=60 (default)"} <= set(rows)
    assert all(0.0 <= float(v) <= 1.0 for k in ("bm25", "dense use") for v in rows[k])
    assert "minilm" not in report and "LangChain" not in report  # only what was asked for
    assert report in result.output
    again = CliRunner().invoke(lab, args)
    assert again.exit_code == 0 and "en-passages" not in again.output  # nothing re-embedded
