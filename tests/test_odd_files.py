"""A folder of 50 odd entries beside the seed articles, ingested by a real `qa ingest` process:
it finishes (a hang fails the test), no good article is lost, and every entry that is not
indexed is named with its reason."""

from __future__ import annotations

import codecs
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

from qa.index.embeddings import Embedder

from .conftest import SEEDS, make_pipeline

LIMIT = 50_000  # QA_MAX_ARTICLE_BYTES for this test: the huge file need not be large


def _story(n: int, title: str) -> str:
    return f"{title}\n\nThe odd-file park number {n} signed {n + 10} projects in its first year."


def _good(folder: Path) -> dict[str, str]:
    """Articles that must be indexed, by file name: their title."""
    named = {
        "name with spaces.txt": "Spaces park opens",
        "浙江园区.txt": "Zhejiang park in a Chinese file name",
        "emoji 🚀 news.txt": "Rocket park news",
        unicodedata.normalize("NFD", "café décomposé.txt"): "Decomposed accents park",
        "-starts-with-dash.txt": "Dash park opens",
        "long " + "x" * 200 + ".txt": "Long name park opens",
        " .txt": "Blank name park opens",
        "UPPER.TXT": "Upper case suffix park",
    }
    titles: dict[str, str] = {}
    for n, (name, title) in enumerate(named.items()):
        (folder / name).write_text(_story(n, title), encoding="utf-8")
        titles[name] = title
    encoded = {
        "utf16le.txt": codecs.BOM_UTF16_LE + _story(20, "UTF-16 LE park").encode("utf-16-le"),
        "utf16be.txt": codecs.BOM_UTF16_BE + _story(21, "UTF-16 BE park").encode("utf-16-be"),
        "utf32.txt": _story(22, "UTF-32 park").encode("utf-32"),
        "utf8bom.txt": codecs.BOM_UTF8 + _story(23, "UTF-8 BOM park").encode(),
        "gb18030.txt": "国标新闻园区\n\n新区增长了百分之五，签约二十三个项目。".encode("gb18030"),
        "gbk.txt": "杭州湾新区\n\n湾区引进了十二家企业，投资四十亿元。".encode("gbk"),
        "crlf.txt": _story(26, "Windows line park").replace("\n", "\r\n").encode(),
        "cr-only.txt": _story(27, "Old Mac line park").replace("\n", "\r").encode(),
        "good.md": ("# Markdown park\n\n" + _story(28, "").strip()).encode(),
        "good.html": b"<html><head><title>HTML park</title></head><body><h1>HTML park</h1>"
        b"<p>The odd-file park number 29 signed 39 projects.</p></body></html>",
        "good.htm": b"<html><body><h1>HTM park</h1><p>The park number 30 grew.</p></body></html>",
    }
    titles |= {
        "utf16le.txt": "UTF-16 LE park",
        "utf16be.txt": "UTF-16 BE park",
        "utf32.txt": "UTF-32 park",
        "utf8bom.txt": "UTF-8 BOM park",
        "gb18030.txt": "国标新闻园区",
        "gbk.txt": "杭州湾新区",
        "crlf.txt": "Windows line park",
        "cr-only.txt": "Old Mac line park",
        "good.md": "Markdown park",
        "good.html": "HTML park",
        "good.htm": "HTM park",
    }
    for name, data in encoded.items():
        (folder / name).write_bytes(data)
    return titles


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.txt", "zipped")
    return out.getvalue()


def _bad(folder: Path, outside: Path) -> list[str]:
    """Entries that must be skipped and named; returns their names."""
    noise = random.Random(10).randbytes(6000)
    files = {
        "random.txt": noise,
        "png.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise[:200],
        "zip.txt": _zip(),
        "nul.txt": b"A title\x00\n\nsome text\x00",
        "empty.txt": b"",
        "whitespace.md": b"   \n\n\t \n",
        "chrome.txt": "【print】 【close】\n browsing: 12\nCopyright © 2024".encode(),
        "huge.txt": b"A title\n\n" + b"word " * (LIMIT // 4),
        "empty.html": b"<html><body></body></html>",
        "script-only.html": b"<html><body><script>var a = 1;</script></body></html>",
        "broken-utf16.txt": codecs.BOM_UTF16_LE + b"\x00\xd8A",  # a lone surrogate
        "slides.pdf": b"%PDF-1.4",
        "notes.docx": _zip(),
        "image.png": b"\x89PNG\r\n\x1a\n",
        "archive.zip": _zip(),
        "script.sh": b"echo hi\n",
        "no-extension": b"A title\n\nSome text.",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "fifo.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "socket.txt"))
    sock.close()
    (folder / "folder.txt").mkdir()
    (folder / "folder.md").mkdir()
    (folder / "outside.txt").symlink_to(outside)
    (folder / "outside-dir.txt").symlink_to(outside.parent)
    (folder / "dangling.txt").symlink_to(outside.parent / "missing.txt")
    (folder / "loop-a.txt").symlink_to(folder / "loop-b.txt")
    (folder / "loop-b.txt").symlink_to(folder / "loop-a.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    (folder / "urandom.txt").symlink_to("/dev/urandom")
    (folder / "fifo-link.txt").symlink_to(folder / "fifo.txt")
    names = [*files, "fifo.txt", "socket.txt", "folder.txt", "folder.md", "outside.txt"]
    names += ["outside-dir.txt", "dangling.txt", "loop-a.txt", "loop-b.txt", "zero.txt"]
    names += ["urandom.txt", "fifo-link.txt"]
    if os.geteuid() != 0:  # root reads a file whatever its mode says
        (folder / "unreadable.txt").write_text(_story(40, "Locked park"), encoding="utf-8")
        (folder / "unreadable.txt").chmod(0)
        names.append("unreadable.txt")
    return names


def test_fifty_odd_entries_lose_no_good_article_and_each_skip_is_named(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    outside = tmp_path / "elsewhere" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("Root login\n\nroot:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    good = _good(folder)
    bad = _bad(folder, outside)
    (folder / "inside-link.txt").symlink_to(folder / "gbk.txt")  # allowed: a duplicate
    assert len(good) + len(bad) + 1 >= 50 - (os.geteuid() == 0)
    env = {
        **os.environ,
        "QA_ARTICLES_DIR": str(folder),
        "QA_INDEX_DIR": str(tmp_path / "index"),
        "QA_UPLOADS_DIR": str(tmp_path / "uploads"),
        "QA_WEB_DIR": str(tmp_path / "web"),
        "QA_MAX_ARTICLE_BYTES": str(LIMIT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "qa.app.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a read that blocks fails the test here instead of hanging the suite
        check=False,
    )
    assert done.returncode == 1, done.stderr  # 1: files were skipped; never a crash
    assert "Traceback" not in done.stderr
    skipped = {}
    for line in done.stderr.splitlines():
        if line.startswith("skipped "):
            name, _, reason = line.removeprefix("skipped ").partition(": ")
            skipped[name] = reason
    assert set(skipped) == set(bad), done.stderr
    assert all(skipped.values())
    assert "duplicate inside-link.txt" in done.stderr
    pipe = make_pipeline(tmp_path, folder, embedder, max_article_bytes=LIMIT)
    indexed = pipe.store.manifest().articles
    assert set(indexed) == {*good, *(p.name for p in SEEDS.iterdir())}
    for name, title in good.items():
        answer = pipe.ask(title, sources=[name])
        assert answer.passages and answer.passages[0].source == name, name
    assert "root:x" not in pipe.ask("root login shell").text
