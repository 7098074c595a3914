"""Citations of generated answers: `[n]` parsing, and checking each claim against passage n.

An LLM cites passages by the 1-based numbers the prompt showed. The claim of a marker is the
text it closes: from the previous marker, or from the start of its sentence, up to it. A number
outside the shown passages is dropped. Otherwise every sentence of passage n is weighed as the
claim's support the way the extractive answerer weighs an answer, with the claim in the place
of the question (`qa.answer.question`, `qa.answer.features`, `qa.answer.policy`). The claim is
verified when the best sentence, with its context (the article's title and year, the sentence
before), states every figure, year, date and name of the claim, and the policy's score of the
pair clears `Policy.citation_threshold` (fitted by `qa.train.citation_fit`). That sentence is
the Citation's quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from qa.answer.facts import facts, normalise
from qa.answer.features import Context, facts_in_context, flat_context, weigh, with_before
from qa.answer.policy import Policy
from qa.answer.question import Constraint, analyse
from qa.answer.retrieval import Hit
from qa.answer.scoring import Sentence, score_sentences
from qa.index.embeddings import Embedder
from qa.index.keyword import KeywordIndex
from qa.index.records import ChunkRecord, Spans
from qa.lexicon import lexicon
from qa.models import Citation, Considered, Trace
from qa.text import split_sentences

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*\]")
# "… firms. [1] Next" → "… firms [1]. Next": a marker after the full stop belongs before it
_AFTER_STOP = re.compile(r"([.!?。！？])(\s*)((?:\[\s*\d[\d\s,，、]*\]\s*)+)")
_EDGES = re.compile(r"^[\s,，;；:：、]+|[\s,，;；:：、]+$")
# "第一" and "唯一" hold the numeral 一 but state no quantity a source must repeat
# ", not 700" / "，而不是南京": what a claim denies is not a fact its source must state
_DENIED = re.compile(
    r"[,;，；(（]\s*(?:not(?!\s+only)|rather than|instead of|而不是|而非|不是)\s*[^,;.，；。)）]+",
    re.IGNORECASE,
)
_ZH_ORDINAL = re.compile(r"第[零一二两三四五六七八九十百千]+|唯一|统一|一体|进一步|之一")


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
        page=record.page_at(record.start + start),
    )


@dataclass(frozen=True)
class Claim:
    """One claim checked against one passage it cites: the best sentence there, the first of
    the claim's facts that sentence does not state, and the policy's score of the pair."""

    index: int  # the claim's place in the answer; a claim citing two passages is checked twice
    text: str
    n: int  # the passage number the model wrote
    start: int  # the best sentence, as offsets into the passage
    end: int
    missing: str | None
    score: float
    verified: bool


@dataclass(frozen=True)
class Checked:
    """An answer's text with markers renumbered to its citations, those citations, and every
    claim as it was checked."""

    text: str
    citations: list[Citation]
    claims: list[Claim]

    @property
    def verified(self) -> bool:
        """Whether at least one citation checked out."""
        return any(c.verified for c in self.citations)

    @property
    def unverified(self) -> int:
        """How many claims no passage they cite verifies."""
        indexes = {c.index for c in self.claims}
        return len(indexes - {c.index for c in self.claims if c.verified})

    @property
    def claimed(self) -> int:
        """How many claims were checked."""
        return len({c.index for c in self.claims})


def claim_trace(question: str, checked: Checked, hits: list[Hit], policy: Policy) -> Trace:
    """The trace of an LLM answer: the question's analysis and its claims as checked, the
    verified ones as chosen and the best-scored unverified one as turned down."""

    def considered(claim: Claim, reason: str | None = None) -> Considered:
        source = hits[claim.n - 1].record.source
        return Considered(
            source=source, quote=claim.text, score=round(claim.score, 4), features={}, reason=reason
        )

    turned = sorted((c for c in checked.claims if not c.verified), key=lambda c: -c.score)
    best = turned[0] if turned else None
    reason = None
    if best is not None:
        reason = (
            f"the cited sentence does not state {best.missing}"
            if best.missing
            else f"score under the citation threshold {policy.citation_cut:.3f}"
        )
    verified = checked.claimed - checked.unverified
    return Trace(
        analysis=analyse(question).as_dict(),
        policy=policy.version,
        threshold=round(policy.citation_cut, 4),
        decision=f"LLM answer: {verified} of {checked.claimed} claims verified",
        chosen=[considered(c) for c in checked.claims if c.verified],
        best_rejected=considered(best, reason) if best is not None else None,
    )


class CitationChecker:
    """Checks the `[n]` claims of a generated answer against the passages it was shown."""

    def __init__(
        self, embedder: Embedder, keyword: KeywordIndex, policy: Policy, anchors: int
    ) -> None:
        self.embedder = embedder
        self.keyword = keyword
        self.policy = policy
        self.anchors = anchors  # how many of a claim's rarest terms name what it is about

    def check(self, answer: str, hits: list[Hit]) -> Checked:
        """Renumber valid markers 1..m in reading order and verify each cited claim."""
        text = _AFTER_STOP.sub(lambda m: f"{m.group(3).rstrip()}{m.group(1)}{m.group(2)}", answer)
        out: list[str] = []
        citations: list[Citation] = []
        claims: list[Claim] = []
        numbers: dict[tuple[str, int, bool], int] = {}
        cursor, index = 0, 0
        for s, e in split_sentences(text):
            sentence = text[s:e]
            pieces, last = [], 0
            for start, end, cited in _marker_groups(sentence):
                claim = _EDGES.sub("", sentence[last:start])
                pieces.append(sentence[last:start].rstrip())
                last = end
                kept = []
                for n in cited:
                    if not 1 <= n <= len(hits) or not claim:
                        continue  # a passage the model was never shown
                    record = hits[n - 1].record
                    checked = self.support(index, claim, n, record)
                    claims.append(checked)
                    key = (record.source, record.start + checked.start, checked.verified)
                    if key not in numbers:
                        numbers[key] = len(citations) + 1
                        citations.append(
                            cite(numbers[key], record, checked.start, checked.end, checked.verified)
                        )
                    if numbers[key] not in kept:
                        kept.append(numbers[key])
                pieces.append("".join(f" [{m}]" for m in kept))
                index += bool(claim)
            pieces.append(sentence[last:])
            out.append(text[cursor:s] + "".join(pieces))
            cursor = e
        out.append(text[cursor:])
        joined = re.sub(r"[ \t]+([.,;:!?。，；！？])", r"\1", "".join(out))
        return Checked(joined.strip(), citations, claims)

    def support(self, index: int, claim: str, n: int, record: ChunkRecord) -> Claim:
        """The sentence of `record` that best supports `claim`, and whether it verifies it:
        it must state all the claim's facts (sentences that do come first), then score high."""
        spans, vectors = self.sentences(record)
        if not spans:
            return Claim(index, claim, n, 0, len(record.text), "an empty passage", 0.0, False)
        # a claim states and asks for nothing: a cue word in it ("a total of", "which") must
        # not make the kind and unit features look for a figure or a name it does not hold
        question = replace(analyse(claim), asks="other", unit=None)
        wanted = claim_constraints(claim)
        weights, anchors = weigh(question, self.keyword.idf_in(question.lang == "zh"), self.anchors)
        # a claim is a statement like the passage's sentences, not a query: embedded as they are
        vector = self.embedder.embed_documents([claim])[0]
        # each sentence alone, and with the one before it (the first has none), as the
        # extractive answerer compares them
        joined = with_before(vectors, np.concatenate([vectors[:1], vectors[:-1]]))
        similarity = zip((vectors @ vector).tolist(), (joined @ vector).tolist(), strict=True)
        texts = [record.text[s:e] for s, e in spans]
        contexts = [
            Context(record.title, record.day, before, record.start + s)
            for before, (s, _) in zip(["", *texts[:-1]], spans, strict=True)
        ]
        # the passage's standing says nothing about whether it supports the claim: 1
        sentences = [
            Sentence(text, context, sim, 1.0)
            for text, context, sim in zip(texts, contexts, similarity, strict=True)
        ]
        scored = score_sentences(question, sentences, self.policy, weights, anchors)
        best: Claim | None = None
        for (s, e), context, score in zip(spans, contexts, scored.probability, strict=True):
            missing = unmet(wanted, record.text[s:e], context)
            if best is None or (missing is None, score) > (best.missing is None, best.score):
                verified = missing is None and self.policy.supports(score)
                best = Claim(index, claim, n, s, e, missing, score, verified)
        assert best is not None
        return best

    def sentences(self, record: ChunkRecord) -> tuple[Spans, np.ndarray]:
        """A passage's sentence spans (chunk offsets) and their unit vectors, computed at
        ingest."""
        return self.keyword.sentences(self.keyword.rows([record.id])[0])


def claim_constraints(claim: str) -> tuple[Constraint, ...]:
    """Every fact a claim states that its source must state too: years, dates, quantities
    (digits, number words, Chinese numerals other than ordinals), names and places; not the
    ones it denies ('70 enterprises, not 700')."""
    stated = _DENIED.sub(" ", claim)
    held = facts(stated)
    out = [Constraint("year", str(y), y) for y in sorted(held.years)]
    out += [Constraint("day", f"{m}月{d}日" if d else f"{m}月", (m, d)) for m, d in held.days]
    quantities = facts(_ZH_ORDINAL.sub(" ", stated)).quantities
    out += [Constraint("quantity", f"{q:g}", q) for q in sorted(quantities)]
    names = {_name(n, stated) for n in held.names | held.places}
    out += [Constraint("name", n) for n in sorted(names) if n]
    return tuple(dict.fromkeys(out))


def unmet(wanted: tuple[Constraint, ...], sentence: str, context: Context) -> str | None:
    """The first of `wanted` that the sentence and its context do not state (names only in
    the same script), or None when they state them all."""
    held = facts_in_context(sentence, context, claim=True)
    whole = flat_context(sentence, context)
    for constraint in wanted:
        if constraint.checkable(sentence) and not constraint.met(held, whole):
            return constraint.text
    return None


def _name(name: str, claim: str) -> str:
    """A name as a source would write it, or '' for none: "jiaxing's" is 'jiaxing', 'on august'
    no name, and 'all of' or 'seven jiaxing' at the claim's start no name either (facts() does
    not take a capitalised first word alone for a name)."""
    skip = lexicon().not_names | set(lexicon().number_words)
    words = name.split()
    trimmed = False
    while words and words[0] in skip:
        words, trimmed = words[1:], True
    while words and words[-1] in skip:
        words, trimmed = words[:-1], True
    if trimmed and len(words) == 1 and normalise(claim).startswith(name):
        return ""  # a capitalised first word of the claim, not a name
    return re.sub(r"['’]s$", "", " ".join(words))


def _marker_groups(sentence: str) -> list[tuple[int, int, list[int]]]:
    """(start, end, numbers) of each run of adjacent markers: '[1] [2]' cites one claim twice."""
    groups: list[tuple[int, int, list[int]]] = []
    for m in _MARKER.finditer(sentence):
        numbers = [int(n) for n in re.findall(r"\d+", m.group(1))]
        if groups and not sentence[groups[-1][1] : m.start()].strip():
            start, _, before = groups[-1]
            groups[-1] = (start, m.end(), before + numbers)
        else:
            groups.append((m.start(), m.end(), numbers))
    return groups
