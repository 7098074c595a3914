"""OpenAI's chat wire format as Delta QA speaks it: the request fields it reads, the
conversation they hold, a completion with the extra fields and its usage, a stream event, and
each error's status, type, code and headers."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.errors import (
    AuthError,
    BackendError,
    BodyTooLargeError,
    BusyError,
    IndexStateError,
    ModelNotFoundError,
    QAError,
    QuestionError,
    RequestError,
)
from qa.models import Answer
from qa.text import CJK_CHARS

# status, OpenAI error type and code of each error, the first match winning (one table, not an
# except ladder); anything else is a 500 that names the server's log
ERRORS: tuple[tuple[type[QAError], int, str, str | None], ...] = (
    (AuthError, 401, "invalid_request_error", "invalid_api_key"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (BusyError, 429, "rate_limit_error", "busy"),
    (BodyTooLargeError, 413, "invalid_request_error", "request_too_large"),
    (RequestError, 400, "invalid_request_error", None),
    (QuestionError, 400, "invalid_request_error", "invalid_question"),
    (IndexStateError, 503, "server_error", "index_unavailable"),
    (BackendError, 502, "server_error", "backend_error"),
    (QAError, 500, "server_error", None),
)
# RFC 6750: a 401 names the scheme the client should authenticate with
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="Delta QA"'}
# a token of the usage counts: one Chinese character, a run of letters and digits (a quarter
# token per character, rounded up) or one other sign; near OpenAI's tokenizers on these texts
_TOKEN = re.compile(rf"[{CJK_CHARS}]|[^\W{CJK_CHARS}]+|[^\w\s]")


class Message(BaseModel):
    """One message of a chat request; parts other than text (images) are not read."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text, its text parts joined."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    """The options of a streamed reply; only `include_usage` is read."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of a chat completion request that Delta QA reads; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    @property
    def include_usage(self) -> bool:
        """Whether a streamed reply ends with a chunk of usage (`stream_options.include_usage`)."""
        return self.stream_options is not None and self.stream_options.include_usage


def conversation(messages: list[Message]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last message, a user's) and the earlier (question, answer) pairs."""
    if messages[-1].role != "user":
        raise RequestError(
            f'the last message is the {messages[-1].role}\'s: end "messages" with the user\'s '
            "question (role \"user\")"
        )
    history: list[tuple[str, str]] = []
    asked: str | None = None
    for message in messages[:-1]:
        if message.role == "user":
            asked = message.text()
        elif message.role == "assistant" and asked is not None:
            history.append((asked, message.text()))
            asked = None
    return messages[-1].text(), history


def error_body(exc: QAError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI-shaped body of an error."""
    for kind, status, type_, code in ERRORS:
        if isinstance(exc, kind):
            param = {ModelNotFoundError: "model", QuestionError: "messages"}.get(kind)
            fields = {"message": str(exc), "type": type_, "param": param, "code": code}
            return status, {"error": fields}
    raise AssertionError("QAError is the last row of ERRORS")  # pragma: no cover


def error_headers(exc: QAError) -> dict[str, str]:
    """The headers an error's reply carries: the bearer challenge of a 401."""
    return dict(CHALLENGE) if isinstance(exc, AuthError) else {}


def error(message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI-shaped error body that names no parameter or code."""
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


def extras(answer: Answer) -> dict[str, Any]:
    """What OpenAI's schema has no field for: citations (each Citation whole), refusal, notice."""
    return {
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "refused": answer.refused,
        "notice": answer.notice,
    }


def sse(data: dict[str, Any]) -> str:
    """One server-sent event of a stream."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def tokens(text: str) -> int:
    """About how many tokens an OpenAI tokenizer makes of `text` (no tokenizer is loaded:
    Delta QA's answerers count no tokens)."""
    return sum(math.ceil(len(t) / 4) if t[0].isalnum() else 1 for t in _TOKEN.findall(text))


def prompt_tokens(messages: list[Message]) -> int:
    """About how many tokens the request's messages hold (their text, as the client sent it)."""
    return sum(tokens(m.text()) for m in messages)


def usage(prompt: int, content: str) -> dict[str, int]:
    """OpenAI's `usage` of a reply: the prompt's tokens and those of the content sent back."""
    completion_tokens = tokens(content)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def completion(model: str, answer: Answer, prompt: int) -> dict[str, Any]:
    """A whole answer as an OpenAI chat completion, with its usage (`prompt` tokens asked) and
    the extra fields."""
    message = {"role": "assistant", "content": answer.text}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage(prompt, answer.text),
        **extras(answer),
    }
