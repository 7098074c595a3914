"""`qa serve` as its users meet it: the real `openai` client (sync, async, streamed) and
LangChain's ChatOpenAI against a running server over the seed index; a bad request, a wrong
key, an empty question and a client that leaves mid-stream each get an answer in OpenAI's
error shape (or none), and the server answers the next good question."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError

from qa.app.admission import BUSY
from qa.app.load import run_load
from qa.app.openai_wire import Message, conversation, tokens
from qa.app.openapi import document
from qa.app.serve import build_api
from qa.config import Settings
from qa.errors import RequestError
from qa.models import Citation
from qa.pipeline import QAPipeline

from .conftest import api_server

pytestmark = pytest.mark.slow
KEYS = ("key-one", "key-two")
PINGHU = "How many enterprises are in the Pinghu CNC machine tool cluster?"
UNANSWERED = "How many employees does Haichen Precision Machinery have?"


@pytest.fixture(scope="module")
def server(seeded: QAPipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`qa serve` over the seed index with two keys, two answers at once and two waiting;
    yields its /v1 URL."""
    with api_server(
        seeded,
        tmp_path_factory.mktemp("serve"),
        QA_API_KEYS=",".join(KEYS),
        QA_CHAT_CONCURRENCY="2",
        QA_CHAT_QUEUE_SIZE="2",
        QA_CHAT_PATIENCE="5",
    ) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server, api_key=KEYS[1], max_retries=0, timeout=60) as c:
        yield c


def still_answers(client: openai.OpenAI) -> None:
    """The server answers a good question (after whatever the test did to it)."""
    reply = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": PINGHU}]
    )
    assert "[1]" in (reply.choices[0].message.content or "")


def test_models_list_the_extractive_answerer(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["extractive"]


def test_a_whole_answer_carries_citations_and_the_refusal_flag(
    client: openai.OpenAI, seeded: QAPipeline
) -> None:
    reply = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": PINGHU}]
    )
    assert reply.model == "extractive" and reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == seeded.ask(PINGHU).text
    extra = reply.model_extra or {}
    assert extra["refused"] is False
    [first, *_] = extra["citations"]
    assert first["source"] == "003_741e1901b211ff40.txt" and first["verified"] is True
    assert set(Citation.model_fields) <= set(first), "every field of a Citation travels"
    assert Citation.model_validate(first).quote in seeded.article_text(first["source"])

    declined = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": UNANSWERED}]
    )
    assert (declined.model_extra or {})["refused"] is True


def test_usage_counts_the_messages_and_the_answer_whole_or_streamed(
    client: openai.OpenAI,
) -> None:
    system = "Answer from the articles."
    messages: Any = [{"role": "system", "content": system}, {"role": "user", "content": PINGHU}]
    whole = client.chat.completions.create(model="extractive", messages=messages)
    content = whole.choices[0].message.content or ""
    asked, said = tokens(system) + tokens(PINGHU), tokens(content)
    assert whole.usage is not None and said > 10
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (asked, said)
    assert whole.usage.total_tokens == asked + said

    counted = client.chat.completions.create(
        model="extractive",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    *answer, last = list(counted)
    assert last.choices == [] and last.usage == whole.usage, "a last chunk of usage alone"
    assert all(c.usage is None for c in answer)
    assert answer[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in answer) == content

    plain = list(client.chat.completions.create(model="extractive", messages=messages, stream=True))
    assert plain[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in plain)


def test_tokens_are_counted_near_openais_tokenizers() -> None:
    assert tokens("") == 0 and tokens("the cluster [1].") == 7
    assert tokens("平湖数控机床") == 6, "a Chinese character is a token"
    assert tokens("enterprises") == 3, "a long word is a token for every four letters"


def test_earlier_messages_are_the_history_of_a_follow_up(
    client: openai.OpenAI, seeded: QAPipeline
) -> None:
    first = seeded.ask(PINGHU)
    follow = "What output value did it generate?"
    reply = client.chat.completions.create(
        model="extractive",
        messages=[
            {"role": "system", "content": "Answer from the articles."},
            {"role": "user", "content": PINGHU},
            {"role": "assistant", "content": first.text},
            {"role": "user", "content": [{"type": "text", "text": follow}]},
        ],
    )
    expected = seeded.ask(follow, history=[(PINGHU, first.text)])
    assert reply.choices[0].message.content == expected.text


def test_the_async_client_streams_the_answer_and_its_citations_last(
    server: str, seeded: QAPipeline
) -> None:
    async def stream() -> tuple[list[str], Any]:
        async with openai.AsyncOpenAI(base_url=server, api_key=KEYS[0], max_retries=0) as aio:
            chunks = await aio.chat.completions.create(
                model="extractive", messages=[{"role": "user", "content": PINGHU}], stream=True
            )
            pieces, last = [], None
            async for chunk in chunks:
                pieces += [c.delta.content for c in chunk.choices if c.delta.content]
                last = chunk
            return pieces, last

    pieces, last = asyncio.run(stream())
    answer = seeded.ask(PINGHU)
    assert "".join(pieces) == answer.text
    assert last is not None and last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert extra["text"] == answer.text and extra["refused"] is False
    assert [c["n"] for c in extra["citations"]] == [c.n for c in answer.citations]

    whole = asyncio.run(_async_whole(server))
    assert "[1]" in whole


async def _async_whole(server: str) -> str:
    async with openai.AsyncOpenAI(base_url=server, api_key=KEYS[0], max_retries=0) as aio:
        reply = await aio.chat.completions.create(
            model="extractive", messages=[{"role": "user", "content": PINGHU}]
        )
    return reply.choices[0].message.content or ""


def test_langchain_chat_openai_invokes_and_streams(server: str) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=server, api_key=KEYS[0], model="extractive", max_retries=0)
    reply = chat.invoke(PINGHU)
    assert "70 enterprises" in str(reply.content) and "[1]" in str(reply.content)
    streamed = "".join(str(chunk.content) for chunk in chat.stream(PINGHU))
    assert streamed == reply.content


def test_bad_requests_get_openai_errors_and_the_server_goes_on(
    server: str, client: openai.OpenAI
) -> None:
    # not JSON, and JSON without messages: 400 in OpenAI's shape
    for body in (b"{not json", b'{"model": "extractive"}'):
        raw = httpx.post(f"{server}/chat/completions", content=body, headers=_auth(KEYS[0]))
        assert raw.status_code == 400, raw.text
        assert set(raw.json()["error"]) == {"message", "type", "param", "code"}
    still_answers(client)

    with pytest.raises(openai.BadRequestError, match=r"end .messages. with the user's question"):
        client.chat.completions.create(
            model="extractive", messages=[{"role": "assistant", "content": "Hello"}]
        )
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-4o' here") as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "?"}])
    assert unknown.value.code == "model_not_found"
    still_answers(client)


def test_a_wrong_or_missing_key_is_refused(server: str, client: openai.OpenAI) -> None:
    with openai.OpenAI(base_url=server, api_key="key-three", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError, match="not one this server accepts"):
            stranger.models.list()
        with pytest.raises(openai.AuthenticationError):
            stranger.chat.completions.create(
                model="extractive", messages=[{"role": "user", "content": PINGHU}], stream=True
            )
    raw = httpx.get(f"{server}/models")
    assert raw.status_code == 401 and "Authorization: Bearer" in raw.json()["error"]["message"]
    wrong = httpx.get(f"{server}/models", headers=_auth("key-three"))
    for refused in (raw, wrong):
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="Delta QA"'
    still_answers(client)


def test_a_wrong_method_is_a_405_that_names_the_allowed_one(server: str) -> None:
    got = httpx.get(f"{server}/chat/completions", headers=_auth(KEYS[0]))
    assert got.status_code == 405 and got.headers["Allow"] == "POST"
    assert "POST /v1/chat/completions" in got.json()["error"]["message"]
    posted = httpx.post(f"{server}/models", headers=_auth(KEYS[0]))
    assert posted.status_code == 405 and "GET" in posted.headers["Allow"].split(", ")


def test_the_openapi_document_describes_the_endpoints_served(
    server: str, seeded: QAPipeline
) -> None:
    described = httpx.get(server.removesuffix("v1") + "openapi.json").json()  # no key needed
    assert described["openapi"].startswith("3.1.")
    app = build_api(seeded.with_settings(backend="extractive"))
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods - {"HEAD"}
    }
    assert {(path, m) for path, ops in described["paths"].items() for m in ops} == served

    schemas = described["components"]["schemas"]
    refs = {ref.rsplit("/", 1)[-1] for ref in _refs(described)}
    assert refs and refs <= set(schemas), "every $ref resolves"
    chat = described["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]) == {"200", "400", "401", "404", "413", "429", "500", "502", "503"}
    assert chat["security"] == [{"bearer": []}]
    assert set(schemas["ChatRequest"]["properties"]) == {
        "model", "messages", "stream", "stream_options"
    }
    assert "usage" in schemas["ChatCompletion"]["required"]

    open_chat = document(keyed=False)["paths"]["/v1/chat/completions"]["post"]
    assert "401" not in open_chat["responses"] and "security" not in open_chat, "no key asked"


def _refs(node: Any) -> Iterator[str]:
    """Every $ref in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_a_body_past_the_limit_is_a_413_that_names_the_setting(seeded: QAPipeline) -> None:
    pipe = seeded.with_settings(backend="extractive", max_request_bytes=2000)
    body: dict[str, Any] = {"model": "extractive"}
    body["messages"] = [{"role": "user", "content": PINGHU}]
    padded = {**body, "messages": [{"role": "system", "content": "x" * 3000}, *body["messages"]]}
    raw = json.dumps(padded).encode()

    def in_parts() -> Iterator[bytes]:  # no Content-Length: the bytes read are counted
        yield raw[:1500]
        yield raw[1500:]

    with TestClient(build_api(pipe)) as http:
        for sent in ({"content": raw}, {"content": in_parts()}):
            large = http.post("/v1/chat/completions", **sent)  # type: ignore[arg-type]
            assert large.status_code == 413, large.text
            error = large.json()["error"]
            assert error["code"] == "request_too_large"
            assert "QA_MAX_REQUEST_BYTES" in error["message"]
        assert http.post("/v1/chat/completions", json=body).status_code == 200


def test_an_empty_question_is_a_sentence_whole_or_streamed(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError, match="the question is empty") as empty:
            client.chat.completions.create(
                model="extractive", messages=[{"role": "user", "content": "  "}], stream=stream
            )
        assert empty.value.code == "invalid_question" and "Traceback" not in str(empty.value)
    still_answers(client)


def test_clients_that_leave_mid_stream_free_their_place(
    server: str, client: openai.OpenAI
) -> None:
    # more departures than the server answers at once: a place kept would leave it busy
    for question in ("What is the Integration of Two Industries?", PINGHU, UNANSWERED) * 2:
        body = {"model": "extractive", "stream": True}
        body["messages"] = [{"role": "user", "content": question}]
        with httpx.stream(
            "POST", f"{server}/chat/completions", json=body, headers=_auth(KEYS[0]), timeout=60
        ) as reply:
            assert reply.status_code == 200
            first = next(reply.iter_lines())
            assert first.startswith("data: ")
        # the connection is closed here, before the rest of the stream is read
    still_answers(client)


def test_a_few_streaming_clients_at_once_get_answers_or_busy(
    server: str, client: openai.OpenAI
) -> None:
    report = run_load(server, clients=6, seconds=3, timeout=60, busy_pause=0.2, key=KEYS[0])
    assert report.ok, report.lines()
    assert report.count("answer") >= 1, report.lines()
    still_answers(client)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_past_the_gate_a_question_is_told_it_is_busy(seeded: QAPipeline) -> None:
    pipe = seeded.with_settings(
        backend="extractive", chat_concurrency=1, chat_queue_size=1, chat_patience=0.2
    )
    app = build_api(pipe)
    body = {"model": "extractive", "messages": [{"role": "user", "content": PINGHU}]}
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # a question being answered, holding the only place
        with app.state.api.gate.enter() as admitted:
            assert admitted
            held.set()
            release.wait(10)

    with TestClient(app) as http:
        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        try:
            assert held.wait(5)
            for stream in (False, True):
                busy = http.post("/v1/chat/completions", json={**body, "stream": stream})
                assert busy.status_code == 429
                error = busy.json()["error"]
                assert error["message"] == BUSY and error["code"] == "busy"
        finally:
            release.set()
            thread.join(10)
        assert http.post("/v1/chat/completions", json=body).status_code == 200


def test_the_conversation_is_the_last_user_message_and_earlier_pairs() -> None:
    def said(role: str, text: str) -> Message:
        return Message.model_validate({"role": role, "content": text})

    messages = [said("system", "Be brief."), said("user", "q1"), said("assistant", "a1")]
    messages += [said("user", "q2"), said("user", "q3"), said("assistant", "a3")]
    assert conversation([*messages, said("user", "q4")]) == ("q4", [("q1", "a1"), ("q3", "a3")])
    with pytest.raises(RequestError, match="user's question"):
        conversation(messages)


def test_api_keys_are_a_comma_separated_secret_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_API_KEYS", " key-one, key-two ,,")
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-one", "key-two"]
    assert "key-one" not in repr(settings)
    monkeypatch.delenv("QA_API_KEYS")
    assert Settings().api_keys == []


def test_the_request_limit_is_a_setting_of_one_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_MAX_REQUEST_BYTES", raising=False)
    assert Settings().max_request_bytes == 1 << 20
    monkeypatch.setenv("QA_MAX_REQUEST_BYTES", "4096")
    assert Settings().max_request_bytes == 4096
    monkeypatch.setenv("QA_MAX_REQUEST_BYTES", "0")
    with pytest.raises(ValidationError, match="max_request_bytes"):
        Settings()


def test_a_configured_llm_is_a_second_model_and_its_failure_a_502(seeded: QAPipeline) -> None:
    from qa.index.chroma_server import free_port

    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    pipe = seeded.with_settings(backend="llm", llm_base_url=down, llm_retries=0, llm_timeout=5)
    body = {"messages": [{"role": "user", "content": PINGHU}]}
    with TestClient(build_api(pipe)) as http:
        listed = http.get("/v1/models").json()["data"]
        assert [m["id"] for m in listed] == ["extractive", "llm"]
        assert listed[1]["llm_model"] == pipe.settings.llm_model
        failed = http.post("/v1/chat/completions", json={**body, "model": "llm"})
        assert failed.status_code == 502 and failed.json()["error"]["code"] == "backend_error"
        offline = http.post("/v1/chat/completions", json={**body, "model": "extractive"})
        assert offline.status_code == 200
        assert "[1]" in offline.json()["choices"][0]["message"]["content"]
