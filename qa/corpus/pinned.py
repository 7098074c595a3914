"""Connections only to checked addresses: an httpx transport that never resolves a host name.

`qa.corpus.web` resolves a page's host once, checks every address it got, and hands those
addresses here (`pins`: host name -> addresses). The transport connects the name to them and to
nothing else, so a DNS server that answers a public address for the check and a loopback one a
moment later (DNS rebinding) is never asked the second time. Everything above the TCP
connection is httpx's and httpcore's own: the request's Host header and, for https, the TLS
server name (SNI) and the certificate check are those of the host *name*, not of the address.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpcore
import httpx


class PinnedBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, with each host name connected only to its pinned addresses
    (tried in order); a name with no pin is refused, never looked up."""

    def __init__(self, pins: Mapping[str, Sequence[str]]) -> None:
        self._pins = pins
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """A TCP connection to the first pinned address of `host` that answers."""
        addresses = self._pins.get(host.lower(), ())
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._sockets.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address of the same host, if any
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        """Refused: web pages are fetched over TCP only."""
        raise httpcore.ConnectError("web pages are not fetched over a Unix socket")

    def sleep(self, seconds: float) -> None:
        """Wait, as httpcore's own backend does (between connection retries)."""
        self._sockets.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's HTTP transport over a `PinnedBackend`: direct connections (no proxy) to the
    pinned addresses, with `verify` checking certificates for the host name."""

    def __init__(self, pins: Mapping[str, Sequence[str]], *, verify: ssl.SSLContext) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx 0.29 takes no network backend of its own (encode/httpx#3749 would add one), so
        # the pool it built is replaced by the same pool over the pinned backend; the rest of
        # the transport (requests, responses, the mapping of errors to httpx's) is unchanged
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify, network_backend=PinnedBackend(pins)
        )
