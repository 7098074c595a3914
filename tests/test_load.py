"""A crowd on a real `qa chat` page: every client gets an answer or the busy message in words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qa.app.load import classify, main, run_load
from qa.app.render import render_error
from qa.app.ui import BUSY
from qa.pipeline import QAPipeline

from .conftest import SEEDS, chat_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_page(seeded: QAPipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`qa chat` over the seed index with room for one answer at a time and two waiting."""
    home = tmp_path_factory.mktemp("load")
    with chat_page(
        home,
        180,
        QA_ARTICLES_DIR=str(SEEDS),
        QA_INDEX_DIR=str(seeded.settings.index_dir),
        QA_UPLOADS_DIR=str(seeded.settings.uploads_dir),
        QA_WEB_DIR=str(seeded.settings.web_dir),
        QA_FEEDBACK_FILE=str(home / "feedback.jsonl"),
        QA_BACKEND="extractive",
        QA_CHAT_CONCURRENCY="1",
        QA_CHAT_QUEUE_SIZE="2",
        QA_CHAT_PATIENCE="3",
    ) as url:
        yield url


def test_a_crowd_gets_answers_or_the_busy_message(small_page: str) -> None:
    report = run_load(small_page, clients=12, seconds=8, timeout=60)
    assert report.count("error") == 0, report.lines()
    assert report.count("timeout") == 0, report.lines()
    assert report.count("answer") >= 1 and report.count("busy") >= 1, report.lines()
    assert report.ok


def test_the_command_prints_counts_and_exits_zero(
    small_page: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([small_page, "--clients", "2", "--seconds", "1", "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "2 clients for 1 s" in out and "error 0, timeout 0" in out
    assert "latency of answers: p50" in out


def test_replies_are_sorted_by_what_the_chat_shows() -> None:
    def chat(content: object) -> list[dict[str, object]]:
        return [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]

    assert classify(chat(render_error(BUSY)))[0] == "busy"
    assert classify(chat([{"type": "text", "text": render_error(BUSY)}]))[0] == "busy"
    assert classify(chat('<div class="qa-answer">It was 1998. [1]</div>'))[0] == "answer"
    assert classify(chat('<div class="qa-refusal"><p>Not answered</p></div>'))[0] == "answer"
    kind, detail = classify(chat(render_error("the index is damaged: run `qa ingest`")))
    assert kind == "error" and "qa ingest" in detail
    assert classify([])[0] == "error"
