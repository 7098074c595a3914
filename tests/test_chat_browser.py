"""`qa chat` in a real headless Chromium: answers, refusals, uploads, XSS, files, no outside calls.

One `qa chat` server runs for the module, in a subprocess whose audit hook logs every
non-loopback connection; every page records requests to hosts other than 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import DATA, ROOT, SEEDS, chat_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
PINGHU = "003_741e1901b211ff40.txt"
STARTUP_SECONDS = 240
ANSWER_MS = 120_000

# Imported by the server's Python at start-up (PYTHONPATH): logs outside connections.
AUDIT_HOOK = """
import os, sys

_LOG = os.environ["QA_TEST_NETLOG"]
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0", "::")


def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):  # a Unix socket
            return
        host = str(address[0])
    elif event == "socket.getaddrinfo":
        host = str(args[0])
    else:
        return
    if host and host != "None" and not host.startswith(_LOCAL):
        with open(_LOG, "a") as log:
            log.write(f"{event} {host}\\n")


sys.addaudithook(_hook)
"""


@dataclass
class Server:
    url: str
    home: Path
    netlog: Path
    outside: list[str] = field(default_factory=list)  # what pages asked of other hosts


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("chat")
    hook = home / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    (home / ".env").write_text("OPENAI_API_KEY=sk-secret-do-not-serve\n", encoding="utf-8")
    with chat_page(
        home,
        STARTUP_SECONDS,
        PYTHONPATH=str(hook),
        QA_TEST_NETLOG=str(home / "netlog.txt"),
        QA_ARTICLES_DIR=str(SEEDS),
        QA_INDEX_DIR=str(home / "index"),
        QA_UPLOADS_DIR=str(home / "uploads"),
        QA_WEB_DIR=str(home / "web"),
        QA_FEEDBACK_FILE=str(home / "feedback.jsonl"),
        # the key in .env is bait for the file probes; answering stays offline
        QA_BACKEND="extractive",
    ) as url:
        yield Server(url, home, home / "netlog.txt")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    tab = context.new_page()

    def record(route: Any) -> None:
        url = route.request.url
        if not url.startswith((server.url, "data:", "blob:")):
            server.outside.append(url)
            route.abort()
        else:
            route.continue_()

    tab.route("**/*", record)
    tab.goto(server.url)
    tab.locator("#question textarea").wait_for(state="visible", timeout=60_000)
    yield tab
    context.close()


def ask(page: Any, question: str) -> str:
    """Type a question, wait for the streamed answer to finish; the last answer's HTML."""
    before = page.locator("#chat .qa-question").count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    # Gradio 6: the box is disabled while the answer streams and enabled again when done
    # (an extractive answer can come and go between two polls, so count the questions too)
    page.wait_for_function(
        """n => document.querySelectorAll('#chat .qa-question').length > n
            && !document.querySelector('#question textarea').disabled
            && !document.querySelector('#chat .qa-streaming')""",
        arg=before,
        timeout=ANSWER_MS,
    )
    html: str = page.locator("#chat .bot").last.inner_html()
    return html


def upload(page: Any, path: Path) -> str:
    """Upload one article file in the Articles tab; the summary text."""
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#upload").get_by_text(path.name).first.wait_for(timeout=60_000)
    page.locator("#add").click()
    page.locator("#summary").get_by_text("Added").or_(
        page.locator("#summary").get_by_text("Skipped")
    ).first.wait_for(timeout=ANSWER_MS)
    summary: str = page.locator("#summary").inner_text()
    page.get_by_role("tab", name="Chat").click()
    return summary


def test_page_loads_with_examples_and_settings(page: Any) -> None:
    assert page.title() == "Delta QA"
    assert page.get_by_text("Example questions").is_visible()
    assert page.get_by_text("Search settings").is_visible()
    page.get_by_role("tab", name="Articles").click()
    page.locator("#articles").get_by_text(PINGHU).last.click()
    page.wait_for_function(
        "() => document.querySelector('#text textarea').value.includes('70 enterprises')"
    )


def test_start_up_says_where_the_page_is_and_nothing_about_share_links(server: Server) -> None:
    log = (server.home / "server.log").read_text(encoding="utf-8")
    assert f"Delta QA chat page on {server.url.rstrip('/')}" in log
    assert "share" not in log.lower() and "Traceback" not in log


def test_cited_answer_names_the_article(page: Any) -> None:
    html = ask(page, "When was Haichen Precision Machinery established?")
    assert "[1]" in html and "1998" in html
    page.locator("#chat .qa-sources summary").last.click()  # open the Sources section
    sources = page.locator("#chat .qa-sources").last
    assert PINGHU in sources.inner_text()
    assert "1998" in sources.locator("mark").first.inner_text()
    assert "Why this answer?" in page.locator("#chat .qa-why").last.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-cited-answer.png"), full_page=True)


def test_unanswerable_question_shows_a_refusal(page: Any) -> None:
    html = ask(page, "How many employees does Haichen Precision Machinery have?")
    assert "qa-refusal" in html and "Closest articles" in html
    assert page.locator("#chat .qa-refusal").last.is_visible()


def test_uploaded_article_becomes_answerable(page: Any, tmp_path: Path) -> None:
    summary = upload(page, Path(shutil.copy(DATA / "tonglu_bamboo.txt", tmp_path)))
    assert "Added: tonglu_bamboo.txt" in summary
    html = ask(page, "How many enterprises are in the Tonglu Bamboo Fibre Industrial Park?")
    assert "412" in html and "tonglu_bamboo.txt" in html


def test_script_in_a_question_or_an_article_never_runs(page: Any, server: Server) -> None:
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    html = ask(page, f"What is {payload} [a](http://evil.example/)?")
    assert "window.__xss" in page.locator("#chat .user").last.inner_text()  # shown as text
    summary = upload(page, DATA / "xss_payload.txt")
    assert "Added: xss_payload.txt" in summary
    html = ask(page, "How many glassblowers does the Shaoxing Quartz Glassworks employ?")
    assert "1,234" in html
    page.locator("#chat .qa-sources summary").last.click()
    page.get_by_role("tab", name="Articles").click()
    page.locator("#articles").get_by_text("xss_payload.txt").last.click()
    page.wait_for_function("() => document.querySelector('#text textarea').value.includes('1,234')")
    assert page.evaluate("() => window.__xss") is None
    for selector in ("#chat a[href*='evil']", "img[src*='evil']", "img[src='x']"):
        assert page.locator(selector).count() == 0, selector
    assert "evil.example" in page.locator("#chat").inner_text()  # the URL shows as plain text


def test_a_citation_marker_shows_its_source(page: Any) -> None:
    """Clicking [1] opens the answer's Sources and brings the cited entry into view, in the
    same tab; the message's screen-reader label is its text, not its HTML."""
    ask(page, "When was Haichen Precision Machinery established?")
    answer = page.locator("#chat .bot").last
    assert not answer.locator(".qa-sources").evaluate("d => d.open")
    answer.locator("a.qa-ref").first.click()
    entry = answer.locator(".qa-citations li.qa-target")
    entry.wait_for(state="visible", timeout=10_000)
    assert answer.locator(".qa-sources").evaluate("d => d.open")
    assert PINGHU in entry.inner_text() and "1998" in entry.locator("mark").inner_text()
    assert len(page.context.pages) == 1, "the marker opened a tab"
    labels = page.locator("#chat [aria-label*='message: ']").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    )
    assert labels and all("<" not in label for label in labels), labels
    assert any("1998" in label for label in labels)


def test_the_articles_tab_fits_and_shows_what_another_process_added(
    page: Any, server: Server
) -> None:
    """At 1440 px every column is on screen; an article `qa ingest` added in another process
    shows when the tab is opened again, without a restart."""
    page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_role("tab", name="Articles").click()
    table = page.locator("#articles")
    table.get_by_text(PINGHU).last.wait_for(timeout=30_000)
    for header in ("Title", "Date", "Chunks", "File"):
        box = table.get_by_text(header, exact=True).first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1440, header
    before = int(re.findall(r"\d+", page.locator("#held").inner_text())[0])
    uploads = server.home / "uploads"
    uploads.mkdir(exist_ok=True)
    shutil.copy(DATA / "deqing_geo.md", uploads)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "GRADIO_"))}
    env.update(
        QA_ARTICLES_DIR=str(SEEDS),
        QA_INDEX_DIR=str(server.home / "index"),
        QA_UPLOADS_DIR=str(uploads),
        QA_WEB_DIR=str(server.home / "web"),
    )
    exe = Path(sys.executable).with_name("qa")
    subprocess.run([str(exe), "ingest"], env=env, cwd=server.home, check=True, timeout=300)
    page.get_by_role("tab", name="Chat").click()
    page.get_by_role("tab", name="Articles").click()
    table.get_by_text("deqing_geo.md").last.wait_for(timeout=30_000)
    assert page.locator("#held").inner_text() == f"The index holds {before + 1} articles."


def test_gradio_client_calls_the_ask_api(server: Server) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    answer = client.predict("When was Haichen Precision Machinery established?", 5, api_name="/ask")
    assert answer["refused"] is False and answer["citations"][0]["source"] == PINGHU


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "{home}/index/manifest.json", "index/manifest.json", "{home}/.env", ".env"],
)
def test_files_outside_the_uploads_cache_are_not_served(server: Server, target: str) -> None:
    url = server.url + "gradio_api/file=" + target.format(home=server.home)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        assert exc.code in (403, 404)
        return
    pytest.fail(f"{url} was served: {body[:200]}")


def test_nothing_was_fetched_from_outside(page: Any, server: Server) -> None:
    """Runs last in this module: the server and every page above stayed on 127.0.0.1."""
    ask(page, "What is the Integration of Two Industries?")
    assert server.outside == []
    logged = server.netlog.read_text() if server.netlog.exists() else ""
    assert logged == ""
