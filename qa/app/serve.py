"""The OpenAI-compatible API (`qa serve`): `GET /v1/models` lists the answerers,
`POST /v1/chat/completions` answers the last user message, whole or streamed, over the same
pipeline as `ask()`, and `GET /openapi.json` describes them.

The contract is OpenAI's schema, so any OpenAI client works unchanged. The reply's content is
the answer with its `[n]` markers; what OpenAI's schema has no field for travels in extra
top-level fields of the completion (and of a stream's last chunk): `citations`, `refused`,
`notice`, and in a stream `text`, the final answer whose markers the citations number. Errors
have OpenAI's shape and status codes (a 401 with its `WWW-Authenticate`, a 405 with its
`Allow`, a 413 for a body past QA_MAX_REQUEST_BYTES). A whole reply has `usage` (approximate
token counts), and a stream asked for it (`stream_options.include_usage`) ends with a chunk of
it. Questions pass the chat page's admission gate: past it, a 429 says in words that the server
is busy.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from qa.app.admission import BUSY, Admission
from qa.app.openai_wire import (
    ChatRequest,
    completion,
    conversation,
    error,
    error_body,
    error_headers,
    extras,
    prompt_tokens,
    sse,
    usage,
)
from qa.app.openapi import document
from qa.errors import (
    AuthError,
    BodyTooLargeError,
    BusyError,
    ModelNotFoundError,
    QAError,
    RequestError,
)
from qa.models import Answer
from qa.pipeline import QAPipeline

log = logging.getLogger(__name__)
EXTRACTIVE, LLM = "extractive", "llm"  # the model ids of the two answerers
FAILED = "the answer failed: see the server's log"
SPARE_THREADS = 8  # worker threads past the gate's own, where an over-full server says busy
SERVED = "the API serves GET /v1/models and POST /v1/chat/completions (GET /openapi.json)"

class Api:
    """The API's handlers over one pipeline: key check, answerers, admission and replies."""

    def __init__(self, pipeline: QAPipeline) -> None:
        self.pipeline = pipeline
        settings = pipeline.settings
        self.gate = Admission.of(settings)
        self._keys = [key.get_secret_value().encode() for key in settings.api_keys]
        self._extractive: QAPipeline | None = None
        self._lock = threading.Lock()
        self.started = int(time.time())

    def authorise(self, request: Request) -> None:
        """Nothing when no keys are set or the request carries one of them; else AuthError."""
        if not self._keys:
            return
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthError(
                "no API key: send the header `Authorization: Bearer KEY` with one of the keys "
                "in the server's QA_API_KEYS (the openai client's api_key)"
            )
        given = key.strip().encode()
        if not any(hmac.compare_digest(given, k) for k in self._keys):
            raise AuthError(
                "the API key is not one this server accepts: use one of the keys in its "
                "QA_API_KEYS"
            )

    def models(self) -> list[dict[str, Any]]:
        """The answerers as OpenAI model objects: the extractive one, and the LLM when one is
        configured (with the endpoint's model name)."""
        common = {"object": "model", "created": self.started, "owned_by": "delta-qa"}
        listed: list[dict[str, Any]] = [{"id": EXTRACTIVE, **common}]
        if self.pipeline.backend == LLM:
            listed.append({"id": LLM, **common, "llm_model": self.pipeline.settings.llm_model})
        return listed

    def answerer(self, model: str) -> QAPipeline:
        """The pipeline that answers as `model`; ModelNotFoundError for another name."""
        if model == self.pipeline.backend:
            return self.pipeline
        if model == EXTRACTIVE:  # the LLM is the default; the extractive one is made once
            with self._lock:
                if self._extractive is None:
                    self._extractive = self.pipeline.with_settings(backend=EXTRACTIVE)
                return self._extractive
        names = ", ".join(m["id"] for m in self.models())
        raise ModelNotFoundError(
            f"there is no model {model!r} here: use one of {names} (GET /v1/models lists them)"
        )

    async def body(self, request: Request) -> bytes:
        """The request's body; BodyTooLargeError past QA_MAX_REQUEST_BYTES, before any of it is
        read when its Content-Length says so, else as soon as the bytes read pass it."""
        limit = self.pipeline.settings.max_request_bytes
        too_large = BodyTooLargeError(
            f"the request body is larger than {limit} bytes, the most this server reads: send "
            "fewer or shorter messages, or raise the server's QA_MAX_REQUEST_BYTES"
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        raw = bytearray()
        async for part in request.stream():
            raw += part
            if len(raw) > limit:
                raise too_large
        return bytes(raw)

    def request(self, raw: bytes) -> tuple[ChatRequest, QAPipeline, str, list[tuple[str, str]]]:
        """The parsed request, its answerer, question and history; RequestError when the body
        is not a chat completion request."""
        try:
            body = ChatRequest.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors()[:3]
            )
            raise RequestError(
                f"the body is not a chat completion request ({problems}): send JSON with "
                '"model" and "messages", as the OpenAI clients do'
            ) from None
        question, history = conversation(body.messages)
        return body, self.answerer(body.model), question, history

    def ask(self, pipeline: QAPipeline, question: str, history: list[tuple[str, str]]) -> Answer:
        """The whole answer, once the gate admits the question (BusyError when it does not)."""
        with self.gate.enter() as admitted:
            if not admitted:
                raise BusyError(BUSY)
            return pipeline.ask(question, history=history)

    async def stream(
        self, pipeline: QAPipeline, body: ChatRequest, question: str, history: list[tuple[str, str]]
    ) -> StreamingResponse:
        """The answer as server-sent chunks (and one of usage last when the request asks for
        it). The gate's slot is held until the stream ends or the client goes; an error before
        the first piece is an ordinary error reply."""
        held = ExitStack()
        pieces = pipeline.ask_stream(question, history=history)
        try:  # a client gone while it waits leaves no place taken
            if not await run_in_threadpool(held.enter_context, self.gate.enter()):
                raise BusyError(BUSY)
            first = await run_in_threadpool(next, pieces)
        except BaseException:
            _close(pieces)
            held.close()
            raise
        return StreamingResponse(
            self._events(body, first, pieces, held), media_type="text/event-stream"
        )

    async def _events(
        self,
        body: ChatRequest,
        first: str | Answer,
        pieces: Iterator[str | Answer],
        held: ExitStack,
    ) -> AsyncIterator[str]:
        head: dict[str, Any] = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time())}
        head |= {"object": "chat.completion.chunk", "model": body.model}
        if body.include_usage:  # as OpenAI does: null in every chunk but the last
            head["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return sse({**head, "choices": [choice], **more})

        try:
            yield chunk({"role": "assistant", "content": ""})
            sent: list[str] = []
            item: str | Answer | None = first
            while isinstance(item, str):
                yield chunk({"content": item})
                sent.append(item)
                item = await run_in_threadpool(next, pieces, None)
            if item is not None:
                yield chunk({}, "stop", **extras(item), text=item.text)
            if body.include_usage:
                counted = usage(prompt_tokens(body.messages), "".join(sent))
                yield sse({**head, "choices": [], "usage": counted})
            yield "data: [DONE]\n\n"
        except QAError as exc:  # e.g. the LLM endpoint failed mid-answer: an error event
            yield sse(error_body(exc)[1])
        except Exception:
            log.exception("a streamed answer failed")
            yield sse(error(FAILED, "server_error"))
        finally:  # also when the client went away: the next piece is never asked for
            _close(pieces)
            held.close()


def _close(pieces: Iterator[str | Answer]) -> None:
    """Stop a pipeline's answer stream (a generator) where it is, e.g. an LLM request."""
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def build_api(pipeline: QAPipeline) -> FastAPI:
    """The FastAPI app of `qa serve` over `pipeline`: its own OpenAPI document at
    /openapi.json, and no docs pages (they load scripts from other hosts)."""
    api = Api(pipeline)
    settings = pipeline.settings
    # a question waiting at the gate holds a worker thread: one for each, and spare ones
    threads = settings.chat_concurrency + settings.chat_queue_size + SPARE_THREADS

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, threads)
        yield

    app = FastAPI(
        title="Delta QA", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.api = api

    @app.exception_handler(QAError)
    async def qa_error(_: Request, exc: QAError) -> JSONResponse:
        status, body = error_body(exc)
        return JSONResponse(body, status, headers=error_headers(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # the router's own headers travel, e.g. the Allow of a 405
        return JSONResponse(error(f"{exc.detail}: {SERVED}"), exc.status_code, exc.headers)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("a request failed", exc_info=exc)
        return JSONResponse(error(FAILED, "server_error"), 500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    described = document(keyed=bool(settings.api_keys))

    @app.get("/openapi.json")
    async def openapi() -> dict[str, Any]:
        return described

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        api.authorise(request)
        return {"object": "list", "data": api.models()}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        api.authorise(request)
        body, pipe, question, history = api.request(await api.body(request))
        if body.stream:
            return await api.stream(pipe, body, question, history)
        answer = await run_in_threadpool(api.ask, pipe, question, history)
        return JSONResponse(completion(body.model, answer, prompt_tokens(body.messages)))

    return app


def serve(pipeline: QAPipeline, host: str = "127.0.0.1", port: int = 7861) -> None:
    """Serve the API until interrupted, on 127.0.0.1 unless told otherwise."""
    import uvicorn

    pipeline.ensure_index()
    uvicorn.run(build_api(pipeline), host=host, port=port, access_log=False, log_level="info")
