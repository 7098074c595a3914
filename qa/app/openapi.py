"""The OpenAPI 3.1 document of `qa serve` (`GET /openapi.json`): the endpoints it serves, the
request fields it reads, its replies with their extra fields, and its errors with their
statuses, taken from the same models and error table as the replies themselves."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel

from qa.app.openai_wire import ERRORS, ChatRequest
from qa.errors import AuthError, QAError
from qa.models import Citation

REF = "#/components/schemas/{model}"
FAILED = "The server failed: its log says why."
# what each answer's schema holds beyond OpenAI's: the same fields as openai_wire.extras
EXTRAS: dict[str, Any] = {
    "citations": {"type": "array", "items": {"$ref": REF.format(model="Citation")}},
    "refused": {"type": "boolean", "description": "Whether the articles hold no answer."},
    "notice": {"type": ["string", "null"], "description": "A word on how it was answered."},
}
USAGE = {
    "type": "object",
    "description": "Approximate token counts: Delta QA's answerers count no tokens.",
    "properties": {
        name: {"type": "integer"}
        for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    },
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
}
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "What went wrong and the fix."},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
COMPLETION = {
    "type": "object",
    "description": "OpenAI's chat.completion, with Delta QA's extra fields.",
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "properties": {
                            "role": {"const": "assistant"},
                            "content": {"type": "string", "description": "With [n] markers."},
                        },
                    },
                    "finish_reason": {"const": "stop"},
                },
            },
        },
        "usage": {"$ref": REF.format(model="Usage")},
        **EXTRAS,
    },
    "required": ["id", "object", "created", "model", "choices", "usage"],
}
STREAM = {
    "type": "string",
    "description": "Server-sent events, each `data: ` and a chat.completion.chunk, then "
    "`data: [DONE]`. The chunk whose finish_reason is stop also holds citations, refused, "
    "notice and text (the final answer); with stream_options.include_usage, a last chunk "
    "has empty choices and the usage.",
}
MODELS = {
    "type": "object",
    "properties": {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"enum": ["extractive", "llm"]},
                    "object": {"const": "model"},
                    "created": {"type": "integer"},
                    "owned_by": {"type": "string"},
                    "llm_model": {"type": "string", "description": "The LLM's endpoint model."},
                },
            },
        },
    },
}


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """The JSON schemas of `models` and of the models they hold, by name."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    return schemas


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _errors(keyed: bool, *kinds: type[QAError]) -> dict[str, Any]:
    """The error replies of `kinds` and their subclasses, by status (openai_wire.ERRORS), and
    the 401 only when the server asks for a key."""
    replies: dict[str, list[str]] = {}
    for kind, status, _, _ in ERRORS:
        if not issubclass(kind, kinds) or (kind is AuthError and not keyed):
            continue
        meaning = FAILED if kind is QAError else " ".join((kind.__doc__ or "").split())
        replies.setdefault(str(status), []).append(meaning)
    error = REF.format(model="Error")
    return {status: _json(error, " Or: ".join(replies[status])) for status in sorted(replies)}


def _version() -> str:
    try:
        return version("delta-qa")
    except PackageNotFoundError:  # pragma: no cover - run from a tree never installed
        return "0"


def document(keyed: bool) -> dict[str, Any]:
    """The OpenAPI document of the endpoints `qa serve` serves; `keyed` when it asks for a
    bearer key (QA_API_KEYS) on /v1."""
    security: dict[str, Any] = {"security": [{"bearer": []}]} if keyed else {}
    answer = _json(REF.format(model="ChatCompletion"), "The answer, whole or streamed.")
    answer["content"]["text/event-stream"] = {"schema": {"$ref": REF.format(model="Stream")}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Delta QA",
            "version": _version(),
            "description": "OpenAI-compatible chat completions answered from news articles, "
            "with citations.",
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Whether the server is up",
                    "responses": {"200": {"description": 'Always {"status": "ok"}.'}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "The answerers, as OpenAI models",
                    **security,
                    "responses": {
                        "200": _json(REF.format(model="ModelList"), "The answerers."),
                        **_errors(keyed, AuthError),
                    },
                }
            },
            "/v1/chat/completions": {
                "post": {
                    "summary": "Answer the last user message (earlier ones are its history)",
                    **security,
                    "requestBody": {
                        "required": True,
                        "description": "Other fields of OpenAI's request are accepted and "
                        "ignored; at most QA_MAX_REQUEST_BYTES.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": REF.format(model="ChatRequest")}
                            }
                        },
                    },
                    "responses": {"200": answer, **_errors(keyed, QAError)},
                }
            },
        },
        "components": {
            "schemas": {
                **_schemas(ChatRequest, Citation),
                "ChatCompletion": COMPLETION,
                "Stream": STREAM,
                "Usage": USAGE,
                "ModelList": MODELS,
                "Error": ERROR,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
