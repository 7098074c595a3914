"""What the chat page shows: escaped text, visible [n] markers, Sources, refusals, notices."""

from __future__ import annotations

import datetime as dt
import re

from qa.app.render import escape, render_answer, render_question
from qa.models import Answer, Citation, Passage

QUOTE = "The cluster has 70 enterprises."
PASSAGE = f"Pinghu makes machine tools.\n\n{QUOTE} It grew fast."


def answer(**changes: object) -> Answer:
    base = Answer(
        question="How many enterprises?",
        text=f"{QUOTE} [1]",
        refused=False,
        citations=[
            Citation(
                n=1,
                source="003_a.txt",
                title="Pinghu <b>clusters</b>",
                date=dt.date(2023, 8, 17),
                quote=QUOTE,
                start=10,
                end=41,
                verified=True,
            )
        ],
        passages=[Passage(rank=1, source="003_a.txt", chunk_id="c1", text=PASSAGE, score=0.9)],
        backend="extractive",
        timings={},
    )
    return base.model_copy(update=changes)


def test_html_markdown_and_urls_come_out_inert() -> None:
    payload = (
        '<script>alert(1)</script><img src=x onerror="alert(2)"> '
        "[click](http://evil.example/) ![i](https://evil.example/a.png) www.evil.example"
    )
    out = escape(payload)
    assert "<" not in out and ">" not in out  # no tag of any kind survives
    assert "](" not in out and "http://" not in out and "www." not in out
    assert escape("a\n\nb") == "a<br><br>b"  # never a blank line that would end the HTML block


def test_answer_shows_markers_sources_and_the_marked_quote() -> None:
    html = render_answer(answer(), {})
    assert '<span class="qa-ref">[1]</span>' in html
    assert "<details" in html and "Sources (1)" in html
    assert "2023-08-17" in html and "003&#95;a&#46;txt" in html
    assert "Pinghu &#60;b&#62;clusters&#60;/b&#62;" in html  # the title is text, not markup
    assert f"<mark>{escape(QUOTE)}</mark>" in html
    assert escape("Pinghu makes machine tools") in html  # the quote is shown inside its passage
    assert "\n\n" not in html


def test_an_unverified_citation_is_marked_in_the_text_and_the_sources() -> None:
    unverified = answer().citations[0].model_copy(update={"verified": False})
    html = render_answer(answer(citations=[unverified]), {})
    assert '<span class="qa-ref qa-unverified"' in html and "[1, unverified]</span>" in html
    assert "(unverified: the cited passage does not state this claim)" in html


def test_refusal_looks_different_and_lists_the_closest_articles() -> None:
    refused = answer(refused=True, text="The articles do not say.", citations=[])
    html = render_answer(refused, {"003_a.txt": "Pinghu clusters"})
    assert 'class="qa-refusal"' in html and "qa-answer" not in html
    assert "Closest articles" in html and "Pinghu clusters" in html
    assert "Sources" not in html


def test_notice_and_rewritten_query_are_visible() -> None:
    html = render_answer(
        answer(notice="the LLM endpoint failed, extractive answer shown", query="Pinghu count"), {}
    )
    assert re.search(r'class="qa-notice"[^>]*>⚠ the LLM endpoint failed', html)
    assert "Searched for: Pinghu count" in html


def test_question_is_text() -> None:
    html = render_question("<b>hi</b>")
    assert html == '<div class="qa-question">&#60;b&#62;hi&#60;/b&#62;</div>'
