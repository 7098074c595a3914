"""A scripted OpenAI-compatible endpoint that answers the seeds' Q&A pairs in a set way, and the
measurement of how often the citation check verifies what it writes.

`ScriptedLLM(items, mode)` reads the question and the `<passage n=…>` blocks of each prompt and
answers the matching item as `qa.train.citation_fit.scripted_answer` writes it in `mode`
(faithful, reworded, altered, wrong_number, unrelated). `measure` asks every item through the
LLM path of a pipeline and reports, per mode, the share of answers whose citations all verify.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.eval.evaluation import EvalItem
from qa.models import Answer
from qa.pipeline import QAPipeline
from qa.train.citation_fit import MODES, Mode, Shown, scripted_answer

from .fake_llm import FakeLLM

_PASSAGE = re.compile(
    r'<passage n="(\d+)" article="([^"]*)" title="[^"]*" date="[^"]*">\n(.*?)\n</passage>', re.S
)
_QUESTION = re.compile(r"\n\s*Question:\s*(.*?)\s*$", re.S)
DECLINE = "The articles don't say."


def read_prompt(messages: list[dict[str, Any]]) -> tuple[str, list[Shown]]:
    """The question and the passages of an answer prompt (the last user message)."""
    text = str(messages[-1]["content"])
    question = _QUESTION.search(text)
    shown = [
        Shown(int(n), source, html.unescape(body)) for n, source, body in _PASSAGE.findall(text)
    ]
    return (question.group(1) if question else ""), shown


class ScriptedLLM(FakeLLM):
    """Answers each item of `items` in `mode` (an attribute: a test may switch it between
    questions); `log` holds (item id, reply or None) per answer, None where the mode could not
    be played (then it declines)."""

    def __init__(self, items: Iterable[EvalItem], mode: Mode) -> None:
        super().__init__("script", script=self._reply)
        self.mode = mode
        self.items = {item.question: item for item in items}
        self.log: list[tuple[str, str | None]] = []

    def _reply(self, messages: list[dict[str, Any]]) -> str:
        question, shown = read_prompt(messages)
        item = self.items.get(question)
        reply = scripted_answer(item, shown, self.mode) if item else None
        self.log.append((item.id if item else question, reply))
        return reply or DECLINE


def llm_pipeline(base: QAPipeline, url: str) -> QAPipeline:
    """A pipeline over `base`'s index that answers with the endpoint at `url`."""
    settings = base.settings.model_copy(
        update={"backend": "llm", "llm_base_url": url, "llm_model": "scripted", "llm_retries": 0}
    )
    return QAPipeline(settings, embedder=base.embedder)


def fully_verified(answer: Answer) -> bool:
    """Whether an answer cites and every one of its citations verified."""
    return (
        not answer.refused and bool(answer.citations) and all(c.verified for c in answer.citations)
    )


def flagged(answer: Answer) -> bool:
    """Whether a reader sees that an answer is not fully checked: a notice, a refusal, or a
    citation marked unverified."""
    return answer.refused or bool(answer.notice) or any(not c.verified for c in answer.citations)


@dataclass
class Rate:
    """One mode's outcome: answers asked, fully verified, and the ids of each kind."""

    mode: Mode
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    unflagged: list[str] = field(default_factory=list)  # not verified, and nothing says so
    answers: dict[str, Answer] = field(default_factory=dict)

    @property
    def asked(self) -> int:
        """How many items the mode could be played on."""
        return len(self.verified) + len(self.unverified)

    @property
    def rate(self) -> float:
        """The share of those answers whose citations all verified."""
        return len(self.verified) / self.asked if self.asked else 0.0

    def __str__(self) -> str:
        return f"{self.mode}: {self.rate:.3f} verified ({len(self.verified)}/{self.asked})"


def measure(
    base: QAPipeline, items: Sequence[EvalItem], modes: Sequence[Mode] = MODES
) -> dict[Mode, Rate]:
    """Ask every answerable item through the LLM path once per mode; the verified rate of each.
    One endpoint and one pipeline serve all modes, so passage sentences are embedded once."""
    answerable = [i for i in items if i.should_answer and i.evidence]
    out: dict[Mode, Rate] = {}
    with ScriptedLLM(answerable, modes[0]) as endpoint:
        pipe = llm_pipeline(base, endpoint.url)
        for mode in modes:
            endpoint.mode = mode
            rate = out[mode] = Rate(mode)
            for item in answerable:
                answer = pipe.ask(item.question)
                item_id, reply = endpoint.log[-1]
                if reply is None:
                    continue
                rate.answers[item_id] = answer
                (rate.verified if fully_verified(answer) else rate.unverified).append(item_id)
                if not fully_verified(answer) and not flagged(answer):
                    rate.unflagged.append(item_id)
    return out
