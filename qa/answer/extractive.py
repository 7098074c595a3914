"""The offline extractive answerer: verbatim sentences of the passages, chosen by the policy.

Every sentence of the retrieved passages is a candidate. The question is analysed once
(`qa.answer.question`), each candidate gets named features (`qa.answer.features`), the fitted
policy (`qa.answer.policy`) scores them, and the answer is shaped by what was asked: one
sentence for a figure, a date, a name or a definition, the items of a list gathered across
passages, one sentence per part of a two-part question. When nothing clears the policy's
threshold the answer declines and names the closest articles; the Trace says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.answer.citations import cite
from qa.answer.facts import figures_with_unit, years_in
from qa.answer.features import Context, Featured, sentence_terms, weigh, with_before
from qa.answer.items import gather
from qa.answer.policy import Policy
from qa.answer.question import Question
from qa.answer.retrieval import Hit
from qa.answer.scoring import Sentence, score_sentences
from qa.config import Settings
from qa.cross.scorer import CrossScorer
from qa.index.keyword import KeywordIndex
from qa.models import Citation, Considered, Trace

# a figure, a date or a definition is stated by one sentence; a name, a place or anything else
# may take up to `answer_sentences` accepted ones (the policy's threshold decides each)
_ONE_SENTENCE = frozenset({"number", "date", "definition"})
_LIST_MOST = 6  # a list gathers at most this many sentences
_SAME = 0.6  # two sentences sharing this share of their terms say the same thing


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, its features and the policy's score."""

    hit: Hit
    start: int  # offsets into the article text
    end: int
    text: str
    terms: frozenset[str]
    featured: Featured
    score: float
    cross: float | None = None  # the cross-encoder's probability, where it read the pair

    def considered(self, reason: str | None = None) -> Considered:
        """The trace entry of this candidate (the cross-encoder's probability as `cross`)."""
        values = dict(self.featured.values)
        if self.cross is not None:
            values["cross"] = self.cross
        return Considered(
            source=self.hit.record.source,
            quote=self.text,
            score=round(self.score, 4),
            features={k: round(v, 4) for k, v in values.items()},
            reason=reason or self.featured.ineligible,
        )


@dataclass(frozen=True)
class Draft:
    """What an answerer produced, before the pipeline adds passages and timings."""

    text: str
    refused: bool
    citations: list[Citation]
    notice: str | None = None  # shown to the reader with the answer
    trace: Trace | None = None


class ExtractiveAnswerer:
    """Answers with verbatim sentences of the passages; declines when none really answers."""

    name = "extractive"

    def __init__(
        self,
        keyword: KeywordIndex,
        settings: Settings,
        policy: Policy,
        scorer: CrossScorer | None = None,
    ) -> None:
        self.keyword = keyword
        self.settings = settings
        self.policy = policy
        self.scorer = scorer  # its probability is blended with the trees' (`Policy.blended`)

    def candidates(
        self, question: Question, hits: list[Hit], query_vector: np.ndarray
    ) -> list[Candidate]:
        """Every sentence of the hits (titles excepted), scored against the question, best
        first; ineligible ones (a year or day the question names is missing) score 0.
        Sentence spans and vectors were computed at ingest: only the question is embedded."""
        spans, vectors, known = self._spans(hits)
        sims = vectors @ query_vector if spans else np.zeros((0, 2))
        weights, anchors = weigh(
            question, self.keyword.idf_in(question.lang == "zh"), self.settings.anchor_terms
        )
        standing = standings(hits)

        def terms_of(text: str) -> frozenset[str]:
            found = known.get(text)
            return sentence_terms(text) if found is None else found

        sentences = [
            Sentence(
                hit.record.text[s:e],
                Context(hit.record.title, hit.record.day, before, hit.record.start + s),
                (float(sim[0]), float(sim[1])),
                standing[id(hit)],
            )
            for (hit, s, e, before), sim in zip(spans, sims, strict=True)
        ]
        scored = score_sentences(
            question,
            sentences,
            self.policy,
            weights,
            anchors,
            terms_of=terms_of,
            scorer=self.scorer,
            read=self.settings.cross_candidates,
        )
        out = []
        for (hit, s, e, _), sentence, values, score, cross in zip(
            spans, sentences, scored.featured, scored.probability, scored.cross, strict=True
        ):
            start, text = hit.record.start, sentence.text
            out.append(
                Candidate(hit, start + s, start + e, text, terms_of(text), values, score, cross)
            )
        return sorted(out, key=lambda c: -c.score)

    def _spans(
        self, hits: list[Hit]
    ) -> tuple[list[tuple[Hit, int, int, str]], np.ndarray, dict[str, frozenset[str]]]:
        """(hit, start, end, sentence before) of every distinct non-title sentence; two stored
        vectors per sentence: its own, and its own plus the one before (its context); and the
        stored terms of every sentence of the hits and of their articles' titles, by text (none
        in an older index)."""
        rows = self.keyword.rows([h.record.id for h in hits])
        stored = self.keyword.sentence_vectors(rows)
        stored_terms = self.keyword.sentence_terms(rows)
        known = self.keyword.first_sentence_terms({h.record.source for h in hits})  # titles
        if stored_terms is not None:
            texts = (h.record.text[s:e] for h in hits for s, e in h.record.sentences)
            known.update(zip(texts, stored_terms, strict=True))
        seen: set[tuple[str, int]] = set()
        out, kept, before, row = [], [], [], 0
        for hit in hits:
            record = hit.record
            previous = ""
            for i, (s, e) in enumerate(record.sentences):
                key = (record.source, record.start + s)
                text = record.text[s:e]
                title = record.start + s < len(record.title) and record.title.startswith(text)
                if key not in seen and not title:  # the title is context, never an answer
                    seen.add(key)
                    out.append((hit, s, e, previous))
                    kept.append(row)
                    before.append(row - 1 if i else row)
                previous = text
                row += 1
        own = stored[kept]
        context = with_before(own, stored[before])
        return out, np.stack([own, context], axis=1) if kept else np.zeros((0, 2, 1)), known

    def answer(
        self,
        question: Question,
        hits: list[Hit],
        query_vector: np.ndarray,
        retrieved: list[tuple[list[Hit], np.ndarray]] | None = None,
    ) -> Draft:
        """The sentences the policy accepts, shaped by what was asked, or a refusal.

        `retrieved` holds each part's own passages and vector when the question has parts."""
        parts = list(question.parts) or [question]
        own = retrieved or [(hits, query_vector)] * len(parts)
        picked: list[Candidate] = []
        best_rejected: Candidate | None = None
        missing: list[Question] = []
        for part, (part_hits, vector) in zip(parts, own, strict=True):
            ranked = self.candidates(part, part_hits, vector)
            chosen = self._choose(part, ranked, picked, several=len(parts) == 1)
            if not chosen:
                missing.append(part)
            picked.extend(chosen)
            turned_down = [c for c in ranked if c not in chosen]
            if turned_down and (
                best_rejected is None or turned_down[0].score > best_rejected.score
            ):
                best_rejected = turned_down[0]
        if question.asks == "list" and not question.parts:  # the sentences naming items first
            picked.sort(key=lambda c: not gather(question, [c.text]))
        trace = self._trace(question, picked, best_rejected, missing)
        if not picked:
            return Draft(text=refusal(hits, best_rejected), refused=True, citations=[], trace=trace)
        pieces, citations = [], []
        for n, c in enumerate(picked, start=1):
            pieces.append(f"{c.text} [{n}]")
            offset = c.hit.record.start
            citations.append(cite(n, c.hit.record, c.start - offset, c.end - offset, True))
        pieces += [not_found(part) for part in missing]
        value = None if question.parts else asked_value(question, [c.text for c in picked])
        if value is not None:  # the asked figure, year or items themselves, then the evidence
            pieces.insert(0, f"{value} —")
        return Draft(text=" ".join(pieces), refused=False, citations=citations, trace=trace)

    def _choose(
        self, part: Question, ranked: list[Candidate], taken: list[Candidate], several: bool
    ) -> list[Candidate]:
        """The accepted sentences for one question (part), shaped by what it asks."""
        limit = self.settings.answer_sentences
        most = most_sentences(part, several, limit)
        if most == 1:  # a close second (and third) is cited too: the top one may be wrong
            most = self.policy.cited([c.score for c in ranked[:limit]], limit)
        chosen: list[Candidate] = []
        for c in ranked:
            if len(chosen) == most or not self.policy.accepts(c.score, part.lang):
                break
            if any(_same(c, other) for other in [*taken, *chosen]):
                continue
            chosen.append(c)
        return chosen

    def _trace(
        self,
        question: Question,
        picked: list[Candidate],
        best_rejected: Candidate | None,
        missing: list[Question],
    ) -> Trace:
        point = self.policy.threshold(question.lang)
        if not picked:
            decision = "declined: " + _why_declined(best_rejected, point)
        elif missing:
            decision = (
                f"answered {len(question.parts) - len(missing)} of {len(question.parts)} parts"
            )
        else:
            decision = f"answered with {len(picked)} sentence(s)"
        reason = None
        if best_rejected is not None and not best_rejected.featured.ineligible:
            reason = (
                "over the operating point, but the answer already has its sentences"
                if self.policy.accepts(best_rejected.score, question.lang)
                else f"probability under the operating point {point:.3f}"
            )
        return Trace(
            analysis=question.as_dict(),
            policy=self.policy.version,
            threshold=round(point, 4),
            decision=decision,
            chosen=[c.considered() for c in picked],
            best_rejected=best_rejected.considered(reason) if best_rejected else None,
        )


def standings(hits: list[Hit]) -> dict[int, float]:
    """Each hit's fused score over the best hit's, by `id` of the hit (1 for the best)."""
    top = max((h.score for h in hits), default=0.0)
    return {id(h): h.score / top if top > 0 else 1.0 for h in hits}


def most_sentences(part: Question, whole: bool, limit: int) -> int:
    """How many sentences may answer a question (part): one for a figure, a date or a
    definition, and for each part of a two-part question; a list gathers more."""
    if not whole:
        return 1
    if part.asks == "list":
        return _LIST_MOST
    return 1 if part.asks in _ONE_SENTENCE else limit


def _same(a: Candidate, b: Candidate) -> bool:
    """Whether two sentences say the same (the same sentence in two chunks, or a near copy)."""
    if (a.hit.record.source, a.start) == (b.hit.record.source, b.start):
        return True
    x, y = a.terms, b.terms
    return bool(x and y) and len(x & y) / len(x | y) >= _SAME


def _why_declined(best: Candidate | None, threshold: float) -> str:
    if best is None:
        return "no passage was retrieved"
    if best.featured.ineligible:
        return f"no retrieved sentence fits: the best {best.featured.ineligible}"
    return (
        f"the best sentence's probability {best.score:.3f} is under the operating point "
        f"{threshold:.3f}"
    )


def asked_value(question: Question, sentences: list[str]) -> str | None:
    """What the question asks for, as the answer's sentences write it: the figure with its
    unit of a "how many" question or the year of a "when" question, when the first sentence
    states exactly one such; the items of a list question, when they name two or more."""
    if question.asks == "list":
        items = gather(question, sentences)
        return ("、" if question.lang == "zh" else "; ").join(items) if len(items) > 1 else None
    if question.asks == "number" and question.unit:
        found = set(figures_with_unit(sentences[0], question.unit))
    elif question.asks == "date":
        found = {y for y in years_in(sentences[0]) if y[:4] not in question.text}
    else:
        return None
    return found.pop() if len(found) == 1 else None


def not_found(part: Question) -> str:
    """The sentence that says one part of a two-part question is not in the articles."""
    if part.lang == "zh":
        return f"文章中没有找到：{part.text.rstrip('？?。')}。"
    return f"The articles do not say: {part.text.rstrip('?')}."


def refusal(hits: list[Hit], best: Candidate | None = None) -> str:
    """One sentence saying the articles do not answer, naming the closest ones."""
    names: list[str] = []
    for hit in hits:
        label = f"“{hit.record.title}” ({hit.record.source})"
        if label not in names:
            names.append(label)
    if not names:
        return "The indexed articles do not answer this question, and none of them is close to it."
    why = ""
    if best is not None and best.featured.ineligible:
        missing = best.featured.ineligible.removeprefix("does not mention ")
        why = f" (no retrieved sentence mentions {missing})"
    return (
        f"The indexed articles do not answer this question{why}; the closest are "
        + "; ".join(names[:3])
        + "."
    )
