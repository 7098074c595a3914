"""OpenAI's chat wire format as Delta QA speaks it: the request fields it reads, the
conversation they hold, a completion with the extra fields, a stream event, and each error's
status, type and code."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.errors import (
    AuthError,
    BackendError,
    BusyError,
    IndexStateError,
    ModelNotFoundError,
    QAError,
    QuestionError,
    RequestError,
)
from qa.models import Answer

# status, OpenAI error type and code of each error, the first match winning (one table, not an
# except ladder); anything else is a 500 that names the server's log
ERRORS: tuple[tuple[type[QAError], int, str, str | None], ...] = (
    (AuthError, 401, "invalid_request_error", "invalid_api_key"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (BusyError, 429, "rate_limit_error", "busy"),
    (RequestError, 400, "invalid_request_error", None),
    (QuestionError, 400, "invalid_request_error", "invalid_question"),
    (IndexStateError, 503, "server_error", "index_unavailable"),
    (BackendError, 502, "server_error", "backend_error"),
    (QAError, 500, "server_error", None),
)


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


class ChatRequest(BaseModel):
    """The fields of a chat completion request that Delta QA reads; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False


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


def completion(model: str, answer: Answer) -> dict[str, Any]:
    """A whole answer as an OpenAI chat completion, with the extra fields."""
    message = {"role": "assistant", "content": answer.text}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        **extras(answer),
    }
