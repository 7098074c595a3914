"""The items a list question asks for, gathered from the sentences that answer it.

"Which clusters were selected?" asks for things of one kind, named by its head noun
("cluster"); each sentence that answers names some of them ("the parts industry cluster and
Tongxiang glass fiber industry cluster"). An item is the run of words that ends with the head
noun, back to the nearest word that cannot be part of a name (a function word, punctuation);
a run made only of the question's own words ("the selected industrial clusters") names no
item, and neither does a plural ("advantageous clusters"): an item is one thing. An English
item names a particular one: a capitalised word or at least two words before the head
("industrial park" is only a kind of park).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.answer.question import Question
from qa.lexicon import lexicon
from qa.text import jieba, terms

_EN_WORD = re.compile(r"[A-Za-z0-9][\w’'&-]*|[^\w\s]")
_ZH_RUN = re.compile(r"[\u3400-\u9fff\w]+")
_MOST_WORDS = 7  # an English item is at most this many words
_MOST_CHARS = 14  # a Chinese item is at most this many characters
_ZH_VERB_MARK = frozenset("了过着")  # a word followed by one of these is a verb, not the head


def head_noun(question: Question) -> str | None:
    """The noun naming what a list question asks for ("clusters", "园区"), as written."""
    if question.asks != "list":
        return None
    if question.lang == "en":
        match = lexicon().items_head.search(question.text)
        return match.group("head") if match else None
    cue = lexicon().asks["zh"]["list"].search(question.text)
    if cue is None:
        return None
    after = jieba().lcut(question.text[cue.end() :])
    head = None
    for i, word in enumerate(after[:2]):
        following = after[i + 1] if i + 1 < len(after) else ""
        if len(word) < 2 or not _ZH_RUN.fullmatch(word) or following in _ZH_VERB_MARK:
            break
        head = word
    return head


def gather(question: Question, sentences: Sequence[str]) -> list[str]:
    """The distinct items the sentences name, in the order they name them."""
    head = head_noun(question)
    if head is None:
        return []
    found: list[str] = []
    asked = set(question.terms)
    for sentence in sentences:
        named = _english(sentence, head) if question.lang == "en" else _chinese(sentence, head)
        for item in named:
            new = [t for t in terms(item) if t not in asked]
            if new and item.casefold() not in {f.casefold() for f in found}:
                found.append(item)
    return found


def _english(sentence: str, head: str) -> list[str]:
    stem = terms(head)
    if not stem:
        return []
    tokens = _EN_WORD.findall(sentence)
    stop = lexicon().items_stop
    out = []
    for i, token in enumerate(tokens):
        # the head itself, singular: "cluster" answers "clusters", "clusters" names no item
        if token.casefold() == head.casefold() or terms(token) != stem:
            continue
        start = i
        while start > 0 and i - start < _MOST_WORDS - 1:
            word = tokens[start - 1]
            if not word[0].isalnum() or word.casefold() in stop:
                break
            start -= 1
        before = tokens[start:i]
        # "industrial park" is a kind of park, "Lingang park" or "the parts industry cluster"
        # one of them: a specific item has a capitalised word or two words before the head
        if len(before) >= 2 or any(word[0].isupper() for word in before):
            out.append(" ".join(tokens[start : i + 1]))
    return out


def _chinese(sentence: str, head: str) -> list[str]:
    stop = lexicon().items_stop_zh
    out = []
    for run in _ZH_RUN.findall(sentence):
        for match in re.finditer(re.escape(head), run):
            start = match.start()
            while start > 0 and match.end() - start < _MOST_CHARS and run[start - 1] not in stop:
                start -= 1
            if start < match.start():
                out.append(run[start : match.end()])
    return out
