"""PDF benchmark: text extraction speed (pages/s) and quality (the share of written sentences
found verbatim in the cleaned article) on 100-page English and Chinese PDFs it writes itself.

Run as `python -m qa.eval.bench_pdf [--pages 100]`. Writing the PDFs needs reportlab, which is
in the dev extra (`pip install -e '.[dev]'`); reading them is what Delta QA ships (pypdf). The
writer is also what the tests build their PDFs with.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

CJK_FONT = "STSong-Light"  # a CID font every PDF reader knows: no font file is embedded
SENTENCES_PER_PAGE = 12
_CJK = re.compile(r"[\u3400-\u9fff]")

# invented towns: the benchmark's text names nothing from the articles
_CITIES = [
    "Northfield",
    "Eastbrook",
    "Westmere",
    "Southport",
    "Lakeside",
    "Hillcrest",
    "Riverton",
    "Oakdale",
]
_THINGS = [
    "industrial park",
    "development zone",
    "machine tool cluster",
    "new materials base",
    "digital economy hub",
    "bamboo processing cluster",
]
_VERBS = ["hosted", "attracted", "counted", "signed up", "welcomed"]
_ZH_CITIES = ["甲城", "乙城", "丙城", "丁城", "戊城", "己城", "庚城", "辛城"]
_ZH_THINGS = [
    "工业园区",
    "经济开发区",
    "数控机床产业集群",
    "新材料基地",
    "数字经济中心",
    "竹产业集群",
]
_ZH_VERBS = ["吸引了", "聚集了", "新增了", "签约了"]


def _reportlab() -> Any:
    """The reportlab package, or a ConfigError naming the extra that holds it."""
    try:
        import reportlab
    except ImportError:
        raise ConfigError(
            "writing PDFs needs reportlab, in the dev extra: pip install -e '.[dev]'"
        ) from None
    return reportlab


def sentences(count: int, chinese: bool, seed: int = 0) -> list[str]:
    """`count` distinct invented news sentences about parks and clusters, with figures."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(count):
        year, n = rng.randint(2015, 2024), rng.randint(10, 900) + i * 1000
        if chinese:
            city, thing, verb = (
                rng.choice(_ZH_CITIES),
                rng.choice(_ZH_THINGS),
                rng.choice(_ZH_VERBS),
            )
            out.append(f"{year}年，{city}{thing}{verb}{n}家企业，产值达到{n % 97 + 3}亿元。")
        else:
            city, thing, verb = rng.choice(_CITIES), rng.choice(_THINGS), rng.choice(_VERBS)
            out.append(
                f"In {year} the {city} {thing} {verb} {n} enterprises, with an output value of "
                f"{n % 97 + 3} billion yuan."
            )
    return out


def write_pdf(path: Path, title: str, pages: Sequence[Sequence[str]], *, columns: int = 1) -> Path:
    """A PDF at `path`: the title on page 1, then each page's paragraphs, one page each,
    set in `columns` columns (Chinese text in the CJK font); pages are flowed by reportlab
    as a typesetter would, so sentences wrap across lines."""
    _reportlab()
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate, Paragraph

    chinese = bool(_CJK.search(title + "".join("".join(p) for p in pages)))
    font = "Helvetica"
    if chinese:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        font = CJK_FONT
    body = ParagraphStyle(
        "body",
        fontName=font,
        fontSize=10,
        leading=14,
        spaceAfter=6,
        wordWrap="CJK" if chinese else None,
    )
    heading = ParagraphStyle("title", parent=body, fontSize=16, leading=20, spaceAfter=12)
    width, height = A4
    margin, gap = 56.0, 18.0
    column = (width - 2 * margin - gap * (columns - 1)) / columns
    frames = [
        Frame(margin + i * (column + gap), margin, column, height - 2 * margin, id=f"c{i}")
        for i in range(columns)
    ]
    document = BaseDocTemplate(str(path), pagesize=A4, title=title)
    document.addPageTemplates([PageTemplate(id="page", frames=frames)])
    story: list[Any] = [Paragraph(title, heading)]
    for i, paragraphs in enumerate(pages):
        if i:
            story.append(PageBreak())
        story += [Paragraph(text, body) for text in paragraphs]
    document.build(story)
    return path


def write_scanned_pdf(path: Path) -> Path:
    """A PDF like a scan: one page holding only a picture (of grey bars), no text at all."""
    _reportlab()
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), pagesize=A4)
    for row in range(20):
        page.setFillGray(0.2 + 0.03 * (row % 5))
        page.rect(60, 760 - row * 30, 300 + (row * 37) % 160, 12, stroke=0, fill=1)
    page.showPage()
    page.save()
    return path


@dataclass(frozen=True)
class PdfResult:
    """One benchmarked PDF: its pages, extraction time and the verbatim share."""

    language: str
    pages: int
    seconds: float
    sentences: int
    verbatim: int

    @property
    def pages_per_s(self) -> float:
        """Pages read (pypdf extraction, joining lines, cleaning) per second."""
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def verbatim_share(self) -> float:
        """Share of the written sentences found verbatim in the cleaned text."""
        return self.verbatim / self.sentences if self.sentences else 0.0


def measure(folder: Path, pages: int, chinese: bool, columns: int = 1) -> PdfResult:
    """Write a `pages`-page PDF into `folder`, read it as an article, and score it."""
    from qa.corpus.articles import load_article

    written = sentences(pages * SENTENCES_PER_PAGE, chinese, seed=pages)
    per_page = [
        [" ".join(written[i : i + 3]) for i in range(p, p + SENTENCES_PER_PAGE, 3)]
        for p in range(0, len(written), SENTENCES_PER_PAGE)
    ]
    language = "zh" if chinese else "en"
    title = "长三角产业园区年度报告" if chinese else "Yangtze River Delta industrial parks report"
    path = write_pdf(folder / f"bench-{language}-{columns}.pdf", title, per_page, columns=columns)
    started = time.perf_counter()
    article = load_article(path, max_bytes=path.stat().st_size)
    seconds = time.perf_counter() - started
    found = sum(sentence in article.text for sentence in written)
    return PdfResult(language, len(article.pages), seconds, len(written), found)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one line per PDF."""
    import tempfile

    parser = argparse.ArgumentParser(
        prog="python -m qa.eval.bench_pdf", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--columns", type=int, default=1, help="1, or 2 for a two-column layout")
    args = parser.parse_args(argv)
    try:
        _reportlab()
    except ConfigError as exc:
        parser.exit(2, f"error: {exc}\n")
    with tempfile.TemporaryDirectory() as tmp:
        for chinese in (False, True):
            r = measure(Path(tmp), args.pages, chinese, args.columns)
            print(
                f"{r.language}: {r.pages} pages in {r.seconds:.2f} s = "
                f"{r.pages_per_s:.1f} pages/s; verbatim {r.verbatim}/{r.sentences} = "
                f"{r.verbatim_share:.4f}"
            )


if __name__ == "__main__":
    main()
