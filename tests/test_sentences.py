"""Sentence spans and vectors are computed once, at ingest; answering embeds only the question
(and an LLM's claims, to check them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexMismatchError
from qa.index.embeddings import Embedder
from qa.pipeline import QAPipeline
from qa.text import split_sentences

from .conftest import DATA, Counting, make_pipeline
from .fake_llm import FakeLLM

PINGHU = "003_741e1901b211ff40.txt"
QUESTION = "How many enterprises are in the Pinghu CNC machine tool cluster?"
ANSWERED = "When was Haichen Precision Machinery established?"
FLOAT16 = 5e-4  # how far storing unit vectors as float16 may move a component


def test_stored_sentences_are_the_split_and_embedding_of_each_chunk(
    seeded: QAPipeline, embedder: Embedder
) -> None:
    keyword = seeded.store.keyword
    assert keyword.records
    for row, record in enumerate(keyword.records):
        spans, vectors = keyword.sentences(row)
        assert list(spans) == split_sentences(record.text)
        assert vectors.dtype == np.float32 and vectors.shape == (len(spans), embedder.dimension)
        expected = embedder.embed_documents([record.text[s:e] for s, e in spans])
        np.testing.assert_allclose(vectors, expected, atol=FLOAT16)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    rows = [3, 0, len(keyword.records) - 1]
    stacked = np.concatenate([keyword.sentences(r)[1] for r in rows])
    np.testing.assert_array_equal(keyword.sentence_vectors(rows), stacked)


def test_spans_survive_a_reload_from_disk(seeded: QAPipeline) -> None:
    reloaded = QAPipeline(seeded.settings, embedder=seeded.embedder).store.keyword
    assert reloaded.records == seeded.store.keyword.records
    np.testing.assert_array_equal(
        reloaded.sentence_vectors(list(range(len(reloaded.records)))),
        seeded.store.keyword.sentence_vectors(list(range(len(reloaded.records)))),
    )


def test_answering_embeds_only_the_question(seeded: QAPipeline) -> None:
    counting = Counting(seeded.embedder)
    pipe = QAPipeline(seeded.settings, embedder=counting)  # the same index, read-only
    answer = pipe.ask(ANSWERED)
    assert not answer.refused and "1998" in answer.text
    assert counting.queries == [ANSWERED] and counting.documents == []


def test_checking_an_llm_answer_embeds_only_the_question_and_its_claim(
    seeded: QAPipeline,
) -> None:
    n = next(p.rank for p in seeded.ask(QUESTION).passages if "70 enterprises" in p.text)
    counting = Counting(seeded.embedder)
    with FakeLLM("answer", (f"The cluster has more than 70 enterprises [{n}].",)) as fake:
        settings = seeded.settings.model_copy(
            update={"backend": "llm", "llm_base_url": fake.url, "llm_model": "fake"}
        )
        answer = QAPipeline(settings, embedder=counting).ask(QUESTION)
    assert answer.backend == "llm" and answer.citations[0].verified
    assert counting.queries == [QUESTION]
    [claim] = counting.documents  # the passage's sentences come from the index
    assert claim.startswith("The cluster has more than 70 enterprises")


def test_changing_one_article_embeds_only_its_chunks_and_sentences(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    counting = Counting(embedder)
    pipe = make_pipeline(tmp_path, articles, counting)  # type: ignore[arg-type]
    pipe.ingest()
    old = pipe.store.keyword
    before = {r.id: old.sentences(row)[1] for row, r in enumerate(old.records)}
    path = articles / PINGHU
    path.write_text(
        path.read_text(encoding="utf-8")
        + "\n\nThe Wutong glass bead cluster employs 5,300 workers. It exports to 40 countries.\n",
        encoding="utf-8",
    )
    counting.documents.clear()
    report = pipe.ingest()
    keyword = pipe.store.keyword
    changed = [r for r in keyword.records if r.source == PINGHU]
    sentences = [r.text[s:e] for r in changed for s, e in r.sentences]
    assert report.embedded == len(changed) and report.sentences == len(set(sentences))
    # each distinct text once: a sentence the chunk overlap repeats is not embedded twice
    assert len(set(sentences)) < len(sentences)
    assert sorted(counting.documents) == sorted(
        {f"{r.title}\n{r.text}" for r in changed} | set(sentences)
    )
    for row, record in enumerate(keyword.records):
        if record.source != PINGHU:  # carried over by chunk id, bit for bit
            np.testing.assert_array_equal(keyword.sentences(row)[1], before[record.id])
    last = keyword.row(changed[-1].id)
    assert last is not None
    spans, vectors = keyword.sentences(last)
    texts = [changed[-1].text[s:e] for s, e in spans]
    assert texts[-2:] == [
        "The Wutong glass bead cluster employs 5,300 workers.",
        "It exports to 40 countries.",
    ]
    np.testing.assert_allclose(vectors, embedder.embed_documents(texts), atol=FLOAT16)


def test_an_index_of_the_older_format_asks_for_a_rebuild(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "lanxi_park.html").write_bytes((DATA / "lanxi_park.html").read_bytes())
    question = "How many enterprises has the Lanxi Battery Materials Park signed?"
    make_pipeline(tmp_path, folder, embedder).ingest()
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "format": 1}), encoding="utf-8")
    (tmp_path / "index" / "keyword" / "sentences.npy").unlink()  # as the old format left it
    old = make_pipeline(tmp_path, folder, embedder)
    with pytest.raises(IndexMismatchError, match=r"format 1.*qa ingest --rebuild"):
        old.ask(question)
    with pytest.raises(IndexMismatchError, match=r"qa ingest --rebuild"):
        old.ingest()
    with pytest.raises(IndexMismatchError, match=r"no sentence vectors.*qa ingest --rebuild"):
        _ = old.store.keyword  # read past the manifest check, it still never answers
    report = old.ingest(rebuild=True)
    assert report.added == ["lanxi_park.html"] and report.sentences > 0
    assert "420" in old.ask(question).text
