"""The shipped cross-encoder reading questions against sentences, and reranking retrieval.

The names in these sentences are made up: the scorer must read, not remember the seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.answer.policy import load_policy
from qa.cross.scorer import CrossScorer, shared
from qa.index.embeddings import Embedder
from tests.conftest import make_pipeline


@pytest.fixture(scope="module")
def scorer() -> CrossScorer:
    return shared()


def test_an_english_question_finds_its_answer_in_a_chinese_sentence(scorer: CrossScorer) -> None:
    question = "How many carbon accounts has Northfield established?"
    sentences = [
        "北原市今年新建了12个工业园区，吸引投资50亿元。",
        "截至目前，北原市已建立碳账户3200个，覆盖全市重点企业。",
        "北原市的常住人口为二百三十万。",
    ]
    p = scorer.scores(question, sentences)
    assert int(np.argmax(p)) == 1, p


def test_an_on_topic_sentence_that_does_not_answer_scores_low(scorer: CrossScorer) -> None:
    question = "How many employees does Brightwater Precision Machinery have?"
    on_topic = "Brightwater Precision Machinery was founded in 1998 and makes CNC lathes."
    answer = "Brightwater Precision Machinery employs 1,450 people at its two plants."
    no, yes = scorer.scores(question, [on_topic, answer])
    assert yes > 0.5 > no, (yes, no)


def test_scores_are_remembered_and_match_a_fresh_read(scorer: CrossScorer) -> None:
    question = "什么是两业融合？"
    sentences = ["两业融合是指先进制造业和现代服务业的深度融合。", "该区去年引进项目18个。"]
    first = scorer.scores(question, sentences)
    fresh = CrossScorer().scores(question, sentences)
    assert np.allclose(first, fresh, atol=1e-5)
    assert first[0] > first[1]


def test_a_rare_name_that_only_bm25_ranks_first_is_found(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    """One sentence names the park; dense retrieval does not rank it, the fused order drops
    it, and the cross-encoder reading the fused pool brings it back."""
    (articles / "valley.txt").write_text(
        "Quarterly notes\n\n"
        "Investment promotion was busy this spring across the province's parks. "
        "The Wexford Hydrogen Valley signed 17 projects worth 4.2 billion yuan in April. "
        "Several delegations visited the coastal zones.\n",
        encoding="utf-8",
    )
    question = "How many projects did the Wexford Hydrogen Valley sign?"
    fused = make_pipeline(tmp_path / "fused", articles, embedder, rerank_pool=0)
    reranked = make_pipeline(tmp_path / "reranked", articles, embedder)
    fused.ingest()
    reranked.ingest()
    answer = reranked.ask(question)
    assert answer.passages[0].source == "valley.txt"
    assert not answer.refused and answer.citations[0].source == "valley.txt"
    assert "17 projects" in answer.citations[0].quote
    assert "rerank" in answer.timings
    assert "rerank" not in fused.ask(question).timings


def test_the_shipped_policy_blends_the_cross_encoder_in_where_validation_chose_it() -> None:
    policy = load_policy()
    assert policy.blend is not None and policy.version.endswith("+cross")
    trees = np.array([0.2, 0.2])
    for lang in ("en", "zh"):
        blended = policy.blended(trees, np.array([0.05, 0.95]), lang)
        if policy.reads(lang):  # a confident read raises the score, a doubtful one lowers it
            assert blended[1] > blended[0]
        else:
            assert np.allclose(blended, trees)
