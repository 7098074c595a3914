"""The text of binary documents: a PDF's lines page by page (pypdf), joined back into
paragraphs, and a Word file's paragraphs, headings and table cells in order (python-docx)."""

from __future__ import annotations

import io
import re
import statistics
from typing import Any

from qa.errors import ArticleError

# a character that needs no space beside it when a wrapped line is joined: CJK ideographs,
# CJK punctuation and full-width forms
_WIDE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
_ENDS_SENTENCE = re.compile(r"[.!?。！？；;:：”’\"')）」』]$")
# A line narrower than this share of the page's usual line ends its paragraph when it ends a
# sentence; one narrower than the second share (a heading, a byline) ends it in any case.
_SHORT, _HEADING = 0.85, 0.5


def pdf_pages(data: bytes) -> list[list[str]]:
    """The paragraphs of each page of a PDF, in reading order as the file draws them;
    ArticleError when it is encrypted, damaged, or has no text layer (a scan)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise ArticleError(
                "the PDF is encrypted and needs a password: save a copy without one "
                "(print to PDF, or `qpdf --decrypt`) and ingest that"
            )
        pages = [_paragraphs(page.extract_text() or "") for page in reader.pages]
    except ArticleError:
        raise
    except Exception as exc:  # pypdf raises many kinds of error on a malformed file
        raise ArticleError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if not any(pages):
        raise ArticleError(
            "the PDF has no text layer (scanned pages are images): run OCR on it first "
            "(e.g. `ocrmypdf in.pdf out.pdf`) and ingest the result"
        )
    return pages


def _opens_without_password(reader: Any) -> bool:
    """Whether an encrypted PDF opens with the empty password (one locked against editing or
    printing only, which every viewer shows)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # a cipher pypdf cannot run without an extra library: still locked
        return False


def _width(line: str) -> int:
    """A line's width in Latin characters: a CJK character is drawn twice as wide."""
    return len(line) + len(_WIDE.findall(line))


def _paragraphs(text: str) -> list[str]:
    """The wrapped lines of one page joined back into paragraphs.

    A PDF holds lines, not paragraphs, and a sentence wrapped over two lines must stay one
    sentence. A line ends its paragraph when it is clearly shorter than the page's usual
    line (its median width) and ends a sentence, or is much shorter (a heading)."""
    lines = [line.strip() for line in text.splitlines()]
    widths = [_width(line) for line in lines if line]
    if not widths:
        return []
    usual = statistics.median(widths)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = _join(current, line) if current else line
        width = _width(line)
        if width < _HEADING * usual or (width < _SHORT * usual and _ENDS_SENTENCE.search(line)):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _join(before: str, line: str) -> str:
    """Two wrapped lines as one: no space where either side is Chinese."""
    if _WIDE.match(before[-1]) or _WIDE.match(line[0]):
        return before + line
    return f"{before} {line}"


def docx_lines(data: bytes) -> list[str]:
    """The paragraphs, headings and table cells of a Word (.docx) file, in document order;
    ArticleError when it is not a readable .docx."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines += _cells(block)
            else:
                lines.append(block.text)
    except Exception as exc:  # a zip without a Word document, or a damaged one
        raise ArticleError(f"not a readable .docx file ({type(exc).__name__}): {exc}") from None
    return lines


def _cells(table: Any) -> list[str]:
    """The text of each cell of a table, row by row; a merged cell once, nested tables
    in their place."""
    from docx.table import Table

    lines: list[str] = []
    seen: set[int] = set()
    for row in table.rows:
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(id(cell._tc))
            for block in cell.iter_inner_content():
                lines += _cells(block) if isinstance(block, Table) else [block.text]
    return lines
