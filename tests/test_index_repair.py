"""An index left half written or damaged is found, named and repaired against the real Chroma:
never "unchanged" over it, never a traceback, the same answers after the repair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.app.cli import main
from qa.errors import IndexDamagedError
from qa.index.embeddings import Embedder
from qa.index.keyword import KeywordIndex
from qa.pipeline import QAPipeline

from .conftest import make_pipeline

QUESTION = "When was Haichen Precision Machinery established?"


def built(tmp_path: Path, articles: Path, embedder: Embedder) -> tuple[QAPipeline, str]:
    pipe = make_pipeline(tmp_path, articles, embedder)
    pipe.ingest()
    return pipe, pipe.ask(QUESTION).text


def fresh(pipe: QAPipeline) -> QAPipeline:
    """A new process's view of the same index."""
    return QAPipeline(pipe.settings, embedder=pipe.embedder)


def test_a_write_phase_cut_short_is_detected_and_repaired(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe, before = built(tmp_path, articles, embedder)
    store = pipe.store
    # as if killed after the BM25 folder was rewritten with a third of its chunks
    records = store.keyword.records
    kept = records[: len(records) // 3]
    KeywordIndex.write(store.folder / "keyword", kept, previous=store.keyword)
    store.begin_write()
    with pytest.raises(IndexDamagedError, match="run `qa ingest` to repair"):
        fresh(pipe).ask(QUESTION)
    assert "the last ingest did not finish" in fresh(pipe).store.problems()
    report = fresh(pipe).ingest()
    assert report.repaired and len(report.added) == 5 and not report.unchanged
    again = fresh(pipe)
    assert again.store.problems() == [] and again.ask(QUESTION).text == before


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda index: (index / "manifest.json").write_text("", encoding="utf-8"), "manifest"),
        (lambda index: (index / "keyword" / "records.jsonl").write_text("{", "utf-8"), "keyword"),
        (lambda index: (index / "keyword" / "sentences.npy").write_bytes(b"garbage"), "keyword"),
    ],
)
def test_a_damaged_file_gives_one_line_and_ingest_repairs_it(
    tmp_path: Path, articles: Path, embedder: Embedder, damage: object, expected: str
) -> None:
    pipe, before = built(tmp_path, articles, embedder)
    damage(pipe.settings.index_dir)  # type: ignore[operator]
    with pytest.raises(IndexDamagedError, match=f"{expected}.*run `qa ingest`"):
        fresh(pipe).ask(QUESTION)
    report = fresh(pipe).ingest()
    assert report.repaired and not report.unchanged
    assert fresh(pipe).ask(QUESTION).text == before


def test_manifest_missing_a_chunk_is_found_by_the_check(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe, _ = built(tmp_path, articles, embedder)
    path = pipe.settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    meta = next(iter(manifest["articles"].values()))
    meta["chunks"] = meta["chunks"][1:]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    problems = fresh(pipe).store.problems()
    assert any("the manifest lacks" in p for p in problems)


def test_a_garbled_chroma_store_is_rebuilt(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe, before = built(tmp_path, articles, embedder)
    sqlite = pipe.settings.index_dir / "chroma" / "chroma.sqlite3"
    sqlite.write_bytes(b"this is not a database" * 100)
    report = fresh(pipe).ingest(rebuild=True)
    assert len(report.added) == 5
    assert fresh(pipe).ask(QUESTION).text == before


def test_qa_ingest_check_exits_nonzero_on_a_damaged_index(
    tmp_path: Path, articles: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe, _ = built(tmp_path, articles, embedder)
    monkeypatch.setenv("QA_INDEX_DIR", str(pipe.settings.index_dir))
    monkeypatch.setenv("QA_ARTICLES_DIR", str(articles))
    runner = CliRunner()
    ok = runner.invoke(main, ["ingest", "--check"])
    assert ok.exit_code == 0 and "index: consistent" in ok.output
    pipe.store.begin_write()
    bad = runner.invoke(main, ["ingest", "--check"])
    assert bad.exit_code == 1 and "did not finish" in bad.output


def test_a_running_pipeline_sees_an_ingest_finished_by_another_process(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    """While four threads keep asking (a chat page), another process ingests: no question
    fails when the pipeline reopens the store under them, and the new article is found."""
    import os
    import shutil
    import subprocess
    import sys
    import threading

    from .conftest import DATA

    running, _ = built(tmp_path, articles, embedder)
    stop, failures, asked = threading.Event(), [], []

    def chat() -> None:
        for _ in range(2000):  # bounded; stopped long before
            if stop.is_set():
                return
            try:
                asked.append(running.ask(QUESTION).refused)
            except Exception as exc:  # any failure is the test's failure
                failures.append(repr(exc))

    threads = [threading.Thread(target=chat, daemon=True) for _ in range(4)]
    question = "How many enterprises has the Lanxi Battery Materials Park signed?"
    assert "lanxi_park.html" not in {p.source for p in running.ask(question).passages}
    shutil.copy(DATA / "lanxi_park.html", articles / "lanxi_park.html")
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(running.settings.index_dir),
        "QA_ARTICLES_DIR": str(articles),
        "QA_UPLOADS_DIR": str(running.settings.uploads_dir),
        "QA_WEB_DIR": str(running.settings.web_dir),
    }
    for thread in threads:
        thread.start()
    done = subprocess.run(
        [sys.executable, "-m", "qa.app.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = running.ask(question)  # the same pipeline object, no restart
    for _ in range(3):  # the chat threads go through the reopen too
        running.ask(question)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert failures == [] and asked and not any(asked)
    assert [p.source for p in answer.passages][:1] == ["lanxi_park.html"], [
        (p.source, p.score) for p in answer.passages
    ]


QUESTIONS = (
    QUESTION,
    "What is the Integration of Two Industries?",
    "How many enterprises has the Lanxi Battery Materials Park signed?",
)


def _change(articles: Path) -> None:
    """An edit, a new article and a deletion: the write phase deletes, upserts and rewrites."""
    import shutil

    from .conftest import DATA

    path = articles / "004_4da27102129140ac.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nOne more sentence.", "utf-8")
    shutil.copy(DATA / "lanxi_park.html", articles / "lanxi_park.html")
    (articles / "001_ae99122ffd5b407f.txt").unlink()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> list[str]:
    """The answers after an uninterrupted ingest of the changed articles."""
    import shutil

    from .conftest import SEEDS

    tmp = tmp_path_factory.mktemp("reference")
    shutil.copytree(SEEDS, tmp / "articles")
    _change(tmp / "articles")
    pipe = make_pipeline(tmp, tmp / "articles", embedder)
    pipe.ingest()
    return [pipe.ask(q).text for q in QUESTIONS]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["began", "deleted", "upserted", "keyword", "manifest"])
def test_a_kill_at_every_step_of_the_write_phase_is_repaired(
    tmp_path: Path, articles: Path, embedder: Embedder, reference: list[str], point: str
) -> None:
    import os
    import signal
    import subprocess
    import sys

    pipe, _ = built(tmp_path, articles, embedder)
    _change(articles)
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(pipe.settings.index_dir),
        "QA_ARTICLES_DIR": str(articles),
        "QA_UPLOADS_DIR": str(pipe.settings.uploads_dir),
        "QA_WEB_DIR": str(pipe.settings.web_dir),
        "QA_FAULT_POINT": point,
    }
    killed = subprocess.run(
        [sys.executable, "-m", "qa.app.cli", "ingest"], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL
    assert fresh(pipe).store.problems()  # the kill is seen, whatever state it left
    report = fresh(pipe).ingest()
    assert report.repaired and not report.unchanged
    after = fresh(pipe)
    assert after.store.problems() == []
    assert [after.ask(q).text for q in QUESTIONS] == reference


def test_an_emptied_vector_store_is_named_not_answered_from_bm25_alone(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    pipe, before = built(tmp_path, articles, embedder)
    pipe.store.vectors.drop()  # as a Chroma server restarted on an empty path
    with pytest.raises(IndexDamagedError, match=r"holds 0 chunks.*run `qa ingest`"):
        fresh(pipe).ask(QUESTION)
    assert fresh(pipe).ingest().repaired
    assert fresh(pipe).ask(QUESTION).text == before
