"""The chat page's handlers, called as plain functions over a real pipeline (no browser)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from qa.app.render import escape
from qa.app.ui import ChatPage, Turn
from qa.eval.evaluation import load_dataset
from qa.index.embeddings import Embedder
from qa.pipeline import QAPipeline

from .conftest import DATA, make_pipeline

PINGHU = "003_741e1901b211ff40.txt"
PINGHU_Q = "When was Haichen Precision Machinery established?"
TONGLU_Q = "How many enterprises are in the Tonglu Bamboo Fibre Industrial Park?"


@pytest.fixture
def page(pipeline: QAPipeline) -> ChatPage:
    return ChatPage(pipeline)


def ask(page: ChatPage, question: str, turns: list[Turn] | None = None, **options: Any) -> Any:
    """Every (question box, messages, turns) step of one streamed answer."""
    return list(page.respond(question, turns or [], **options))


def test_answer_streams_then_shows_its_sources(page: ChatPage) -> None:
    steps = ask(page, PINGHU_Q)
    assert steps[0][0].interactive is False  # the box is locked while the answer streams
    assert any("qa-streaming" in s[1][-1]["content"] for s in steps[1:-1])
    box, messages, turns = steps[-1]
    assert box.interactive is True
    assert [m["role"] for m in messages] == ["user", "assistant"]
    final = messages[-1]["content"]
    assert '<span class="qa-ref">[1]</span>' in final and escape(PINGHU) in final
    assert "1998" in final and turns[0].answer.citations[0].source == PINGHU


def test_follow_up_passes_the_history_to_the_pipeline(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    seen: list[Any] = []

    class Recording(QAPipeline):
        def ask_stream(self, question: str, **options: object) -> Any:
            seen.append(options["history"])
            return super().ask_stream(question, **options)

    pipe = Recording(make_pipeline(tmp_path, articles, embedder).settings, embedder=embedder)
    page = ChatPage(pipe)
    turns = ask(page, PINGHU_Q)[-1][2]
    ask(page, "When was it established?", turns)
    assert seen[0] == [] and seen[1] == [(PINGHU_Q, turns[0].answer.text)]


def test_a_bad_question_or_date_becomes_a_message_and_unlocks_the_box(page: ChatPage) -> None:
    for question, options in (("???", {}), (PINGHU_Q, {"since": "last spring"})):
        box, messages, turns = ask(page, question, **options)[-1]
        assert box.interactive is True and 'class="qa-error"' in messages[-1]["content"]
        assert turns[0].answer is None and turns[0].error


def test_filters_reach_the_pipeline(page: ChatPage) -> None:
    turns = ask(page, PINGHU_Q, sources=["000_8914bb077c7574b6.txt"], k=3, mode="bm25")[-1][2]
    answer = turns[0].answer
    assert {p.source for p in answer.passages} == {"000_8914bb077c7574b6.txt"}
    assert len(answer.passages) <= 3


def test_unanswerable_question_is_a_refusal(page: ChatPage) -> None:
    final = ask(page, "How many employees does Haichen Precision Machinery have?")[-1][1][-1]
    assert 'class="qa-refusal"' in final["content"] and "Closest articles" in final["content"]


def test_rating_is_stored_as_an_eval_item(page: ChatPage, pipeline: QAPipeline) -> None:
    turns = ask(page, PINGHU_Q)[-1][2]
    assert "saved" in page.rate(turns, 1, liked=True)
    assert "saved" in page.rate(turns, 1, liked=False)
    assert "no answer" in page.rate(turns, 7, liked=True)
    items = load_dataset(pipeline.settings.feedback_file)
    assert [i.question for i in items] == [PINGHU_Q, PINGHU_Q]
    liked, disliked = items
    assert liked.type == "feedback" and liked.sources == [PINGHU] and liked.should_answer
    assert liked.evidence == [turns[0].answer.citations[0].quote]
    assert disliked.sources == [] and disliked.answerable is None


def test_upload_makes_an_article_answerable_and_a_bad_file_changes_nothing(
    page: ChatPage, pipeline: QAPipeline, tmp_path: Path
) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = shutil.copy(DATA / "tonglu_bamboo.txt", incoming)
    binary = incoming / "scan.txt"
    binary.write_bytes(b"\x00\x01 not text")
    clash = incoming / PINGHU
    clash.write_text("A different article with a seed's name.\n\nIt has text.", encoding="utf-8")
    sheet = incoming / "report.xlsx"  # PDF and Word files are articles; a spreadsheet is not
    sheet.write_bytes(b"PK\x03\x04")
    before = {a.source for a in pipeline.articles()}
    summary = page.upload([str(good), str(binary), str(clash), str(sheet)])
    assert "**Added:** tonglu&#95;bamboo&#46;txt" in summary
    for name, reason in (("scan", "binary"), (escape(PINGHU), "rename"), ("report", "type")):
        assert re.search(rf"\*\*Skipped\*\* {name}.*{reason}", summary), summary
    assert sorted(p.name for p in pipeline.settings.uploads_dir.iterdir()) == ["tonglu_bamboo.txt"]
    assert {a.source for a in pipeline.articles()} == before | {"tonglu_bamboo.txt"}
    final = ask(page, TONGLU_Q)[-1][2][0].answer
    assert "412" in final.text and final.citations[0].source == "tonglu_bamboo.txt"
    assert "Unchanged:** tonglu" in page.upload([str(good)])  # the same file again: no work
    pipeline.ingest(rebuild=True)  # uploads live outside seeds and the index: they survive
    assert "tonglu_bamboo.txt" in {a.source for a in pipeline.articles()}


def test_upload_over_the_size_limit_is_refused(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    page = ChatPage(make_pipeline(tmp_path, articles, embedder, max_upload_bytes=100))
    summary = page.upload([str(DATA / "tonglu_bamboo.txt")])
    assert "upload limit" in summary and "Added" not in summary
    assert page.upload(None).startswith("Choose")


def test_same_file_name_in_two_folders_is_reported_not_overwritten(
    pipeline: QAPipeline, articles: Path
) -> None:
    uploads = pipeline.settings.uploads_dir
    uploads.mkdir(parents=True)
    (uploads / PINGHU).write_text("Other text.\n\nAbout something else.", encoding="utf-8")
    report = pipeline.ingest()
    assert [n for n, _ in report.skipped] == [f"uploads/{PINGHU}"]
    assert "same file name as articles/" in report.skipped[0][1]
    assert "70 enterprises" in pipeline.article_text(PINGHU)


def test_articles_tab_lists_every_article_and_shows_its_text(page: ChatPage) -> None:
    rows = page.listing().rows
    assert len(rows) == 5 and all(isinstance(r[2], int) and r[2] > 0 for r in rows)
    assert PINGHU in [r[3] for r in rows]
    assert "70 enterprises" in page.article_text(PINGHU)
    assert "not in the index" in page.article_text("nope.txt")


def test_a_full_chat_says_it_is_busy_inside_the_chat(page: ChatPage) -> None:
    import gradio as gr

    from qa.app.ui import BUSY

    page.gate.most_waiting = 0  # no room to wait: every question past the slots is told
    box, messages, turns = ask(page, PINGHU_Q)[-1]
    assert box.interactive is True
    assert turns[0].error == BUSY and escape(BUSY) in messages[-1]["content"]
    with pytest.raises(gr.Error, match="busy"):  # the API endpoint passes the same gate
        page.api_ask(PINGHU_Q)



def test_citation_markers_link_to_their_sources_entry(page: ChatPage) -> None:
    _, messages, _ = ask(page, PINGHU_Q)[-1]
    assert '<a class="qa-ref" href="#qa-t0-src-1"' in messages[-1]["content"]
    assert '<li id="qa-t0-src-1">' in messages[-1]["content"]
