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
# A line narrower than this share of the page's full line ends its paragraph when it ends a
# sentence; one narrower than the second share (a heading, a byline) ends it in any case.
_SHORT, _HEADING = 0.85, 0.5
_SIZE_CHANGE = 0.1  # a font size this much larger or smaller than the paragraph's starts anew


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
        pages = [_paragraphs(_sized_lines(page)) for page in reader.pages]
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


def _sized_lines(page: Any) -> list[tuple[str, float]]:
    """The text lines of a PDF page, each with the largest font size drawn on it (pypdf hands
    each piece of text it outputs to a visitor, with its font size and matrices)."""
    lines: list[tuple[str, float]] = [("", 0.0)]

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: float) -> None:
        drawn = size * abs(tm[3] * cm[3]) or size  # Tf 1 scaled by the text matrix is common
        for i, piece in enumerate(text.split("\n")):
            if i:
                lines.append(("", 0.0))
            line, largest = lines[-1]
            lines[-1] = (line + piece, max(largest, drawn) if piece.strip() else largest)

    page.extract_text(visitor_text=visit)
    return [(line.strip(), size) for line, size in lines]


def _width(line: str) -> int:
    """A line's width in Latin characters: a CJK character is drawn twice as wide."""
    return len(line) + len(_WIDE.findall(line))


def _paragraphs(lines: list[tuple[str, float]]) -> list[str]:
    """The wrapped lines of one page, each with its font size, joined back into paragraphs.

    A PDF holds lines, not paragraphs, and a sentence wrapped over two lines must stay one
    sentence. A change of font size (a title, a heading) ends a paragraph; so does a blank
    line, and a line that ends a sentence when it is clearly shorter than the page's full
    line, or any line much shorter than that (a heading in the body's size). A full line is
    the upper quartile of the page's line widths: most lines of running text are full, and the last
    lines of paragraphs, the headings and a wide title are the minority on either side."""
    widths = [_width(line) for line, _ in lines if line]
    if not widths:
        return []
    usual = statistics.quantiles(widths, n=4, method="inclusive")[2] if widths[1:] else widths[0]
    paragraphs: list[str] = []
    current, current_size = "", 0.0
    for line, size in lines:
        if current and (not line or abs(size - current_size) > _SIZE_CHANGE * current_size):
            paragraphs.append(current)
            current = ""
        if not line:
            continue
        current, current_size = (_join(current, line), current_size) if current else (line, size)
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
    seen: set[Any] = set()  # the cells' XML elements, kept so that each stays the same object
    for row in table.rows:
        for cell in row.cells:
            if cell._tc in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(cell._tc)
            for block in cell.iter_inner_content():
                lines += _cells(block) if isinstance(block, Table) else [block.text]
    return lines
