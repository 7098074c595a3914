"""A real `chroma run` server on 127.0.0.1, started for the tests and for `qa bench`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.errors import BackendError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chroma_server(data: Path, seconds: float = 60, port: int | None = None) -> Iterator[str]:
    """Run `chroma run --path data` on `port` (a free one when None) of 127.0.0.1, yield its
    URL, stop it after.

    Waits at most `seconds` for the heartbeat; a server that does not answer is a BackendError.
    """
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if exe is None:
        raise BackendError("the `chroma` command is missing: install chromadb in this environment")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [exe, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise BackendError(
                        f"`chroma run` did not answer on {url} within {seconds:.0f} s: "
                        "run it by hand to see why"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
