"""Web pages as articles: check an address, fetch the page within a time and size limit,
keep a saved copy under its address, and extract its title, date and main text (trafilatura).

A page is saved as `<host>-<hash of the address>.webpage`, a small JSON file holding the
address the user gave, the address it was finally read from, when, and the HTML. The article's
id is the address the user gave, so a citation names it; the saved copy is what ingest reads
(an index rebuild needs no network) and what a later fetch of the same address replaces.

An address's host is looked up once, every address it has is checked (`check_host`), and the
connection goes to those addresses only (`qa.corpus.pinned`), at each redirect again; proxy
and certificate environment variables are ignored unless QA_WEB_TRUST_ENV.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from qa.errors import ArticleError, ConfigError, PageError

if TYPE_CHECKING:
    import ssl

    import httpx

WEB_PAGE_SUFFIX = ".webpage"
SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
_CHUNK = 65536


@dataclass(frozen=True)
class SavedPage:
    """A fetched page as ingest reads it back: its address, title, date and text lines."""

    url: str
    title: str
    date: dt.date | None
    lines: list[str]


def is_address(target: str) -> bool:
    """Whether a command-line target is a web address (it has a scheme) and not a folder."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target))


def check_scheme(url: str) -> str:
    """The address with its scheme and host checked: only http(s) pages are fetched."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES:
        raise PageError(
            f"only http:// and https:// pages are fetched, not {parts.scheme or 'a bare'}: "
            "give the page's web address"
        )
    if not parts.hostname:
        raise PageError("the address has no host name: write it as https://host/path")
    return url.strip()


def host_of(url: str) -> str:
    """The host name of `url` as it is resolved and connected to: lower case, a name in other
    scripts in its ASCII (punycode) form, an IPv6 address without brackets."""
    import httpx

    try:
        return httpx.URL(url).raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise PageError(f"the address cannot be read ({exc}): check the address") from None


def resolve(host: str) -> list[str]:
    """The addresses `host` resolves to, each once, in the resolver's order; PageError when it
    cannot be found. The one look-up of a fetch: it connects to what this returned."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise PageError(f"the host {host} cannot be found ({exc}): check the address") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise PageError(f"the host {host} has no address: check the address")
    return addresses


def check_host(url: str, allow_private: bool) -> list[str]:
    """The addresses the host of `url` resolves to, every one checked: PageError when any is a
    loopback, private, link-local or other non-public address, unless `allow_private`
    (QA_WEB_ALLOW_PRIVATE). A fetch connects to these addresses only, never resolving again."""
    host = host_of(url)
    addresses = resolve(host)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise PageError(
                    f"{host} is a loopback, private or link-local address ({address}), which "
                    "the chat page does not fetch: set QA_WEB_ALLOW_PRIVATE=true to allow it"
                )
    return addresses


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # a network's own NAT64 (RFC 8215)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d (and :: and ::1)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it is written in one: IPv4-mapped
    (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d, the last 32 bits), 6to4 (2002:AABB:CCDD::, bits
    16 to 48) or IPv4-compatible (::a.b.c.d); None for any other."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(address: str) -> bool:
    """Whether an IP address is a public, routable one (not loopback, private, link-local,
    shared, reserved, multicast or unspecified). An IPv6 address that writes an IPv4 one
    (IPv4-mapped, NAT64, 6to4, IPv4-compatible) counts as that IPv4 address, and a network's
    own NAT64 range (64:ff9b:1::/48) is not public."""
    ip = ipaddress.ip_address(address.split("%")[0])  # a zone index ("fe80::1%eth0") is not part
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        ip = embedded_ipv4(ip) or ip
    return ip.is_global and not ip.is_multicast


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url`: HTTPS_PROXY or HTTP_PROXY for its scheme,
    else ALL_PROXY, unless NO_PROXY lists its host; None for a direct connection."""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    # urllib's own NO_PROXY rule (names and their subdomains, ports, "*"); typeshed omits it
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme.lower()) or proxies.get("all") or None


def fetch(
    url: str, *, timeout: float, max_bytes: int, allow_private: bool, trust_env: bool = False
) -> tuple[str, bytes]:
    """The final address and the body of the page at `url`, following up to MAX_REDIRECTS
    redirects, each checked like the address itself; PageError saying why not.

    Each address's host is resolved once and every address it resolves to checked; the
    connection goes to those addresses only. Proxy and certificate environment variables
    (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, SSL_CERT_FILE, SSL_CERT_DIR) are used only
    with `trust_env` (QA_WEB_TRUST_ENV); through a proxy, the proxy resolves the host itself.
    """
    import httpx

    deadline = time.monotonic() + timeout
    verify = httpx.create_ssl_context(trust_env=trust_env)
    pins: dict[str, list[str]] = {}  # host name -> its checked addresses
    clients: dict[str | None, httpx.Client] = {}  # by proxy (None: direct, to the pins)
    with contextlib.ExitStack() as open_clients:
        for _ in range(MAX_REDIRECTS + 1):
            url = check_scheme(url)
            proxy = env_proxy(url) if trust_env else None
            if proxy is None:
                pins[host_of(url)] = check_host(url, allow_private)
            elif not allow_private:
                check_host(url, allow_private)  # the proxy connects, by its own look-up
            if proxy not in clients:
                made = _client(url, proxy, pins, verify=verify, timeout=timeout)
                clients[proxy] = open_clients.enter_context(made)
            try:
                with clients[proxy].stream(
                    "GET", url, headers={"User-Agent": "delta-qa"}
                ) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code >= 400:
                        raise PageError(
                            f"the server answered {response.status_code} "
                            f"{response.reason_phrase}: check the address"
                        )
                    return url, _body(response, max_bytes, deadline, timeout)
            except httpx.TimeoutException:
                raise PageError(
                    f"no complete answer within {timeout:g} s: try again later, or raise "
                    "QA_WEB_TIMEOUT"
                ) from None
            except httpx.HTTPError as exc:
                raise PageError(f"it could not be fetched ({exc}): check the address") from None
    raise PageError(f"more than {MAX_REDIRECTS} redirects: give the page's final address")


def _client(
    url: str,
    proxy: str | None,
    pins: dict[str, list[str]],
    *,
    verify: ssl.SSLContext,
    timeout: float,
) -> httpx.Client:
    """A client for `url`'s hop: through `proxy`, or (None) directly to the `pins` only."""
    import httpx

    from qa.corpus.pinned import PinnedTransport

    try:
        return httpx.Client(
            transport=PinnedTransport(pins, verify=verify) if proxy is None else None,
            proxy=proxy,
            verify=verify,
            trust_env=False,  # where trusted, the environment was read by the caller
            timeout=timeout,
            follow_redirects=False,
        )
    except (ImportError, ValueError) as exc:  # its text may hold the proxy's password
        why = str(exc) if isinstance(exc, ImportError) else "not an http(s) or socks5 address"
        raise ConfigError(
            f"the proxy the environment names for {urlsplit(url).scheme}:// addresses cannot "
            f"be used ({why}): fix HTTPS_PROXY, HTTP_PROXY or ALL_PROXY, or unset "
            "QA_WEB_TRUST_ENV to connect directly"
        ) from None


def _body(response: Any, max_bytes: int, deadline: float, timeout: float) -> bytes:
    """The body, read in pieces and given up once it passes `max_bytes` or the deadline (a
    server that trickles bytes never times out a read)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PageError(_too_large(int(declared), max_bytes))
    body = bytearray()
    for piece in response.iter_raw(_CHUNK):
        body += piece
        if len(body) > max_bytes:
            raise PageError(_too_large(len(body), max_bytes, at_least=True))
        if time.monotonic() > deadline:
            raise PageError(
                f"no complete answer within {timeout:g} s: try again later, or raise QA_WEB_TIMEOUT"
            )
    return bytes(body)


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    more = "over " if at_least else ""
    return f"the page is {more}{size:,} bytes, over the {limit:,}-byte limit (QA_MAX_PAGE_BYTES)"


def page_file(url: str) -> str:
    """The file name a page's saved copy has: its host, then a hash of its address."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", urlsplit(url).hostname or "page")[:60]
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return f"{host}-{digest}{WEB_PAGE_SUFFIX}"


def save_page(folder: Path, url: str, final_url: str, html: str) -> Path:
    """Keep a fetched page's HTML in `folder` (written aside, then renamed); the copy's path."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "url": url,
        "final_url": final_url,
        "fetched": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "html": html,
    }
    path = folder / page_file(url)
    partial = folder / f".{path.name}.part"  # dot files are not ingested
    partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)
    return path


def fetch_pages(
    urls: list[str],
    folder: Path,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool,
    trust_env: bool = False,
) -> tuple[list[str], list[tuple[str, str]]]:
    """Fetch and save each page into `folder`: the addresses saved, and (address, reason)
    for each that was not (an earlier saved copy of it is kept). `trust_env`: use the proxy
    and certificate environment variables (QA_WEB_TRUST_ENV), see `fetch`."""
    from trafilatura.utils import decode_file

    saved: list[str] = []
    failed: list[tuple[str, str]] = []
    for url in dict.fromkeys(u.strip() for u in urls if u.strip()):
        try:
            final, body = fetch(
                url,
                timeout=timeout,
                max_bytes=max_bytes,
                allow_private=allow_private,
                trust_env=trust_env,
            )
            html = decode_file(body)
            extract(url, final, html)  # a page with no article text is not kept
            save_page(folder, url, final, html)
            saved.append(url)
        except ArticleError as exc:
            failed.append((url, str(exc)))
    return saved, failed


def read_saved_page(data: bytes) -> SavedPage:
    """A saved page read back and extracted; ArticleError when it is damaged or holds no text."""
    try:
        record = json.loads(data.decode("utf-8"))
        url, html = str(record["url"]), str(record["html"])
        final = str(record.get("final_url", url))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ArticleError(
            "a damaged saved web page: delete it and fetch the page again with `qa ingest URL`"
        ) from None
    return extract(url, final, html)


def extract(url: str, final_url: str, html: str) -> SavedPage:
    """The title, publication date and main text of a news page (trafilatura)."""
    import trafilatura

    document = trafilatura.bare_extraction(
        html, url=final_url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(document, "text", None) or ""
    if not text.strip():
        raise ArticleError("no article text was found on the page (is it a news article?)")
    title = getattr(document, "title", None) or ""
    lines = text.splitlines()
    if title and lines and lines[0].strip() == title.strip():
        lines = lines[1:]  # the headline is the title, not a paragraph
    published = None
    with_date = getattr(document, "date", None)
    if with_date:
        try:
            published = dt.date.fromisoformat(str(with_date)[:10])
        except ValueError:
            published = None
    return SavedPage(url, title, published, [title, *lines] if title else lines)
