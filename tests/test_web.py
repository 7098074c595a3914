"""Web pages as articles: saved pages served from a local HTTP server on 127.0.0.1, fetched,
extracted (title, date, text), saved and indexed under their address; too-large and slow
pages, other schemes and (on the chat page) private addresses are refused with the reason."""

from __future__ import annotations

import html
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from qa.app.render import escape
from qa.app.ui import ChatPage
from qa.corpus import web
from qa.corpus.web import check_scheme, embedded_ipv4, is_address, is_public, page_file
from qa.errors import PageError
from qa.index.embeddings import Embedder
from qa.pipeline import QAPipeline

from .conftest import DATA, make_pipeline

NEWS = """<!doctype html><html><head><meta charset="utf-8">
<title>Tongxiang opens a new fibre park | Jiaxing Daily</title>
<meta property="article:published_time" content="2023-06-18T09:30:00+08:00"></head>
<body><nav><a href="/">Home</a> &gt; <a href="/news">News</a></nav>
<article><h1>Tongxiang opens a new fibre park</h1>
<p>The Tongxiang Fibre Park opened on 18 June 2023 with 27 enterprises and an investment of
4.5 billion yuan.</p>
<p>The park was planned together with Shanghai's Jinshan district and will focus on new
materials for the textile industry.</p>
<p>Officials expect output to reach 20 billion yuan by 2026.</p></article>
<footer>Copyright 2023 Jiaxing Daily. All rights reserved.</footer></body></html>"""
SLOW_SECONDS = 3.0  # the slow page's delay; the fetch gives up long before it


@dataclass
class Site:
    """A local web server's base address, the paths it was asked for and the Host headers sent."""

    url: str
    requests: list[str]
    hosts: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


class _Handler(BaseHTTPRequestHandler):
    requests: list[str]
    hosts: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)  # a whole address when asked as a proxy
        self.hosts.append(self.headers.get("Host", ""))
        path = urlsplit(self.path).path
        if path == "/slow":
            time.sleep(SLOW_SECONDS)  # bounded: the server thread ends after it
        if path in ("/redirect-out", "/redirect-self"):
            self.send_response(302)
            self.send_header(
                "Location", "http://127.0.0.2:9/news" if path == "/redirect-out" else "/news"
            )
            self.end_headers()
            return
        if path == "/big":
            body = b"<html><body><p>" + b"x" * 300_000 + b"</p></body></html>"
        elif path in ("/news", "/slow"):
            body = NEWS.encode("utf-8")
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what was requested from `requests`."""


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Site]:
    """A web server on 127.0.0.1 in a thread, serving saved pages (over TLS with `tls`);
    stopped at the end."""
    requests: list[str] = []
    hosts: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests, "hosts": hosts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield Site(f"{scheme}://127.0.0.1:{server.server_address[1]}", requests, hosts)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The plain-HTTP web server of the module's tests."""
    with serving() as running:
        yield running


@pytest.fixture
def pipe(tmp_path: Path, embedder: Embedder) -> QAPipeline:
    """A pipeline with no articles of its own, a 100 kB page limit and a 1 s timeout."""
    (tmp_path / "articles").mkdir()
    return make_pipeline(
        tmp_path, tmp_path / "articles", embedder, max_page_bytes=100_000, web_timeout=1.0
    )


def test_addresses_and_schemes_are_told_apart() -> None:
    assert is_address("https://example.com/a") and is_address("ftp://example.com/a")
    assert not is_address("seeds/") and not is_address("C:\\news")
    assert check_scheme(" https://example.com/a ") == "https://example.com/a"
    for bad in ("ftp://example.com/a", "file:///etc/passwd", "javascript:alert(1)", "http://"):
        with pytest.raises(PageError):
            check_scheme(bad)


def test_private_addresses_are_not_public() -> None:
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.5.5", "169.254.169.254",
                    "100.64.0.1", "0.0.0.0", "::1", "fe80::1%eth0", "fd00::1",
                    "::ffff:127.0.0.1", "224.0.0.1"):  # fmt: skip
        assert not is_public(address), address
    assert is_public("8.8.8.8") and is_public("2001:4860:4860::8888")


def test_a_news_page_is_an_article_under_its_address(pipe: QAPipeline, site: Site) -> None:
    url = f"{site.url}/news"
    report = pipe.ingest_pages([url], allow_private=True)
    assert report.added == [url] and not report.skipped
    saved = pipe.settings.web_dir / page_file(url)
    assert saved.is_file()  # a rebuild reads the saved copy, not the network
    [info] = pipe.articles()
    assert (info.source, info.title, str(info.date)) == (
        url,
        "Tongxiang opens a new fibre park",
        "2023-06-18",
    )
    text = pipe.article_text(url)
    assert "27 enterprises" in text and "Copyright" not in text and "Home" not in text

    answer = pipe.ask("How many enterprises are in the Tongxiang Fibre Park?")
    assert not answer.refused, answer.text
    assert answer.citations[0].source == url and answer.citations[0].page is None

    fetched = len(site.requests)
    again = pipe.ingest_pages([url], allow_private=True)  # fetched again, and unchanged
    assert len(site.requests) == fetched + 1
    assert again.unchanged == [url] and again.embedded == 0 and again.texts == 0
    rebuilt = pipe.ingest(rebuild=True)  # from the saved copy
    assert rebuilt.added == [url] and len(site.requests) == fetched + 1


def test_too_large_slow_and_other_scheme_pages_are_skipped_with_the_reason(
    pipe: QAPipeline, site: Site
) -> None:
    started = time.monotonic()
    report = pipe.ingest_pages(
        [f"{site.url}/big", f"{site.url}/slow", "ftp://127.0.0.1/news", f"{site.url}/missing"],
        allow_private=True,
    )
    assert time.monotonic() - started < SLOW_SECONDS  # the slow page was given up on
    reasons = dict(report.skipped)
    assert "over the 100,000-byte limit (QA_MAX_PAGE_BYTES)" in reasons[f"{site.url}/big"]
    assert "within 1 s" in reasons[f"{site.url}/slow"]
    assert "only http:// and https://" in reasons["ftp://127.0.0.1/news"]
    assert "404" in reasons[f"{site.url}/missing"]
    assert not report.added and not list(pipe.settings.web_dir.iterdir())


def test_the_chat_page_refuses_private_addresses_unless_allowed(
    tmp_path: Path, pipe: QAPipeline, site: Site
) -> None:
    url = f"{site.url}/news"
    message = html.unescape(ChatPage(pipe).add_pages(url))  # the page shows it escaped
    assert "loopback, private or link-local" in message and "QA_WEB_ALLOW_PRIVATE" in message
    assert not pipe.settings.web_dir.exists() or not list(pipe.settings.web_dir.iterdir())
    assert "only http" in html.unescape(ChatPage(pipe).add_pages("file:///etc/passwd"))

    allowed = pipe.with_settings(web_allow_private=True)
    message = ChatPage(allowed).add_pages(url)
    assert "**Added:**" in message and "Tongxiang" not in message
    assert [a.source for a in allowed.articles()] == [url]


def test_a_redirect_cannot_escape_the_address_check(
    pipe: QAPipeline, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No public address is reachable offline, so this server (127.0.0.1) stands in for a
    # public one: the fault that cannot be caused otherwise is a public page redirecting
    # to a private address (127.0.0.2 here)
    monkeypatch.setattr(web, "is_public", lambda address: address == "127.0.0.1")
    message = html.unescape(ChatPage(pipe).add_pages(f"{site.url}/redirect-out"))
    assert "127.0.0.2 is a loopback, private or link-local address" in message


class Resolver:
    """The one fake of these tests: a DNS server whose answers change between look-ups, as a
    rebinding one's do (that cannot be caused otherwise offline). `answers[host]` is the answer
    of each look-up in turn, the last one repeated."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        turns = self.answers[host]
        return turns.pop(0) if len(turns) > 1 else turns[0]


def test_addresses_written_in_ipv6_count_as_their_ipv4() -> None:
    for address in ("64:ff9b::7f00:1", "64:ff9b::10.0.0.1", "64:ff9b::169.254.169.254",
                    "2002:7f00:1::", "2002:c0a8:0101::1", "2002:0a00:0001:1::5", "2002::",
                    "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
                    "64:ff9b:1::808:808"):  # fmt: skip
        assert not is_public(address), address
    for address in ("64:ff9b::8.8.8.8", "2002:808:808::1", "::ffff:8.8.8.8"):
        assert is_public(address), address
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::c0a8:101")) == ipaddress.IPv4Address(
        "192.168.1.1"
    )
    assert embedded_ipv4(ipaddress.IPv6Address("2002:c0a8:101::")) == ipaddress.IPv4Address(
        "192.168.1.1"
    )
    assert embedded_ipv4(ipaddress.IPv6Address("2001:4860:4860::8888")) is None


def test_every_address_a_host_resolves_to_is_checked(
    pipe: QAPipeline, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = Resolver({"news.test": [["93.184.215.14", "127.0.0.1"]]})  # public, then loopback
    monkeypatch.setattr(web, "resolve", resolver)
    asked = len(site.requests)
    message = html.unescape(ChatPage(pipe).add_pages(f"http://news.test:{site.port}/news"))
    assert "news.test is a loopback, private or link-local address (127.0.0.1)" in message
    assert len(site.requests) == asked  # refused before any connection


def test_the_fetch_connects_only_to_the_address_it_checked(
    pipe: QAPipeline, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.1 (this server) stands in for a public address, as no public one is reachable
    # offline; the second look-up of the name answers 127.0.0.2, a private one
    monkeypatch.setattr(web, "is_public", lambda address: address == "127.0.0.1")
    resolver = Resolver({"news.test": [["127.0.0.1"], ["127.0.0.2"]]})
    monkeypatch.setattr(web, "resolve", resolver)
    url = f"http://news.test:{site.port}/news"
    message = ChatPage(pipe).add_pages(url)
    assert f"**Added:** {escape(url)}" in message  # nothing listens on 127.0.0.2: not dialled
    assert resolver.asked == ["news.test"]  # once: the connection did not look it up again
    assert site.hosts[-1] == f"news.test:{site.port}"  # the name, not the address, was sent

    # a redirect is a new look-up, checked again: here the rebinding answer is refused
    resolver.answers["news.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    message = html.unescape(ChatPage(pipe).add_pages(f"http://news.test:{site.port}/redirect-self"))
    assert "news.test is a loopback, private or link-local address (127.0.0.2)" in message
    assert site.requests[-1] == "/redirect-self" and resolver.asked.count("news.test") == 3


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def test_proxy_variables_are_ignored_unless_trusted(
    pipe: QAPipeline, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving() as proxy:  # answers a proxied request for a page as the site would
        for name in PROXY_VARIABLES[:3]:
            monkeypatch.setenv(name, proxy.url)
            monkeypatch.setenv(name.lower(), proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        url = f"{site.url}/news"
        asked = len(site.requests)
        report = pipe.ingest_pages([url], allow_private=True)
        assert report.added == [url]
        assert not proxy.requests and len(site.requests) == asked + 1

        trusting = pipe.with_settings(web_trust_env=True)  # QA_WEB_TRUST_ENV=true
        report = trusting.ingest_pages([url], allow_private=True)
        assert report.unchanged == [url] and proxy.requests == [url]
        assert len(site.requests) == asked + 1


# data/tls: a test CA (ca.pem) and, signed by it, a certificate for localhost and news.test
# with its key (server.pem), valid until 2126; made with `openssl req -x509` (the CA) and
# `openssl x509 -req` (subjectAltName DNS:localhost,DNS:news.test). The key guards nothing
def test_a_bare_address_is_fetched_over_https_and_reported_added(
    pipe: QAPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(DATA / "tls" / "server.pem")  # for localhost and news.test, a test CA's
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(DATA / "tls" / "ca.pem"))  # trust the test CA
    allowed = pipe.with_settings(web_allow_private=True, web_trust_env=True)
    with serving(tls) as secure:
        message = ChatPage(allowed).add_pages(f"localhost:{secure.port}/news")
        url = f"https://localhost:{secure.port}/news"
        assert f"**Added:** {escape(url)}" in message
        assert [a.source for a in allowed.articles()] == [url]

        # the certificate is checked for the name typed: it names no address
        message = html.unescape(ChatPage(allowed).add_pages(f"{secure.url}/news"))
        assert "CERTIFICATE_VERIFY_FAILED" in message
