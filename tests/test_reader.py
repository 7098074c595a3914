"""The reader: its tree walk, and the shipped model on small cases a careful reader gets right
(pure logic: no embedding model, no index)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.answer.features import FEATURES
from qa.answer.policy import load_policy
from qa.answer.reader import Reader, parse_reader

from .test_question import features


def stump(feature: str, threshold: float, low: float, high: float) -> Reader:
    """One tree with one split: `low` at or under the threshold, `high` above."""
    f = FEATURES.index(feature)
    return Reader(
        FEATURES,
        0.0,
        feature=np.array([[f, 0, 0]]),
        threshold=np.array([[threshold, 0.0, 0.0]]),
        left=np.array([[1, -1, -1]]),
        right=np.array([[2, -1, -1]]),
        value=np.array([[0.0, low, high]]),
        depth=1,
    )


def test_the_trees_are_walked_to_their_leaves() -> None:
    reader = stump("support", 0.5, -2.0, 2.0)
    rows = reader.rows([{"support": 0.2}, {"support": 0.5}, {"support": 0.9}, {}])
    assert np.allclose(reader.predict(rows), 1 / (1 + np.exp(-np.array([-2, -2, 2, -2]))))
    assert np.allclose(parse_reader(reader.to_json()).predict(rows), reader.predict(rows))
    assert reader.predict(reader.rows([])).shape == (0,)


def score(question: str, sentence: str, similarity: float = 0.5, **context: object) -> float:
    featured = features(question, sentence, similarity, **context)
    assert featured.ineligible is None, featured.ineligible
    return load_policy().score(featured.values)


def test_a_year_that_does_not_match_never_answers_but_a_comparison_year_does() -> None:
    question = "How many enterprises did the cluster have in 2022?"
    assert features(question, "In 2021 the cluster had 60 enterprises.").ineligible
    compared = score(question, "In 2022 the cluster had 70 enterprises, up from 60 in 2021.")
    assert load_policy().accepts(compared, "en")


def test_the_subject_in_the_sentence_before_counts() -> None:
    question = "How many enterprises are in the Pinghu CNC machine tool cluster?"
    sentence = "With more than 70 enterprises in the cluster, it generated an output of 14 billion."
    before = "The Pinghu CNC machine tool cluster is one of the provincial clusters."
    assert score(question, sentence, 0.3, before=before) > 2 * score(question, sentence, 0.3)
    assert load_policy().accepts(score(question, sentence, 0.3, before=before), "en")


def test_a_heading_that_echoes_the_question_loses_to_the_answer() -> None:
    question = "What does the Pinghu CNC machine tool cluster produce?"
    heading = score(question, "Pinghu CNC machine tool cluster products", 0.8)
    answer = "The Pinghu CNC machine tool cluster produces complete machines and core parts."
    assert heading < score(question, answer, 0.6)
    # a "how many" question is answered by a figure, which a heading does not state
    echo = features("How many enterprises are in the Pinghu cluster?", "Pinghu cluster enterprises")
    assert echo.ineligible == "states no figure of its own"


@pytest.mark.xfail(
    strict=True,
    reason="the reader has not learned headings (its `heading` feature carries none of the "
    "loss reduction): this echo scores 0.89 against the answer's 0.68",
)
def test_a_heading_loses_even_when_it_echoes_more_of_the_question() -> None:
    question = "Which company in Pinghu makes core parts for CNC machine tools?"
    heading = score(question, "Pinghu CNC machine tool core parts makers", 0.8)
    answer = "Haichen Precision Machinery makes core functional components for CNC machine tools."
    assert heading < score(question, answer, 0.6)


def test_a_list_question_prefers_the_sentence_that_names_the_items() -> None:
    question = "Which industrial clusters in Jiaxing were selected as provincial clusters?"
    named = (
        "The Pinghu CNC machine tool cluster, the Haining warp knitting cluster and the "
        "Tongxiang glass fibre cluster in Jiaxing were selected."
    )
    vague = "These clusters play a vital role in the dislocation development of Jiaxing."
    assert score(question, named) > score(question, vague)


def test_a_chinese_question_over_an_english_article() -> None:
    question = "平湖数控机床产业集群有多少家企业？"
    english = score(question, "The Pinghu CNC machine tool cluster has 70 enterprises.")
    assert load_policy().accepts(english, "zh"), "an English answer is still an answer"
    assert features(question, "The cluster is in Pinghu.").ineligible, "no figure, no answer"
    assert english < score(question, "平湖数控机床产业集群有70家企业。"), "its own language first"


def test_a_close_second_is_cited_too_and_training_counts_it_the_same_way() -> None:
    from dataclasses import replace

    from qa.train.decide import allowed

    policy = replace(load_policy(), lead=0.1)
    for scores, cited in (([0.9, 0.85, 0.5], 2), ([0.9, 0.85, 0.82, 0.81], 3), ([0.4], 1)):
        assert policy.cited(scores, 3) == cited
        assert allowed(np.array(scores), 1, 0.1) == cited
    assert allowed(np.array([0.9, 0.89]), 6, 0.1) == 6, "a list keeps its own count"


def test_the_blend_weighs_the_two_log_odds_per_language_and_round_trips() -> None:
    from dataclasses import replace

    from qa.answer.policy import parse_policy

    policy = replace(load_policy(), blend={"en": (1.0, 2.0, -1.0), "zh": (0.0, 1.0, 0.0)})
    trees, cross = np.array([0.5, 0.9]), np.array([0.5, 0.1])
    en = policy.blended(trees, cross, "en")
    assert en[0] == pytest.approx(1 / (1 + np.e))  # 1·0 + 2·0 − 1
    assert np.allclose(policy.blended(trees, cross, "zh"), cross)  # the trees weigh nothing
    again = parse_policy(policy.to_json(), "test")
    assert again.blend == policy.blend
    assert np.allclose(replace(policy, blend=None).blended(trees, cross, "en"), trees)
