"""Read one article file (.txt, .md, .html, .pdf, .docx, a saved web page) and clean it into an
Article with title, date and, for a PDF, where each page starts."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from qa.corpus.web import WEB_PAGE_SUFFIX
from qa.errors import ArticleError

# what a user gives (a folder, an upload); a saved web page is written by `qa ingest URL`
FILE_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
ARTICLE_SUFFIXES = (*FILE_SUFFIXES, WEB_PAGE_SUFFIX)

# Lines that are site chrome, not article text (matched against a whole, stripped line).
_CHROME_LINE = re.compile(
    r"""^(?:
        [【\[]?\s*print\s*[】\]]?\s*[【\[]?\s*close\s*[】\]]?     # 【print】 【close】
      | browsing\s*:?\s*\d*                                      # browsing: 1234
      | eyesight\s+protection\s*:?.*                             # font-size widget
      | home\s*(?:>|&gt;|›)[^.]{0,80}                            # Home>Hot News breadcrumb
      | (?:copyright|©|contact\s+us|email\s+address\s*:).{0,60}   # a short footer line; a
      | .*all\s+rights\s+reserved.*                               # news line may start with ©
      | (?:release\s+)?date\s*:?\s*$                             # an empty date label
      | [•·]\s*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Footers glued to the end of a paragraph ("...accepts in the same year".Declaration: ...).
_CHROME_TAIL = re.compile(
    r"(?:Declaration\s*:\s*The\s+copyright|Copyright\s*©|Email\s+address\s*:).*$",
    re.IGNORECASE,
)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DATE = re.compile(
    rf"""(?P<ymd>(?P<y>(?:19|20)\d\d)\s*[-/.年]\s*(?P<m>\d{{1,2}})\s*[-/.月]\s*(?P<d>\d{{1,2}})\s*日?)
      | (?P<mdy>(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d)
      | (?P<dmy>\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?,?\s+(?:19|20)\d\d)""",
    re.IGNORECASE | re.VERBOSE,
)
# A header line that only carries the date (and perhaps a time, a label or a byline stub).
_DATE_ONLY_LINE = re.compile(
    r"^(?:[•·]\s*)?(?:release\s+)?(?:date\s*:?\s*)?(?P<date>.{6,30}?)"
    r"(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?(?:\s+\d+\s+By)?\s*$",
    re.IGNORECASE,
)
_DATE_PREFIX = re.compile(r"^(?:release\s+)?date\s*:?\s*", re.IGNORECASE)
# What news exports put between a leading date and the title: the time, and labels such as
# "2023-07-26 09:28，正文：原标题：“…”" (body:, original title:)
_TITLE_LEAD = re.compile(
    r"^(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?(?:[\s,，:：]*(?:正文|原标题|标题|body|title)\s*[:：])*[\s,，:：]*",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s")
_SPACES = re.compile(r"[ \t\u00a0\u3000\u2002-\u200a]+")
_HEADER_LINES = 4  # the date of publication is looked for in the first lines only


@dataclass(frozen=True)
class Article:
    """A cleaned article: `id` is its file name (a web page's: its address), `text` the
    cleaned text citations point into, `pages` where each page starts in it (PDF only)."""

    id: str
    title: str
    date: date | None
    text: str
    sha256: str
    path: Path
    pages: tuple[int, ...] = ()  # offset in `text` of page 1, 2, ...; () when not paged


def load_article(path: Path, max_bytes: int) -> Article:
    """Read and clean one article file; raise ArticleError saying why it cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in ARTICLE_SUFFIXES:
        raise ArticleError(
            f"unsupported file type {path.suffix or '(none)'}: use {', '.join(FILE_SUFFIXES)}"
        )
    data = read_regular(path, max_bytes)
    if suffix == ".pdf":
        from qa.corpus.documents import pdf_pages

        pages = pdf_pages(data)
        lines = [line for page in pages for line in page]
        on_page = [n for n, page in enumerate(pages, start=1) for _ in page]
        return _article(path.name, path, lines, on_page, len(pages))
    if suffix == ".docx":
        from qa.corpus.documents import docx_lines

        return _article(path.name, path, docx_lines(data))
    if suffix == WEB_PAGE_SUFFIX:
        from qa.corpus.web import read_saved_page

        page = read_saved_page(data)
        return _article(page.url, path, page.lines, published=page.date)
    raw = _decode(data)
    if suffix in (".html", ".htm"):
        html_title, body = _html_to_text(raw)
        lines = ([html_title] if html_title else []) + body.splitlines()
    else:
        lines = raw.splitlines()
        if suffix == ".md":
            lines = [_strip_markdown(line) for line in lines]
    return _article(path.name, path, lines)


def _article(
    article_id: str,
    path: Path,
    lines: list[str],
    on_page: list[int] | None = None,
    page_count: int = 0,
    published: date | None = None,
) -> Article:
    """The Article of cleaned `lines`: the first kept line is its title. `on_page` gives each
    line's page, from which the offset where each page starts in the text is found."""
    found, kept = _clean_lines(lines)
    if len(kept) == 1:  # one paragraph, no title line: its first sentence is the title
        kept = [(kept[0][0], _first_sentence(kept[0][1])), kept[0]]
    if not kept:
        raise ArticleError("no article text left after removing site chrome (is the file empty?)")
    text = "\n\n".join(line for _, line in kept)
    starts: tuple[int, ...] = ()
    if on_page is not None:
        starts = _page_starts(kept, on_page, page_count, len(text))
    return Article(
        id=article_id,
        title=kept[0][1],
        date=published or found,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=path,
        pages=starts,
    )


def _page_starts(
    kept: list[tuple[int, str]], on_page: list[int], page_count: int, end: int
) -> tuple[int, ...]:
    """Where each page starts in the text joined from `kept` lines (by their input index)."""
    first: dict[int, int] = {}
    offset = 0
    for index, line in kept:
        first.setdefault(on_page[index], offset)
        offset += len(line) + 2  # the paragraph break
    starts = [0] * page_count
    following = end  # a page without text starts where the next page with text does
    for page in range(page_count, 0, -1):
        following = first.get(page, following)
        starts[page - 1] = following
    if starts:
        starts[0] = 0  # the title and anything before the first kept line are on page 1
    return tuple(starts)


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, read whole; a FIFO, device, socket or folder is never
    opened for reading, and a file that changes while it is read is read again once."""
    for _ in range(2):
        before = _regular_stat(path, max_bytes)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO swapped in cannot block
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ArticleError("not a regular file: only article files are read")
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(max_bytes + 1)
        finally:
            os.close(fd)
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns) and len(
            data
        ) == before.st_size:
            return data
    raise ArticleError("it changed while it was being read: ingest again once it is saved")


def _regular_stat(path: Path, max_bytes: int) -> os.stat_result:
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise ArticleError("a folder, not a file: only article files are read")
    if not stat.S_ISREG(info.st_mode):
        raise ArticleError("not a regular file (a pipe, device or socket): it was not opened")
    if info.st_size > max_bytes:
        raise ArticleError(
            f"{info.st_size:,} bytes is over the {max_bytes:,}-byte limit "
            "(raise QA_MAX_ARTICLE_BYTES)"
        )
    return info


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:  # UTF-32's BOM starts like UTF-16's: longest first
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise ArticleError(
                    f"starts as {encoding} but does not decode: save it as UTF-8"
                ) from None
    if b"\x00" in data[:4096]:
        raise ArticleError("binary file (NUL bytes): save the article as UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:  # Chinese saved as GBK/GB18030 is the common non-UTF-8 case
        text = data.decode("gb18030")
        if len(_CJK.findall(text)) >= len(text) // 5:
            return text
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # only for the rare non-UTF-8 file

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise ArticleError("not UTF-8 and no text encoding could be detected: save it as UTF-8")
    return str(best)


def _html_to_text(raw: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup  # only HTML articles need it

    soup = BeautifulSoup(raw, "html.parser")
    heading = soup.find("h1")
    title = heading.get_text(" ", strip=True) if heading else ""
    if not title and soup.title:
        title = soup.title.get_text(" ", strip=True)
    if heading:
        heading.decompose()
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "title"]):
        tag.decompose()
    return title, soup.get_text("\n")


def _strip_markdown(line: str) -> str:
    line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)
    line = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", line)
    return re.sub(r"(\*\*|__|`)", "", line)


def _clean_lines(lines: list[str]) -> tuple[date | None, list[tuple[int, str]]]:
    """Drop chrome and pull the publication date out of the header lines: the date, and each
    kept line (the title first) with its index in `lines`."""
    kept: list[tuple[int, str]] = []
    published: date | None = None
    for index, line in enumerate(lines):
        line = _SPACES.sub(" ", line).strip().lstrip("•·").strip()
        line = _CHROME_TAIL.sub("", line).strip()
        if not line or _CHROME_LINE.match(line):
            continue
        if len(kept) < _HEADER_LINES:
            found = _header_date(line, is_title=not kept)
            if found is not None:
                published = published or found[0]
                line = found[1]
                if not line:
                    continue
        kept.append((index, line))
    return published, kept


def _header_date(line: str, *, is_title: bool) -> tuple[date, str] | None:
    """The date in a header line, and the line without it ('' when it held nothing else)."""
    match = _DATE.search(line)
    if match is None:
        return None
    parsed = _parse_date(match)
    if parsed is None:
        return None
    only = _DATE_ONLY_LINE.match(line)
    if only and _DATE.fullmatch(only.group("date").strip()):
        return parsed, ""
    if is_title and match.start() <= len("release date: "):
        # "date 2023-08-17 The first batch of ..." : a date label glued to the title
        before = _DATE_PREFIX.sub("", line[: match.start()]).strip()
        if not before:
            return parsed, _TITLE_LEAD.sub("", line[match.end() :]).strip()
    return parsed, line


def _parse_date(match: re.Match[str]) -> date | None:
    try:
        if match.group("ymd"):
            return date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
        from dateutil import parser as date_parser  # month names in several styles

        text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", match.group(0))
        parsed: date = date_parser.parse(text).date()
        return parsed
    except (ValueError, OverflowError):
        return None


def _first_sentence(line: str, most: int = 120) -> str:
    """The first sentence of a line, cut at a word boundary past `most` characters."""
    head = _SENTENCE_END.split(line, maxsplit=1)[0].strip() or line
    if len(head) <= most:
        return head
    cut = head[:most].rsplit(" ", 1)[0]
    return (cut if len(cut) > most // 2 else head[:most]) + "…"
