"""PDF and Word articles: real files written with reportlab and python-docx, in English and
Chinese, read into articles whose citations name the page; scans and locked PDFs are skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.app.cli import _print_answer
from qa.app.render import render_sources
from qa.corpus.articles import load_article
from qa.corpus.documents import _paragraphs
from qa.errors import ArticleError
from qa.eval.bench_pdf import write_pdf, write_scanned_pdf
from qa.index.embeddings import Embedder
from qa.index.records import page_at

from .conftest import make_pipeline

LIMIT = 2_000_000
PARK = (
    "The Haiyan Nuclear Power Industrial Park was founded in 2011 and covers 12 square "
    "kilometres on the coast of Hangzhou Bay."
)
EN_PAGES = [
    [
        "Haiyan County in Jiaxing has spent a decade building an industrial base around the "
        "nuclear power station at Qinshan, with suppliers of valves, pumps and cables.",
        "Local officials say the county now ranks among the leading nuclear supply chains.",
    ],
    [
        "Training is run with Zhejiang University, which opened a school of nuclear "
        "engineering in the county in 2019 with places for 300 students a year.",
    ],
    [PARK, "The park counted 46 enterprises at the end of last year."],
]
ZH_SENTENCE = "平湖经济技术开发区数控机床产业集群有70多家企业，去年产值近140亿元。"
ZH_PAGES = [
    ["平湖市位于浙江省东北部，与上海市金山区接壤，是长三角一体化的前沿城市。"],
    [ZH_SENTENCE, "该集群被列入浙江省第一批省级中小企业特色产业集群。"],
]


def en_pdf(folder: Path) -> Path:
    return write_pdf(folder / "haiyan.pdf", "Haiyan builds a nuclear industry base", EN_PAGES)


def zh_pdf(folder: Path) -> Path:
    return write_pdf(folder / "pinghu.pdf", "平湖数控机床产业集群入选省级名单", ZH_PAGES)


def word_file(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Lanxi opens a textile park", level=1)
    document.add_paragraph("The Lanxi Textile Park opened in March 2022 with 18 firms.")
    document.add_heading("Figures", level=2)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Firms", "18"
    merged = table.cell(1, 0).merge(table.cell(1, 1))
    merged.text = "Investment reached 2.4 billion yuan."
    document.add_paragraph("兰溪纺织园区计划到2025年引进30家企业。")
    document.save(str(path))
    return path


def test_page_at_names_the_page_holding_an_offset() -> None:
    starts = (0, 100, 100, 250)  # page 3 has no text: it starts where page 4 does
    assert [page_at(starts, o) for o in (0, 99, 100, 249, 250, 9999)] == [1, 1, 3, 3, 4, 4]
    assert page_at((), 5) is None


def test_wrapped_lines_are_joined_back_into_paragraphs() -> None:
    lines = [
        ("A title in a larger font", 16.0),
        ("A heading", 10.0),
        ("The Haiyan park hosts 46 enterprises and it", 10.0),
        ("exports valves, pumps and cables to Europe", 10.0),
        ("and Africa.", 10.0),
        ("长三角一体化发展示范区位于上海、江苏", 10.0),
        ("和浙江交界处，成立于2019年。", 10.0),
    ]
    assert _paragraphs(lines) == [
        "A title in a larger font",
        "A heading",
        "The Haiyan park hosts 46 enterprises and it exports valves, pumps and cables to "
        "Europe and Africa.",
        "长三角一体化发展示范区位于上海、江苏和浙江交界处，成立于2019年。",
    ]


def test_an_english_pdf_keeps_its_pages(tmp_path: Path) -> None:
    article = load_article(en_pdf(tmp_path), LIMIT)
    assert article.title == "Haiyan builds a nuclear industry base"
    assert len(article.pages) == 3
    assert PARK in article.text  # one sentence, though the PDF wraps it over lines
    assert page_at(article.pages, article.text.index(PARK)) == 3
    assert page_at(article.pages, article.text.index("Training is run")) == 2


def test_a_chinese_pdf_is_read_verbatim(tmp_path: Path) -> None:
    article = load_article(zh_pdf(tmp_path), LIMIT)
    assert article.title == "平湖数控机床产业集群入选省级名单"
    assert ZH_SENTENCE in article.text
    assert page_at(article.pages, article.text.index(ZH_SENTENCE)) == 2


def test_a_two_column_pdf_is_read_column_by_column(tmp_path: Path) -> None:
    paragraphs = [
        f"Paragraph {i} says the cluster added {10 * i} firms in {2000 + i}." for i in range(40)
    ]
    article = load_article(
        write_pdf(tmp_path / "two.pdf", "Two columns", [paragraphs], columns=2), LIMIT
    )
    offsets = [article.text.find(p) for p in paragraphs]
    assert -1 not in offsets and offsets == sorted(offsets)


def test_a_word_file_keeps_paragraphs_headings_and_table_cells_in_order(tmp_path: Path) -> None:
    article = load_article(word_file(tmp_path / "lanxi.docx"), LIMIT)
    assert article.title == "Lanxi opens a textile park"
    assert article.pages == ()
    expected = [
        "The Lanxi Textile Park opened in March 2022 with 18 firms.",
        "Figures",
        "Firms",
        "18",
        "Investment reached 2.4 billion yuan.",
        "兰溪纺织园区计划到2025年引进30家企业。",
    ]
    assert article.text.split("\n\n")[1:] == expected  # the merged cell once


def locked_pdf(path: Path) -> Path:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), encrypt=StandardEncryption("secret", canPrint=0))
    page.drawString(72, 720, "A confidential report on the park.")
    page.showPage()
    page.save()
    return path


def test_scanned_and_encrypted_pdfs_are_skipped_with_the_reason(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    with pytest.raises(ArticleError, match="no text layer"):
        load_article(write_scanned_pdf(folder / "scan.pdf"), LIMIT)
    with pytest.raises(ArticleError, match="encrypted and needs a password"):
        load_article(locked_pdf(folder / "locked.pdf"), LIMIT)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    word_file(folder / "lanxi.docx")
    report = make_pipeline(tmp_path, folder, embedder).ingest()
    reasons = dict(report.skipped)
    assert set(reasons) == {"scan.pdf", "locked.pdf", "broken.pdf"}
    assert "OCR" in reasons["scan.pdf"] and "password" in reasons["locked.pdf"]
    assert report.added == ["lanxi.docx"]  # nothing else is lost


def test_a_pdf_citation_names_its_page_everywhere(
    tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    en_pdf(folder)
    zh_pdf(folder)
    word_file(folder / "lanxi.docx")
    pipe = make_pipeline(tmp_path, folder, embedder)
    assert sorted(pipe.ingest().added) == ["haiyan.pdf", "lanxi.docx", "pinghu.pdf"]

    answer = pipe.ask("When was the Haiyan Nuclear Power Industrial Park founded?")
    assert not answer.refused, answer.text
    cited = answer.citations[0]
    assert (cited.source, cited.page) == ("haiyan.pdf", 3)
    assert cited.quote == pipe.article_text("haiyan.pdf")[cited.start : cited.end]
    assert any(p.source == "haiyan.pdf" and p.page is not None for p in answer.passages)
    assert " · p. 3" in render_sources(answer)
    _print_answer(answer, as_json=False)
    assert "(haiyan.pdf, p. 3), chars" in capsys.readouterr().out
    _print_answer(answer, as_json=True)
    assert json.loads(capsys.readouterr().out)["citations"][0]["page"] == 3

    answer = pipe.ask("平湖数控机床产业集群有多少家企业？")
    assert not answer.refused, answer.text
    assert (answer.citations[0].source, answer.citations[0].page) == ("pinghu.pdf", 2)
    docx_answer = pipe.ask("When did the Lanxi Textile Park open?")
    assert docx_answer.citations and docx_answer.citations[0].source == "lanxi.docx"
    assert docx_answer.citations[0].page is None
