"""Citations of generated answers: `[n]` parsing, and checking each claim against passage n.

An LLM cites passages by the 1-based numbers the prompt showed. Every marker is checked: a
number outside the shown passages is dropped; otherwise the passage sentence that best supports
the claim (shared key terms, then embedding similarity) becomes the Citation's quote, and
`verified` says whether the support clears the thresholds in Settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.answer.retrieval import Hit
from qa.chunking import split_sentences
from qa.config import Settings
from qa.embeddings import Embedder
from qa.keyword import ChunkRecord, KeywordIndex
from qa.models import Citation
from qa.tokens import terms

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*\]")
# "… firms. [1] Next" → "… firms [1]. Next": a marker after the full stop belongs before it
_AFTER_STOP = re.compile(r"([.!?。！？])(\s*)((?:\[\s*\d[\d\s,，、]*\]\s*)+)")


def cite(n: int, record: ChunkRecord, start: int, end: int, verified: bool) -> Citation:
    """The Citation of the passage sentence `record.text[start:end]` (chunk offsets)."""
    return Citation(
        n=n,
        source=record.source,
        title=record.title,
        date=record.day,
        quote=record.text[start:end],
        start=record.start + start,
        end=record.start + end,
        verified=verified,
    )


@dataclass(frozen=True)
class Checked:
    """An answer's text with markers renumbered to its citations, and those citations."""

    text: str
    citations: list[Citation]

    @property
    def verified(self) -> bool:
        """Whether at least one citation checked out."""
        return any(c.verified for c in self.citations)


class CitationChecker:
    """Checks the `[n]` claims of a generated answer against the passages it was shown."""

    def __init__(self, embedder: Embedder, keyword: KeywordIndex, settings: Settings) -> None:
        self.embedder = embedder
        self.keyword = keyword
        self.settings = settings

    def check(self, answer: str, hits: list[Hit]) -> Checked:
        """Renumber valid markers 1..m in reading order and verify each cited claim."""
        text = _AFTER_STOP.sub(lambda m: f"{m.group(3).rstrip()}{m.group(1)}{m.group(2)}", answer)
        out: list[str] = []
        citations: list[Citation] = []
        numbers: dict[tuple[str, int, bool], int] = {}
        cursor = 0
        for s, e in split_sentences(text):
            sentence = text[s:e]
            claim = _MARKER.sub("", sentence).strip()
            pieces, last = [], 0
            for marker in _MARKER.finditer(sentence):
                pieces.append(sentence[last : marker.start()].rstrip())
                last = marker.end()
                kept = []
                for n in _numbers(marker.group(1)):
                    if not 1 <= n <= len(hits) or not claim:
                        continue  # a passage the model was never shown
                    record = hits[n - 1].record
                    start, end, verified = self._support(claim, record)
                    key = (record.source, record.start + start, verified)
                    if key not in numbers:
                        numbers[key] = len(citations) + 1
                        citations.append(cite(numbers[key], record, start, end, verified))
                    if numbers[key] not in kept:
                        kept.append(numbers[key])
                pieces.append("".join(f" [{m}]" for m in kept))
            pieces.append(sentence[last:])
            out.append(text[cursor:s] + "".join(pieces))
            cursor = e
        out.append(text[cursor:])
        joined = re.sub(r"[ \t]+([.,;:!?。，；！？])", r"\1", "".join(out))
        return Checked(joined.strip(), citations)

    def _support(self, claim: str, record: ChunkRecord) -> tuple[int, int, bool]:
        """The passage sentence that best supports `claim`, and whether it supports it enough."""
        # the passage's sentence spans and vectors were computed at ingest
        spans, vectors = self.keyword.sentences(self.keyword.rows([record.id])[0])
        if not spans:
            return 0, len(record.text), False
        wanted = set(terms(claim))
        weights = {t: self.keyword.idf(t) for t in wanted}
        total = sum(weights.values()) or 1.0
        support = [
            sum(weights[t] for t in wanted.intersection(terms(record.text[s:e]))) / total
            for s, e in spans
        ]
        similarity = vectors @ self.embedder.embed_documents([claim])[0]
        scores = 0.6 * np.asarray(support) + 0.4 * similarity
        best = int(np.argmax(scores))
        verified = (
            support[best] >= self.settings.citation_min_support
            or float(similarity[best]) >= self.settings.citation_min_similarity
        )
        return spans[best][0], spans[best][1], verified


def _numbers(group: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", group)]
