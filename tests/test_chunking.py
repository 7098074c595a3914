"""Sentence splitting (English and Chinese) and sentence-aligned, overlapping chunks."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.corpus.articles import load_article
from qa.corpus.chunking import chunk_article
from qa.text import split_sentences

from .conftest import SEEDS


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_english_sentences_and_abbreviations() -> None:
    text = (
        "Haichen Precision Machinery (Jiaxing) Co., Ltd. is in Pinghu. It was founded in 1998! Why?"
    )
    assert sentences(text) == [
        "Haichen Precision Machinery (Jiaxing) Co., Ltd. is in Pinghu.",
        "It was founded in 1998!",
        "Why?",
    ]


def test_glued_sentences_of_machine_translated_text_are_split() -> None:
    text = "growth of 117%, 112% and 57%, respectively, are listed first in the city.Focus on it."
    assert sentences(text) == [
        "growth of 117%, 112% and 57%, respectively, are listed first in the city.",
        "Focus on it.",
    ]


def test_decimals_are_not_sentence_ends() -> None:
    assert sentences("The park covers 16.5 square kilometers. It opened.") == [
        "The park covers 16.5 square kilometers.",
        "It opened.",
    ]


def test_chinese_sentences() -> None:
    text = "海盐经济开发区入选试点。全市共七家单位！是否还有其他？是的；还有。"
    assert sentences(text) == [
        "海盐经济开发区入选试点。",
        "全市共七家单位！",
        "是否还有其他？",
        "是的；",
        "还有。",
    ]


@pytest.mark.parametrize("path", sorted(SEEDS.iterdir()), ids=lambda p: p.name)
def test_chunks_cover_the_article_with_exact_offsets(path: Path) -> None:
    article = load_article(path, 2_000_000)
    chunks = chunk_article(article, size=600, overlap=150)
    assert chunks[0].start == 0
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 600
    for before, after in pairwise(chunks):
        # nothing but white space is lost between two chunks
        assert after.start <= before.end or not article.text[before.end : after.start].strip()
        assert before.end - after.start <= 150  # overlap stays within the setting
        assert after.start > before.start
    assert chunks[-1].end == len(article.text)
    # ids are deterministic and unique
    again = chunk_article(article, size=600, overlap=150)
    assert [c.id for c in chunks] == [c.id for c in again]
    assert len({c.id for c in chunks}) == len(chunks)


def test_chunk_ids_change_with_the_config() -> None:
    article = load_article(SEEDS / "000_8914bb077c7574b6.txt", 2_000_000)
    assert chunk_article(article, 600, 150)[0].id != chunk_article(article, 400, 100)[0].id


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .。?！\n,X1"), max_size=400), st.integers(20, 200))
def test_sentence_spans_are_ordered_disjoint_and_trimmed(text: str, max_chars: int) -> None:
    spans = split_sentences(text, max_chars=max_chars)
    last = 0
    for start, end in spans:
        assert last <= start < end <= len(text)
        assert end - start <= max_chars
        assert not text[start].isspace() and not text[end - 1].isspace()
        last = end
    covered = "".join(text[s:e] for s, e in spans)
    assert covered.replace(" ", "") == "".join(text.split()).replace(" ", "")
