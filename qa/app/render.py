"""Turn questions, answers and article text into HTML that the chat page shows as plain text.

Everything that comes from a user, an article or a model is escaped before it reaches the
browser: HTML becomes text, and the characters Markdown builds links, images and emphasis
from are written as character references, so no link or image to an outside host is ever
made from that text. Messages are one HTML block without blank lines, so the chat's
Markdown renderer passes them through as they are; our own tags (`<mark>`, `<details>`,
the citation markers) are added after escaping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from qa.models import Answer, Citation

# Markdown syntax characters, and ':' and '.' so that bare URLs are not auto-linked.
_MARKDOWN = {ch: f"&#{ord(ch)};" for ch in "[]()!*_`~#|\\:$.{}<>&\"'"}
_MARKER = re.compile(r"&#91;(\d{1,3})&#93;")
CLOSEST_ARTICLES = 3
UNVERIFIED = "the cited passage does not state this claim"


def escape(text: str) -> str:
    """`text` as inert HTML: tags, Markdown and URLs show as typed; newlines become <br>."""
    out = "".join(_MARKDOWN.get(ch, ch) for ch in text)
    return re.sub(r"\r?\n", "<br>", out)


def _markers(
    escaped: str, unverified: frozenset[int] = frozenset(), key: str | None = None
) -> str:
    """Make the escaped `[n]` markers stand out as citation references; the markers of
    citations whose passage does not state the claim say so. With a `key` (the answer's, see
    `source_id`) each marker links to its entry in the answer's Sources."""

    def marker(m: re.Match[str]) -> str:
        n = int(m.group(1))
        classes, label, title = "qa-ref", f"[{n}]", f"source {n}"
        if n in unverified:
            classes, label, title = "qa-ref qa-unverified", f"[{n}, unverified]", UNVERIFIED
        if key is None:
            extra = f' title="{UNVERIFIED}"' if n in unverified else ""
            return f'<span class="{classes}"{extra}>{label}</span>'
        return f'<a class="{classes}" href="#{source_id(key, n)}" title="{title}">{label}</a>'

    return _MARKER.sub(marker, escaped)


def source_id(key: str, n: int) -> str:
    """The element id of citation n in the Sources of the answer shown under `key` (unique
    in the page: the chat gives each answer its own key)."""
    return f"qa-{key}-src-{n}"


def render_question(question: str) -> str:
    """A user's question as the chat shows it."""
    return f'<div class="qa-question">{escape(question)}</div>'


def render_partial(text: str) -> str:
    """The answer text streamed so far."""
    return f'<div class="qa-answer qa-streaming">{_markers(escape(text))}</div>'


def render_error(message: str) -> str:
    """A problem with the question or the set-up, with what to do about it."""
    return f'<div class="qa-error" role="alert">⚠ {escape(message)}</div>'


def _highlighted(citation: Citation, answer: Answer) -> str:
    """The passage that holds the quoted sentence, with the sentence marked."""
    for passage in answer.passages:
        if passage.source == citation.source and citation.quote in passage.text:
            before, _, after = passage.text.partition(citation.quote)
            return f"{escape(before)}<mark>{escape(citation.quote)}</mark>{escape(after)}"
    return f"<mark>{escape(citation.quote)}</mark>"


def render_sources(answer: Answer, key: str | None = None) -> str:
    """The collapsible Sources section: per citation, title, date, file (or address), the
    page of a PDF, and the marked quote; each entry has its `source_id` under `key`."""
    if not answer.citations:
        return ""
    items = []
    for c in answer.citations:
        when = f" · {c.date.isoformat()}" if c.date else ""
        page = f" · p. {c.page}" if c.page is not None else ""
        unverified = (
            "" if c.verified else f' <span class="qa-unverified">(unverified: {UNVERIFIED})</span>'
        )
        anchor = f' id="{source_id(key, c.n)}"' if key is not None else ""
        items.append(
            f'<li{anchor}><span class="qa-ref">[{c.n}]</span> <b>{escape(c.title)}</b>{when} · '
            f"<code>{escape(c.source)}</code>{page}{unverified}"
            f'<blockquote class="qa-passage">{_highlighted(c, answer)}</blockquote></li>'
        )
    return (
        f'<details class="qa-sources"><summary>Sources ({len(answer.citations)})</summary>'
        f'<ol class="qa-citations">{"".join(items)}</ol></details>'
    )


def _closest(answer: Answer, titles: Mapping[str, str]) -> str:
    names: list[str] = []
    for passage in answer.passages:
        if passage.source not in names:
            names.append(passage.source)
    items = "".join(
        f"<li><b>{escape(titles.get(name, name))}</b> · <code>{escape(name)}</code></li>"
        for name in names[:CLOSEST_ARTICLES]
    )
    return f'<p>Closest articles:</p><ul class="qa-closest">{items}</ul>' if items else ""


def render_trace(answer: Answer) -> str:
    """The collapsible "Why this answer?" section: the question's analysis, the policy's
    decision, and the features of the chosen sentence and of the best one turned down."""
    if answer.trace is None:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in answer.trace.lines())
    return (
        '<details class="qa-why"><summary>Why this answer?</summary>'
        f'<ul class="qa-trace">{items}</ul></details>'
    )


def render_answer(answer: Answer, titles: Mapping[str, str], key: str | None = None) -> str:
    """A finished answer: notice, text with markers, Sources; a refusal looks different
    and lists the closest articles (`titles` maps file names to article titles). With a `key`,
    unique in the page, its markers link to their Sources entries."""
    parts = []
    if answer.notice:
        parts.append(f'<p class="qa-notice" role="note">⚠ {escape(answer.notice)}</p>')
    if answer.query and answer.query != answer.question:
        parts.append(f'<p class="qa-query">Searched for: {escape(answer.query)}</p>')
    if answer.refused:
        parts.append(
            '<div class="qa-refusal"><p class="qa-refusal-head">Not answered by the articles</p>'
            f"<p>{_markers(escape(answer.text))}</p>{_closest(answer, titles)}</div>"
        )
    else:
        unverified = frozenset(c.n for c in answer.citations if not c.verified)
        text = _markers(escape(answer.text), unverified, key)
        parts.append(f'<div class="qa-answer">{text}</div>')
        parts.append(render_sources(answer, key))
    parts.append(render_trace(answer))
    return "".join(parts)
