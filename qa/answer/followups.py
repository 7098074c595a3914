"""Follow-up questions made standalone without an LLM: the last question's subject is added.

"How many enterprises are in the Pinghu CNC cluster?" then "What is its output value?" becomes
"What is its output value? (Pinghu CNC)", and "What about Jiaxing?" becomes "How many
enterprises are in the Jiaxing machine tool cluster?"; retrieval and the extractive answerer use
the result.
With an LLM configured, the model rewrites follow-ups instead (prompts/condense.md).
"""

from __future__ import annotations

import re

_SWAP = re.compile(r"^\s*(?:and|what about|how about|and what about)\b|^\s*那么?", re.IGNORECASE)
_REFERS = re.compile(
    r"^\s*(?:and|also|what about|how about|then|so)\b"
    r"|\b(?:it|its|they|them|their|there|this|that|these|those|he|she|his|her)\b"
    r"|它|他们|她们|其|该|那里|这里|此|那个|这个|^\s*那",
    re.IGNORECASE,
)
_PHRASE = re.compile(r"[A-Z][\w-]*(?:\s+(?:of\s+|and\s+)?[A-Z][\w-]*)*|[\u3400-\u9fff]+")
_LEADING = re.compile(
    r"^(?:(?:how|what|which|when|where|who|why|whose|is|are|was|were|does|do|did|can|could|"
    r"will|would|should|has|have|had|the|a|an|in|on|at|of|for|and)\b\s*)+",
    re.IGNORECASE,
)
_ZH_ASKING = re.compile(
    r"多少|几[家个项座条所年倍]?|什么|哪[里些个年]?|谁|吗|呢|是否|怎么|如何|为什么"
)


def is_follow_up(question: str) -> bool:
    """Whether the question leans on an earlier one ('it', 'they', 'what about …', '它')."""
    return bool(_REFERS.search(question))


def subject_of(question: str) -> list[str]:
    """The names a question is about: capitalised phrases and Chinese text, less question words."""
    found = []
    for match in _PHRASE.finditer(question):
        phrase = _ZH_ASKING.sub(" ", _LEADING.sub("", match.group())).strip()
        if phrase:
            found.append(phrase)
    return found


def standalone(question: str, history: list[tuple[str, str]] | None) -> str:
    """The follow-up `question` made standalone from the previous question.

    "What about X?" asks the previous question again about X; a question with "it" or "they"
    gets the previous question's subject added.
    """
    if not history or not is_follow_up(question):
        return question
    previous = history[-1][0]
    before, now = subject_of(previous), subject_of(question)
    if _SWAP.search(question) and before and now:
        return previous.replace(before[-1], now[-1], 1)
    added = [s for s in before if s.lower() not in question.lower()]
    if not added:
        return question
    return f"{question} ({'; '.join(added)})"
