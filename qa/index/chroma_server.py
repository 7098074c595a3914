"""Servers on 127.0.0.1 started for the tests and for `qa.eval bench`: any command waited for by a
probe URL, and a real `chroma run`."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.errors import BackendError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(
    command: list[str], probe_url: str, seconds: float, **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait (at most `seconds`) until `probe_url` answers, stop it after;
    RuntimeError when it does not answer in time or exits."""
    server = subprocess.Popen(command, **popen)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(probe_url, timeout=5):
                    break
            except OSError:
                code = server.poll()
                if code is not None:
                    raise RuntimeError(
                        f"{Path(command[0]).name} {exit_status(code)} before it answered on "
                        f"{probe_url}"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{Path(command[0]).name} did not answer on {probe_url} "
                        f"within {seconds:.0f} s"
                    ) from None
                time.sleep(0.3)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)


def exit_status(code: int) -> str:
    """How a process ended, from its return code: "exited with 1", "was killed by SIGSEGV"."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with {code}"


@contextmanager
def chroma_server(data: Path, seconds: float = 60, port: int | None = None) -> Iterator[str]:
    """Run `chroma run --path data` on `port` (a free one when None) of 127.0.0.1, yield its
    URL, stop it after. A server that does not answer within `seconds` is a BackendError."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if exe is None:
        raise BackendError("the `chroma` command is missing: install chromadb in this environment")
    url = f"http://127.0.0.1:{port or free_port()}"
    command = [exe, "run", "--path", str(data), "--host", "127.0.0.1"]
    command += ["--port", url.rsplit(":", 1)[1]]
    try:
        with running(
            command,
            f"{url}/api/v2/heartbeat",
            seconds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ):
            yield url
    except RuntimeError as exc:
        raise BackendError(f"{exc}: run `chroma run` by hand to see why") from None
