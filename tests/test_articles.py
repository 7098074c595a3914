"""Reading and cleaning article files: titles, dates, chrome, bad files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa.corpus.articles import load_article
from qa.errors import ArticleError

from .conftest import DATA, SEEDS

LIMIT = 2_000_000


@pytest.mark.parametrize(
    ("name", "published", "title_start"),
    [
        ("000_8914bb077c7574b6.txt", dt.date(2022, 5, 19), "Haiyan Economic Development Zone"),
        ("001_ae99122ffd5b407f.txt", dt.date(2022, 6, 6), "Zhejiang Daily | Xu Jun"),
        ("002_0604e1e3ffab9117.txt", None, "Higher quality, larger structure"),
        ("003_741e1901b211ff40.txt", dt.date(2023, 8, 17), "The first batch of provincial"),
        ("004_4da27102129140ac.txt", dt.date(2023, 3, 15), "The High-tech Zone opened"),
    ],
)
def test_seed_titles_and_dates(name: str, published: dt.date | None, title_start: str) -> None:
    article = load_article(SEEDS / name, LIMIT)
    assert article.id == name
    assert article.date == published
    assert article.title.startswith(title_start)
    assert article.text.startswith(article.title)


@pytest.mark.parametrize("path", sorted(SEEDS.iterdir()), ids=lambda p: p.name)
def test_site_chrome_is_removed_and_whitespace_normalised(path: Path) -> None:
    text = load_article(path, LIMIT).text
    for chrome in (
        "print】",
        "【close",
        "browsing:",
        "Eyesight Protection",
        "Home>Hot News",
        "Declaration: The copyright",
        "Email address",
        "Release date",
        "•",
    ):
        assert chrome not in text
    assert "  " not in text and "\t" not in text and "\n\n\n" not in text


def test_body_text_keeps_its_own_dates() -> None:
    text = load_article(SEEDS / "003_741e1901b211ff40.txt", LIMIT).text
    assert "August 17, 2023 – The Municipal Economic and Information Bureau" in text


def test_same_text_same_sha_and_changed_text_new_sha(tmp_path: Path) -> None:
    a = load_article(SEEDS / "004_4da27102129140ac.txt", LIMIT)
    copy = tmp_path / "copy.txt"
    copy.write_bytes((SEEDS / "004_4da27102129140ac.txt").read_bytes().replace(b"\n", b"\r\n"))
    assert load_article(copy, LIMIT).sha256 == a.sha256  # line endings are not a change
    copy.write_text(a.text + "\n\nOne more sentence.", encoding="utf-8")
    assert load_article(copy, LIMIT).sha256 != a.sha256


def test_html_article(tmp_path: Path) -> None:
    article = load_article(DATA / "lanxi_park.html", LIMIT)
    assert article.title == "Lanxi builds a battery materials park"
    assert article.date == dt.date(2024, 4, 2)
    assert "420 enterprises" in article.text
    assert "alert(" not in article.text and "Copyright" not in article.text


def test_markdown_article() -> None:
    article = load_article(DATA / "deqing_geo.md", LIMIT)
    assert article.title == "Deqing's geospatial information town"
    assert article.date == dt.date(2021, 11, 3)
    assert "**" not in article.text and "](" not in article.text


def test_gbk_encoded_chinese_article_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes(
        "湖州南太湖新区发布产业政策\n\n2024年3月1日\n\n新区计划引进一百家高端装备企业。".encode(
            "gbk"
        )
    )
    article = load_article(path, LIMIT)
    assert article.title == "湖州南太湖新区发布产业政策"
    assert article.date == dt.date(2024, 3, 1)


@pytest.mark.parametrize(
    ("content", "limit", "reason"),
    [
        (b"\x00\x01\x02binary\xff\xfe", LIMIT, "binary"),
        (b"  \n\n\t \n", LIMIT, "no article text"),
        ("【print】 【close】\n browsing: \n".encode(), LIMIT, "no article text"),
        (b"A title\n\n" + b"x" * 200, 100, "over the 100-byte limit"),
    ],
)
def test_bad_files_raise_a_clear_error(
    tmp_path: Path, content: bytes, limit: int, reason: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ArticleError, match=reason):
        load_article(path, limit)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_with_a_byte_order_mark_is_decoded(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "wide.txt"
    text = "嘉兴发布产业集群名单\n\n平湖数控机床产业集群有70多家企业。"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    article = load_article(path, LIMIT)
    assert article.title == "嘉兴发布产业集群名单" and "70多家企业" in article.text


def test_gb18030_chinese_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "gb.txt"
    path.write_bytes("标题行\n\n这是用国标编码保存的一篇新闻，𠀀字也在。".encode("gb18030"))
    assert "国标编码" in load_article(path, LIMIT).text


def test_a_one_paragraph_article_keeps_its_text(tmp_path: Path) -> None:
    copyright_first = tmp_path / "c.txt"
    copyright_first.write_text(
        "© Xinhua. The park signed 12 projects worth 3 billion yuan on Monday, officials said.",
        encoding="utf-8",
    )
    assert "12 projects" in load_article(copyright_first, LIMIT).text
    dated = tmp_path / "d.txt"
    dated.write_text("2023-08-16 18:24:57\n新区签约12个项目。总投资30亿元。", encoding="utf-8")
    article = load_article(dated, LIMIT)
    assert article.date == dt.date(2023, 8, 16)
    assert article.title == "新区签约12个项目。" and "总投资30亿元" in article.text


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    with pytest.raises(ArticleError, match="not a regular file"):
        load_article(fifo, LIMIT)  # never opened: this would hang otherwise
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(ArticleError, match="a folder"):
        load_article(folder, LIMIT)


def _writer_during_reads(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> None:
    """As if another program appended to `path` while each of the next `times` reads ran."""
    import os as os_module

    real = os_module.fdopen
    left = [times]

    def fdopen(fd: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real(fd, *args, **kwargs)  # type: ignore[call-overload]
        if left[0] > 0:
            left[0] -= 1
            with path.open("a", encoding="utf-8") as f:
                f.write("\nA sentence saved while the file was read.")
        return handle

    monkeypatch.setattr("qa.corpus.articles.os.fdopen", fdopen)


def test_a_file_that_changes_while_read_is_read_again_or_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "news.txt"
    path.write_text("Title\n\nThe park opened in 2021. It has 40 firms.", encoding="utf-8")
    _writer_during_reads(monkeypatch, path, times=1)
    article = load_article(path, 10_000)  # read again once: the whole, saved text
    assert article.text.endswith("A sentence saved while the file was read.")
    _writer_during_reads(monkeypatch, path, times=5)
    with pytest.raises(ArticleError, match="changed while it was being read"):
        load_article(path, 10_000)  # never half indexed


def test_a_news_export_title_drops_the_time_and_labels_after_its_date(tmp_path: Path) -> None:
    """One paragraph, "date time，正文：原标题：title body…": the title starts at the title."""
    path = tmp_path / "export.txt"
    path.write_text(
        "2023-07-26 13:15，正文：原标题：“园区新项目开工” 嘉善县25日讯，新项目今日开工。"
        "后续还有三期。",
        encoding="utf-8",
    )
    article = load_article(path, LIMIT)
    assert article.date == dt.date(2023, 7, 26)
    assert article.title.startswith("“园区新项目开工” 嘉善县25日讯")
    assert "13:15" not in article.title and "正文" not in article.text.split("。")[0]
