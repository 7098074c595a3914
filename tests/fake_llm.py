"""A tiny OpenAI-compatible HTTP server on 127.0.0.1 for faults a real server will not produce.

Each instance plays one `behaviour`: "answer" streams `replies` in turn (the last repeats),
"echo_system" streams the system prompt back, "401", "429" (for the first `failures` requests,
then answers), "garbage", "stall" (one piece, then silence for up to `stall_s`) and "empty".
"script" streams what `script` makes of the request's messages (see tests/scripted_llm.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    """Start with `with FakeLLM(...) as fake:`; `fake.url` is the /v1 base URL."""

    def __init__(
        self,
        behaviour: str,
        replies: tuple[str, ...] = ("",),
        failures: int = 10**6,
        stall_s: float = 5.0,
        script: Callable[[list[dict[str, Any]]], str] | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.replies = replies
        self.failures = failures
        self.stall_s = stall_s
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                behaviour = fake.behaviour
                if behaviour == "429" and len(fake.requests) > fake.failures:
                    behaviour = "answer"
                if behaviour in ("401", "429"):
                    self._json(int(behaviour), {"error": {"message": "no", "type": behaviour}})
                elif behaviour == "garbage":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(b"data: {this is not json\n\n")
                elif behaviour == "echo_system":
                    self._stream(body, str(body["messages"][0]["content"]))
                elif behaviour == "empty":
                    self._stream(body, "")
                elif behaviour == "script" and fake.script is not None:
                    self._stream(body, fake.script(body["messages"]))
                else:
                    self._stream(body, fake.replies[min(len(fake.requests), len(fake.replies)) - 1])

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], text: str) -> None:
                if not body.get("stream"):
                    message = {"role": "assistant", "content": text}
                    self._json(
                        200,
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
                for i, piece in enumerate(pieces):
                    self._event(body, {"content": piece})
                    if fake.behaviour == "stall" and i == 0:
                        fake._stop.wait(fake.stall_s)  # silence, bounded
                        return
                self._event(body, {}, "stop")
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, body: dict[str, Any], delta: dict[str, str], end: str | None = None):  # type: ignore[no-untyped-def]
                chunk = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": end}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        return Handler
