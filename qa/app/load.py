"""Load test of a running chat page or API: `python -m qa.app.load URL --clients N --seconds S`.

It starts nothing itself. N clients each ask questions in a loop for S seconds, through the
page's own chat event (the one the Ask button fires, through Gradio's queue) or, given the URL
of `qa serve` (ending in /v1), as streamed chat completions of the `openai` client. Every reply
is sorted into one of four kinds: an answer (a cited answer or a refusal), the busy message
the page or the API gives when its queue is full, an error (anything else: an exception, a
Gradio error, "Queue is full", an error message in the chat, an error status), or a client
time-out. It prints the counts and the p50/p95 latency, and exits non-zero when any reply was
neither an answer nor busy. `--overhead N` first measures what the API adds to an answer: the
p50 of N questions asked through it and of the same questions asked in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

Kind = Literal["answer", "busy", "error", "timeout"]
KINDS: tuple[Kind, ...] = ("answer", "busy", "error", "timeout")


@dataclass(frozen=True)
class Reply:
    """What one question got back, and how long it took."""

    kind: Kind
    seconds: float
    detail: str = ""


@dataclass
class LoadReport:
    """Every reply of a load run, with counts and latency percentiles."""

    clients: int
    seconds: float
    replies: list[Reply] = field(default_factory=list)

    def count(self, kind: Kind) -> int:
        """How many replies were of `kind`."""
        return sum(r.kind == kind for r in self.replies)

    @property
    def ok(self) -> bool:
        """Whether every reply was an answer or the busy message."""
        return self.count("error") == 0 and self.count("timeout") == 0

    def latency(self, q: int, kinds: Sequence[Kind] = ("answer", "busy")) -> float | None:
        """The q-th percentile (1..99) of the seconds taken by replies of `kinds`."""
        times = sorted(r.seconds for r in self.replies if r.kind in kinds)
        if not times:
            return None
        if len(times) == 1:
            return times[0]
        return statistics.quantiles(times, n=100, method="inclusive")[q - 1]

    def lines(self) -> list[str]:
        """A human summary: the counts, the latencies, and the first few errors."""
        counts = ", ".join(f"{kind} {self.count(kind)}" for kind in KINDS)
        head = f"{self.clients} clients for {self.seconds:g} s: {len(self.replies)} replies"
        out = [f"{head}: {counts}"]
        labels: tuple[tuple[str, Kind], ...] = (("answers", "answer"), ("busy", "busy"))
        for label, kind in labels:
            p50, p95 = self.latency(50, (kind,)), self.latency(95, (kind,))
            if p50 is not None and p95 is not None:
                out.append(f"latency of {label}: p50 {p50:.2f} s, p95 {p95:.2f} s")
        errors = [r.detail for r in self.replies if r.kind == "error"]
        out += [f"error: {detail}" for detail in dict.fromkeys(errors)][:5]
        return out


def classify(messages: Any) -> tuple[Kind, str]:
    """The kind of a finished chat reply, from the page's chat messages (the last one is the
    reply to the question just asked)."""
    from qa.app.admission import BUSY
    from qa.app.render import escape

    try:
        content = messages[-1]["content"]
        if isinstance(content, list):  # Gradio 6 sends message content as typed parts
            content = "".join(str(part.get("text", "")) for part in content)
    except (IndexError, KeyError, TypeError, AttributeError):
        return "error", f"no chat reply in {str(messages)[:200]!r}"
    text = str(content)
    if escape(BUSY) in text:
        return "busy", ""
    if 'class="qa-answer"' in text or 'class="qa-refusal"' in text:
        return "answer", ""
    return "error", text[:300]


def _client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def ask_once(client: Any, question: str, timeout: float) -> Reply:
    """Ask one question through the page's chat event and classify what comes back."""
    started = time.monotonic()
    job = client.submit(question, "hybrid", 5, [], "", "", api_name="/chat")
    try:
        result = job.result(timeout=timeout)
    except TimeoutError:
        job.cancel()
        return Reply("timeout", time.monotonic() - started, f"no reply within {timeout:g} s")
    except Exception as exc:  # whatever the client raises is an error reply
        return Reply("error", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    kind, detail = classify(result[1] if isinstance(result, (list, tuple)) else result)
    return Reply(kind, time.monotonic() - started, detail)


def is_api(url: str) -> bool:
    """Whether `url` is an OpenAI-compatible API (`qa serve`, ending in /v1), not a chat page."""
    return urlsplit(url).path.rstrip("/").endswith("/v1")


def api_client(url: str, key: str, timeout: float) -> Any:
    """An `openai` client of the API at `url` that never retries on its own (a busy reply is
    counted, not hidden)."""
    from openai import OpenAI

    return OpenAI(base_url=url, api_key=key, max_retries=0, timeout=timeout)


def ask_api(client: Any, model: str, question: str) -> Reply:
    """Ask one question as a streamed chat completion and classify what comes back: an answer
    when the stream ends with the chunk that carries the citations and the refusal flag."""
    import openai

    from qa.app.admission import BUSY

    started = time.monotonic()
    final = None
    try:
        messages = [{"role": "user", "content": question}]
        for chunk in client.chat.completions.create(model=model, messages=messages, stream=True):
            if "refused" in (chunk.model_extra or {}):
                final = chunk
    except openai.APITimeoutError as exc:
        return Reply("timeout", time.monotonic() - started, str(exc))
    except openai.RateLimitError as exc:
        kind: Kind = "busy" if BUSY in str(exc) else "error"
        return Reply(kind, time.monotonic() - started, "" if kind == "busy" else str(exc))
    except Exception as exc:  # whatever the client raises is an error reply
        return Reply("error", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    if final is None:
        return Reply("error", time.monotonic() - started, "the stream ended without citations")
    return Reply("answer", time.monotonic() - started)


def run_load(
    url: str,
    clients: int,
    seconds: float,
    *,
    timeout: float = 120.0,
    busy_pause: float = 1.0,
    questions: Sequence[str] | None = None,
    model: str = "extractive",
    key: str = "none",
) -> LoadReport:
    """Drive the chat page or API at `url` with `clients` concurrent clients for `seconds`;
    each asks its next question as soon as the previous one is answered, until the time is up
    (a question asked before then may take up to `timeout` more seconds). A client told it is
    busy waits `busy_pause` seconds before it asks again. `model` and `key` are the API's."""
    from qa.app.ui import EXAMPLES

    api = is_api(url)

    asked = list(questions or EXAMPLES)
    report = LoadReport(clients, seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def one_client(number: int) -> None:
        try:
            client = api_client(url, key, timeout) if api else _client(url)
        except Exception as exc:  # the page refused the connection itself
            with lock:
                report.replies.append(Reply("error", 0.0, f"connect: {type(exc).__name__}: {exc}"))
            return
        try:
            i = number
            while time.monotonic() < deadline:
                question = asked[i % len(asked)]
                if api:
                    reply = ask_api(client, model, question)
                else:
                    reply = ask_once(client, question, timeout)
                with lock:
                    report.replies.append(reply)
                i += 1
                if reply.kind == "busy":  # told to ask again later: a person would wait a bit
                    time.sleep(min(busy_pause, max(0.0, deadline - time.monotonic())))
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one_client, range(clients)))
    return report


def overhead(url: str, asks: int, model: str = "extractive", key: str = "none") -> list[str]:
    """The p50 of `asks` whole answers through the API at `url` and of the same questions asked
    in this process (over the index of this working folder and environment, which should be
    the server's), after one warm-up each; as lines to print. The two are timed one after the
    other, not in turn: each process's embedding threads spin for a while after a question,
    and on a small machine that slows whichever process asks next."""
    from qa import default_pipeline
    from qa.app.ui import EXAMPLES

    pipeline = default_pipeline()
    if pipeline.backend != model:
        pipeline = pipeline.with_settings(backend=model)
    client = api_client(url, key, 120)
    served: list[float] = []
    local: list[float] = []
    try:
        for i in range(-len(EXAMPLES), asks):  # the first round warms it up
            messages = [{"role": "user", "content": EXAMPLES[i % len(EXAMPLES)]}]
            started = time.perf_counter()
            client.chat.completions.create(model=model, messages=messages)
            if i >= 0:
                served.append(time.perf_counter() - started)
    finally:
        client.close()
    for i in range(-len(EXAMPLES), asks):
        started = time.perf_counter()
        pipeline.ask(EXAMPLES[i % len(EXAMPLES)])
        if i >= 0:
            local.append(time.perf_counter() - started)
    api_ms, local_ms = statistics.median(served) * 1000, statistics.median(local) * 1000
    return [
        f"ask() p50 over {asks} questions: {local_ms:.1f} ms in process, {api_ms:.1f} ms through "
        f"the API with the openai client (+{api_ms - local_ms:.1f} ms)"
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (1 when a reply was an error or a time-out)."""
    parser = argparse.ArgumentParser(
        prog="python -m qa.app.load",
        description="Drive a running chat page (`qa chat`) or API (`qa serve`, a URL ending "
        "in /v1) with concurrent clients.",
    )
    parser.add_argument(
        "url", nargs="?", default="http://127.0.0.1:7860/", help="chat page or API URL"
    )
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long they keep asking")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds a client waits for one reply (keep it above QA_CHAT_PATIENCE)",
    )
    parser.add_argument(
        "--busy-pause", type=float, default=1.0, help="seconds a client waits after 'busy'"
    )
    parser.add_argument("--model", default="extractive", help="the API's model (answerer)")
    parser.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY", "none"), help="the API's key"
    )
    parser.add_argument(
        "--overhead",
        type=int,
        default=0,
        metavar="N",
        help="API only: first compare the p50 of N answers through it and in this process",
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.timeout <= 0 or args.busy_pause < 0:
        parser.error("--clients, --seconds and --timeout must be positive")
    if args.overhead and not is_api(args.url):
        parser.error("--overhead measures an API: give its URL, ending in /v1")
    if args.overhead > 0:
        for line in overhead(args.url, args.overhead, args.model, args.api_key):
            print(line)
    report = run_load(
        args.url,
        args.clients,
        args.seconds,
        timeout=args.timeout,
        busy_pause=args.busy_pause,
        model=args.model,
        key=args.api_key,
    )
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
