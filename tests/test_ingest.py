"""Incremental, idempotent ingest; skipped and duplicate files; model mismatch; one writer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.errors import IndexLockedError, IndexMismatchError
from qa.index.embeddings import Embedder
from qa.index.records import ChunkRecord
from qa.pipeline import QAPipeline
from qa.text import terms as segment

from .conftest import DATA, Counting, make_pipeline

PINGHU = "003_741e1901b211ff40.txt"


def test_first_ask_builds_the_index(pipeline: QAPipeline) -> None:
    assert not pipeline.store.exists()
    answer = pipeline.ask("When was Haichen Precision Machinery established?")
    assert pipeline.store.exists()
    assert answer.citations and answer.citations[0].source == PINGHU


def test_reingest_of_unchanged_articles_embeds_nothing(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    counting = Counting(embedder)
    pipe = make_pipeline(tmp_path, articles, counting)  # type: ignore[arg-type]
    first = pipe.ingest()
    assert len(first.added) == 5 and first.texts == counting.embedded
    assert first.embedded > 0 and first.sentences > 0
    before = counting.embedded
    second = pipe.ingest()
    assert counting.embedded == before and second.embedded == second.texts == 0
    assert sorted(second.unchanged) == sorted(first.added)
    assert not (second.added or second.updated or second.removed)


def test_changed_article_has_its_chunks_replaced(pipeline: QAPipeline, articles: Path) -> None:
    pipeline.ingest()
    old_ids = set(pipeline.store.manifest().articles[PINGHU].chunks)
    path = articles / PINGHU
    path.write_text(
        path.read_text(encoding="utf-8")
        + "\n\nThe Wutong glass bead cluster employs 5,300 workers.\n",
        encoding="utf-8",
    )
    report = pipeline.ingest()
    assert report.updated == [PINGHU] and report.embedded > 0
    new_ids = set(pipeline.store.manifest().articles[PINGHU].chunks)
    assert old_ids.isdisjoint(new_ids)
    assert pipeline.store.vectors.collection.get(ids=sorted(old_ids))["ids"] == []
    assert not {r.id for r in pipeline.store.keyword.records} & old_ids
    answer = pipeline.ask("How many workers does the Wutong glass bead cluster employ?")
    assert "5,300" in answer.text


def test_deleted_article_is_never_retrieved_again(pipeline: QAPipeline, articles: Path) -> None:
    pipeline.ingest()
    (articles / PINGHU).unlink()
    report = pipeline.ingest()
    assert report.removed == [PINGHU]
    for mode in ("hybrid", "dense", "bm25"):
        answer = pipeline.ask(
            "Haichen Precision Machinery Pinghu CNC machine tool cluster", mode=mode, k=50
        )  # type: ignore[arg-type]
        assert PINGHU not in {p.source for p in answer.passages}
    assert pipeline.store.vectors.collection.get(where={"source": PINGHU})["ids"] == []


def test_bad_file_is_skipped_and_named_and_the_rest_ingest(
    pipeline: QAPipeline, articles: Path
) -> None:
    (articles / "broken.txt").write_bytes(b"\x00\xff\x00 not text")
    (articles / "empty.md").write_text("   \n", encoding="utf-8")
    (articles / "slides.pptx").write_bytes(b"PK\x03\x04")
    (articles / "cut.pdf").write_bytes(b"%PDF-1.4")  # a PDF cut short
    report = pipeline.ingest()
    assert len(report.added) == 5 and not report.ok
    reasons = dict(report.skipped)
    assert set(reasons) == {"broken.txt", "empty.md", "slides.pptx", "cut.pdf"}
    assert "binary" in reasons["broken.txt"] and "unsupported" in reasons["slides.pptx"]
    assert "not a readable PDF" in reasons["cut.pdf"]


def test_a_file_that_turns_bad_keeps_its_indexed_version(
    pipeline: QAPipeline, articles: Path
) -> None:
    pipeline.ingest()
    (articles / PINGHU).write_bytes(b"\x00\x00")
    report = pipeline.ingest()
    assert [name for name, _ in report.skipped] == [PINGHU] and not report.removed
    assert PINGHU in pipeline.store.manifest().articles


def test_same_text_under_two_names_is_a_duplicate(pipeline: QAPipeline, articles: Path) -> None:
    pipeline.ingest()
    (articles / "zz_copy.txt").write_bytes((articles / PINGHU).read_bytes())
    report = pipeline.ingest()
    assert report.duplicates == [("zz_copy.txt", PINGHU)] and not report.added


def test_other_formats_and_a_second_folder_ingest_incrementally(
    pipeline: QAPipeline, tmp_path: Path
) -> None:
    pipeline.ingest()
    extra = tmp_path / "extra"
    extra.mkdir()
    for name in ("lanxi_park.html", "deqing_geo.md"):
        (extra / name).write_bytes((DATA / name).read_bytes())
    report = pipeline.ingest(str(extra))
    assert sorted(report.added) == ["deqing_geo.md", "lanxi_park.html"] and not report.removed
    answer = pipeline.ask("How many enterprises has the Lanxi Battery Materials Park signed?")
    assert answer.citations[0].source == "lanxi_park.html" and "420" in answer.text
    assert len(pipeline.store.manifest().articles) == 7


def test_index_built_with_another_model_asks_for_a_rebuild(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    make_pipeline(tmp_path, articles, embedder).ingest()
    other = make_pipeline(tmp_path, articles, embedder, chunk_size=400, chunk_overlap=80)
    with pytest.raises(IndexMismatchError, match=r"qa ingest --rebuild"):
        other.ask("What is the Integration of Two Industries?")
    report = other.ingest(rebuild=True)
    assert len(report.added) == 5
    assert other.ask("What is the Integration of Two Industries?").citations


def test_a_second_writer_fails_at_once_naming_the_holder(pipeline: QAPipeline) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from qa.corpus.ingest import writer_lock\n"
            "with writer_lock(Path(sys.argv[1])):\n print('locked', flush=True); time.sleep(30)",
            str(pipeline.store.folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(IndexLockedError, match=rf"pid {holder.pid}"):
            pipeline.ingest()
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert pipeline.ingest().added  # the lock is free again once the holder is gone


def test_odd_files_are_skipped_with_a_reason_and_never_hang(
    pipeline: QAPipeline, articles: Path, tmp_path: Path
) -> None:
    import os

    outside = tmp_path / "secret.txt"
    outside.write_text("Root login\n\nroot:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    os.mkfifo(articles / "pipe.txt")
    (articles / "dir.txt").mkdir()
    (articles / "passwd_link.txt").symlink_to(outside)
    (articles / "inside_link.txt").symlink_to(articles / "003_741e1901b211ff40.txt")
    report = pipeline.ingest()
    reasons = dict(report.skipped)
    assert "not a regular file" in reasons["pipe.txt"]
    assert "a folder" in reasons["dir.txt"]
    assert "outside the folder" in reasons["passwd_link.txt"]
    assert len(report.added) == 5  # the link inside the folder is a duplicate, not an article
    answer = pipeline.ask("root login shell", sources=["passwd_link.txt"])
    assert answer.refused and "root:x" not in answer.text


def test_a_folder_of_odd_files_loses_no_good_article(
    pipeline: QAPipeline, articles: Path, tmp_path: Path
) -> None:
    import os

    good = {
        "name with spaces.txt": "Spaces park opens\n\nThe park opened with 12 firms.",
        "浙江园区.txt": "浙江园区签约\n\n园区签约了8个项目。",
        "ünïcode.md": "# Ünïcode article\n\nIt has a title and a body.",
        "utf16.txt": None,
        "gbk.txt": None,
    }
    for name, text in good.items():
        if text is not None:
            (articles / name).write_text(text, encoding="utf-8")
    (articles / "utf16.txt").write_bytes("UTF-16 news\n\nThe zone grew.".encode("utf-16"))
    (articles / "gbk.txt").write_bytes("国标新闻\n\n新区增长了百分之五。".encode("gbk"))
    bad = {
        "binary.txt": b"\x00\x01\x02\xff" * 100,
        "empty.txt": b"",
        "blank.md": b"   \n\n  \t\n",
        "chrome.txt": "【print】 【close】\n browsing: 12".encode(),
        "huge.txt": b"A title\n\n" + b"word " * 500_000,
        "slides.pdf": b"%PDF-1.4",
        "bad.html": b"<html><body></body></html>",
    }
    for name, data in bad.items():
        (articles / name).write_bytes(data)
    os.mkfifo(articles / "fifo.txt")
    (articles / "folder.md").mkdir()
    (articles / "away.txt").symlink_to(tmp_path / "missing-target.txt")  # a dangling link
    report = pipeline.ingest()
    skipped = dict(report.skipped)
    assert set(report.added) == {*good, *(p.name for p in articles.glob("0*.txt"))}
    expected = {*bad, "fifo.txt", "folder.md", "away.txt"}
    assert set(skipped) == expected and all(skipped[name] for name in expected)


def test_an_added_article_tokenises_only_its_own_chunks(
    pipeline: QAPipeline, articles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.index import keyword

    pipeline.ingest()
    before = len(pipeline.store.keyword.records)
    tokenised: list[str] = []
    real = keyword.record_terms

    def spy(record: ChunkRecord) -> list[str]:
        tokenised.append(record.source)
        return real(record)

    monkeypatch.setattr(keyword, "record_terms", spy)
    (articles / "new.txt").write_text(
        "Tongxiang opens a park\n\nThe Tongxiang park opened with 12 firms in March 2024.\n",
        encoding="utf-8",
    )
    pipeline.ingest()
    assert set(tokenised) == {"new.txt"} and len(pipeline.store.keyword.records) > before
    lines = (pipeline.settings.index_dir / "keyword" / "terms.jsonl").read_text("utf-8")
    assert len(lines.splitlines()) == len(pipeline.store.keyword.records)
    assert pipeline.ask("How many firms did the Tongxiang park open with?").citations


def test_the_titles_terms_are_read_from_the_index(pipeline: QAPipeline) -> None:
    """The answer stage weighs a sentence's title too: its terms come from the index, as
    the sentences' do, the same as segmenting it again would give."""
    pipeline.ingest()
    keyword = pipeline.store.keyword
    titles = keyword.first_sentence_terms({r.source for r in keyword.records})
    assert {r.title for r in keyword.records} <= titles.keys()
    assert all(found == frozenset(segment(title)) for title, found in titles.items())


def test_an_index_built_in_two_ingests_equals_one_built_at_once(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    """Vectors and terms of the chunks an earlier ingest holds are carried from its files, and
    the new ones read back from the staged batches: row for row what one ingest writes."""
    import numpy as np

    whole = make_pipeline(tmp_path / "whole", articles, embedder)
    whole.ingest()
    later = sorted(articles.iterdir())[:2]
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in later:
        path.rename(aside / path.name)
    steps = make_pipeline(tmp_path / "steps", articles, embedder)
    steps.ingest()
    for path in later:
        (aside / path.name).rename(articles / path.name)
    assert len(steps.ingest().added) == 2

    def by_chunk(pipe: QAPipeline) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        index, folder = pipe.store.keyword, pipe.settings.index_dir / "keyword"
        chunks = np.load(folder / "chunks.npy")
        terms = (folder / "terms.jsonl").read_text("utf-8").splitlines()
        return {
            r.id: (index.sentence_vectors([i]), chunks[i], terms[i])
            for i, r in enumerate(index.records)
        }

    one, two = by_chunk(whole), by_chunk(steps)
    assert one.keys() == two.keys()
    for chunk, (sentences, vector, terms) in one.items():
        # the embedder's last bits depend on which texts share its batch
        assert np.allclose(sentences, two[chunk][0], atol=2e-3), chunk
        assert np.allclose(vector, two[chunk][1], atol=2e-3) and terms == two[chunk][2], chunk
