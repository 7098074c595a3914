"""The `qa` command as a user runs it, in process (click's CliRunner): printed answers, exit
codes, in a folder of its own with no QA_ settings. (`tests/test_wheel.py` runs the installed
console script itself.)"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qa import default_pipeline
from qa.app.cli import main

from .conftest import SEEDS


def qa(*args: str, cwd: Path, stdin: str | None = None) -> Result:
    """`qa ARGS` run in `cwd`, with a pipeline of its own built from that folder's settings."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("QA_")}
    here = Path.cwd()
    default_pipeline.cache_clear()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), input=stdin, env=unset)
    finally:
        os.chdir(here)
        default_pipeline.cache_clear()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like a fresh checkout: seeds/ and no index yet."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(SEEDS, root / "seeds")
    return root


def test_ask_from_a_fresh_checkout_builds_the_index_and_prints_sources(project: Path) -> None:
    result = qa("ask", "When was Haichen Precision Machinery established?", cwd=project)
    assert result.exit_code == 0, result.stderr
    assert "1998" in result.stdout
    assert "Sources:\n[1] The first batch of provincial" in result.stdout
    assert "003_741e1901b211ff40.txt, 2023-08-17" in result.stdout
    assert (project / ".qa-index" / "manifest.json").exists()


def test_ingest_again_reports_nothing_to_do(project: Path) -> None:
    result = qa("ingest", cwd=project)
    assert result.exit_code == 0
    assert "added 0, updated 0, removed 0, unchanged 5, skipped 0 (0 new chunks" in result.stdout


def test_ask_json(project: Path) -> None:
    result = qa("ask", "--json", "When was Haichen Precision Machinery established?", cwd=project)
    data = json.loads(result.stdout)
    assert data["refused"] is False and data["citations"][0]["source"] == "003_741e1901b211ff40.txt"


def test_bad_question_is_one_line_and_exit_code_2(project: Path) -> None:
    result = qa("ask", "   ", cwd=project)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: the question is empty")


def test_skipped_file_is_named_and_exit_code_says_so(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    (tmp_path / "seeds" / "bad.txt").write_bytes(b"\x00\x00\x00")
    result = qa("ingest", cwd=tmp_path)
    assert result.exit_code == 1
    assert "skipped bad.txt: binary file" in result.stderr
    assert "added 5" in result.stdout


def test_interactive_questions_from_the_terminal(project: Path) -> None:
    result = qa("ask", cwd=project, stdin="What is the Integration of Two Industries?\n\n")
    assert result.exit_code == 0 and "[1]" in result.stdout


def test_eval_prints_a_table_writes_reports_and_gates(project: Path) -> None:
    dataset = str(SEEDS.parent / "evals" / "qa_pairs.jsonl")
    strict = project / "strict.toml"
    strict.write_text("[min]\nkey_fact_recall = 0.99\n", encoding="utf-8")
    result = qa(
        "eval",
        "--dataset",
        dataset,
        "--split",
        "dev",
        "--thresholds",
        str(strict),
        "--out",
        "report",
        cwd=project,
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("metric") and "hit@3" in result.stdout
    assert "gate: key_fact_recall" in result.stderr
    assert {p.name for p in (project / "report").iterdir()} == {
        "report.md",
        "report.json",
        "report.html",
    }
    ok = qa(
        "eval", "--dataset", dataset, "--split", "dev", "--no-gate", "--out", "report", cwd=project
    )
    assert ok.exit_code == 0


def test_printed_answer_marks_an_unverified_citation(capsys: pytest.CaptureFixture[str]) -> None:
    from qa.app.cli import _print_answer
    from qa.models import Answer, Citation

    def citation(n: int, verified: bool) -> Citation:
        return Citation(
            n=n, source="a.txt", title="T", date=None, quote="q", start=0, end=1, verified=verified
        )

    answer = Answer(
        question="q",
        text="It has 70 firms [1], and 90 more [2].",
        refused=False,
        citations=[citation(1, True), citation(2, False)],
        passages=[],
        backend="llm",
        timings={},
        notice="1 of this answer's 2 claims could not be checked",
    )
    _print_answer(answer, as_json=False)
    out = capsys.readouterr().out
    assert out.startswith("It has 70 firms [1], and 90 more [2, unverified].")
    assert (
        "[2] T (a.txt), chars 0-1 (unverified: the cited passage does not state this claim)" in out
    )
    assert "note: 1 of this answer's 2 claims could not be checked" in out


def test_own_articles_beside_the_seeds_then_alone(tmp_path: Path) -> None:
    """`qa ingest mine/` adds beside the seeds and says so; `qa eval` then warns that its
    figures are not the seeds' own; `--only` leaves the index holding mine/ alone."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "harbour.txt").write_text(
        "Ningbo opens a test harbour\n\nThe Ningbo test harbour opened on 3 May 2024 with 14 "
        "berths for automated container ships.\n",
        encoding="utf-8",
    )
    assert qa("ingest", cwd=tmp_path).stdout.endswith("index: 5 articles: 5 from seeds\n")
    beside = qa("ingest", "mine", cwd=tmp_path)
    assert "index: 6 articles: 5 from seeds, 1 from mine" in beside.stdout
    dataset = str(SEEDS.parent / "evals" / "qa_pairs.jsonl")
    scored = qa(
        "eval", "--dataset", dataset, "--split", "dev", "--no-gate", "--out", "r", cwd=tmp_path
    )
    assert scored.exit_code == 0, scored.stderr
    assert (
        "note: the index holds 1 article besides the 5 the pairs cite (harbour.txt)"
        in scored.stderr
    )
    assert "Note: the index holds 1 article" in (tmp_path / "r" / "report.md").read_text("utf-8")
    alone = qa("ingest", "mine", "--only", cwd=tmp_path)
    assert "removed 5" in alone.stdout and alone.stdout.endswith("index: 1 article: 1 from mine\n")
    answer = qa("ask", "How many berths does the Ningbo test harbour have?", cwd=tmp_path)
    assert "14" in answer.stdout and "harbour.txt" in answer.stdout
    assert (tmp_path / "seeds").is_dir() and len(list((tmp_path / "seeds").iterdir())) == 5
