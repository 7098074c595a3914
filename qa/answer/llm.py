"""The LLM answerer: a langchain `ChatOpenAI` over any OpenAI-compatible endpoint.

It shows the model numbered passages from prompts/answer.md, streams the reply, and hands it to
the CitationChecker so that every `[n]` is verified against the passage it names. Endpoint
failures become a BackendError that says what to fix and never holds the API key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from qa.answer.citations import CitationChecker, claim_trace
from qa.answer.extractive import Draft, refusal
from qa.answer.prompts import load_prompt
from qa.answer.retrieval import Hit
from qa.config import Settings
from qa.errors import BackendError, ConfigError
from qa.text import has_cjk

# Streamed text lags this many characters behind the model, so that a leak of the instructions
# is caught before any of it reaches the reader.
HOLD_BACK = 48
_LEAK_WINDOW = 40
_DECLINES = re.compile(
    r"\b(?:articles?|passages?)\s+(?:do(?:es)?\s*n[o']t|do(?:es)? not)\s+(?:say|mention|state|"
    r"contain|answer)|\bno information\b|没有(?:提到|提及|说明|相关)|未(?:提及|提到|说明)|无法回答",
    re.IGNORECASE,
)
WITHHELD = "I answer questions about the articles; my instructions are not something I share."


def language_of(question: str) -> str:
    """The language the answer should be written in: Chinese for a Chinese question."""
    return "Chinese" if has_cjk(question) else "English"


def format_passages(hits: list[Hit]) -> str:
    """Numbered <passage> blocks; angle brackets in the text are escaped so it stays data."""
    blocks = []
    for n, hit in enumerate(hits, start=1):
        r = hit.record
        date = r.day.isoformat() if r.day else ""
        text = r.text.replace("<", "&lt;").replace(">", "&gt;")
        title = r.title.replace('"', "'")
        blocks.append(
            f'<passage n="{n}" article="{r.source}" title="{title}" date="{date}">\n'
            f"{text}\n</passage>"
        )
    return "\n\n".join(blocks)


@contextmanager
def endpoint_errors(settings: Settings) -> Iterator[None]:
    """Turn whatever the endpoint or the transport raised into a BackendError naming the fix."""
    import httpx2
    import openai

    where = settings.llm_base_url or "api.openai.com"
    try:
        yield
    except openai.AuthenticationError:
        raise BackendError(
            f"the LLM endpoint {where} rejected the API key (401): set OPENAI_API_KEY to a "
            "valid key for it"
        ) from None
    except openai.RateLimitError as exc:
        after = exc.response.headers.get("retry-after")
        raise BackendError(
            f"the LLM endpoint {where} is rate-limiting requests (429) after "
            f"{settings.llm_retries} retries"
            + (f"; it asks to wait {after} s" if after else "")
            + ": try again later or raise QA_LLM_RETRIES"
        ) from None
    except openai.NotFoundError:
        raise BackendError(
            f"the LLM endpoint {where} has no model {settings.llm_model!r} or no chat API (404): "
            "check QA_LLM_MODEL, and that QA_LLM_BASE_URL ends in /v1"
        ) from None
    except (openai.APITimeoutError, httpx2.TimeoutException):
        raise BackendError(
            f"the LLM endpoint {where} sent nothing for {settings.llm_timeout:g} s "
            "(QA_LLM_TIMEOUT): check that the server is up and not overloaded"
        ) from None
    except (openai.APIConnectionError, httpx2.TransportError):
        raise BackendError(
            f"cannot reach the LLM endpoint {where}: start the server, or fix QA_LLM_BASE_URL"
        ) from None
    except openai.APIStatusError as exc:
        raise BackendError(
            f"the LLM endpoint {where} answered HTTP {exc.status_code}: check its logs"
        ) from None
    except (openai.OpenAIError, httpx2.HTTPError, ValueError, KeyError, TypeError):
        raise BackendError(
            f"the LLM endpoint {where} sent a reply that is not an OpenAI-compatible chat "
            "completion: check that QA_LLM_BASE_URL points at an OpenAI-compatible /v1 API"
        ) from None


class LLMAnswerer:
    """Answers from the passages with an LLM, citing `[n]`, with every citation verified."""

    name = "llm"

    def __init__(self, settings: Settings, checker: CitationChecker) -> None:
        if not (settings.llm_base_url or settings.openai_api_key):
            raise ConfigError(
                "the LLM answerer needs an endpoint: set QA_LLM_BASE_URL (e.g. "
                "http://127.0.0.1:8000/v1) or OPENAI_API_KEY, or QA_BACKEND=extractive"
            )
        self.settings = settings
        self.checker = checker
        self.prompt = load_prompt(settings.prompts_dir, "answer")
        self.condense_prompt = load_prompt(settings.prompts_dir, "condense")
        self._leaks = _shingles(self.prompt.system_text)

    @cached_property
    def chat(self) -> Any:
        """The langchain chat model, built on first use."""
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        s = self.settings
        return ChatOpenAI(
            model=s.llm_model,
            base_url=s.llm_base_url,
            api_key=SecretStr(s.api_key()),
            temperature=s.llm_temperature,
            max_completion_tokens=s.llm_max_tokens,
            timeout=s.llm_timeout,
            max_retries=s.llm_retries,
            streaming=True,
            # llama.cpp and Ollama read only the older `max_tokens`; OpenAI itself needs neither
            extra_body={"max_tokens": s.llm_max_tokens} if s.llm_base_url else None,
        )

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str | Draft]:
        """Yield text deltas as the model writes them, then the checked Draft."""
        if not hits:
            yield Draft(text=refusal(hits), refused=True, citations=[])
            return
        messages = self.prompt.messages(
            passages=format_passages(hits), question=question, language=language_of(question)
        )
        text, shown, leaked = "", 0, False
        with endpoint_errors(self.settings):
            for chunk in self.chat.stream(messages):
                text += chunk.content if isinstance(chunk.content, str) else ""
                if self.leaks(text):
                    leaked = True
                    break
                if len(text) - HOLD_BACK > shown:
                    yield text[shown : len(text) - HOLD_BACK]
                    shown = len(text) - HOLD_BACK
        if leaked:
            yield Draft(text=WITHHELD, refused=True, citations=[])
            return
        if not text.strip():
            raise BackendError(
                f"the LLM endpoint {self.settings.llm_base_url or 'api.openai.com'} returned an "
                "empty answer: check QA_LLM_MODEL and QA_LLM_MAX_TOKENS"
            )
        if text[shown:]:
            yield text[shown:]
        yield self.draft(question, text, hits)

    def draft(self, question: str, text: str, hits: list[Hit]) -> Draft:
        """The model's reply as a Draft: a refusal, or the text with checked citations and
        the trace of the check."""
        checked = self.checker.check(text, hits)
        if _DECLINES.search(text) and not checked.verified:
            return Draft(text=refusal(hits), refused=True, citations=[])
        notice = None
        if not checked.verified:
            notice = (
                "None of this answer's citations could be checked against the articles: "
                "treat it with care."
            )
        elif checked.unverified:
            notice = unverified_notice(checked.unverified, checked.claimed)
        trace = claim_trace(question, checked, hits, self.checker.policy)
        return Draft(checked.text, False, checked.citations, notice, trace)

    def leaks(self, text: str) -> bool:
        """Whether `text` repeats the canary or a stretch of the system prompt."""
        if self.prompt.canary and self.prompt.canary.lower() in text.lower():
            return True
        flat = _flat(text)
        return any(flat[i : i + _LEAK_WINDOW] in self._leaks for i in range(len(flat)))

    def rewrite(self, question: str, history: list[tuple[str, str]]) -> str:
        """The follow-up `question` rewritten by the model into a standalone question."""
        lines = [f"User: {q}\nAssistant: {a}" for q, a in history[-3:]]
        messages = self.condense_prompt.messages(history="\n".join(lines), question=question)
        with endpoint_errors(self.settings):
            reply = self.chat.invoke(messages).content
        lines = reply.strip().splitlines() if isinstance(reply, str) else []
        rewritten = lines[0].strip() if lines else ""
        if not rewritten or len(rewritten) > 3 * len(question) + 200:  # a ramble, not a question
            return question
        return rewritten


def unverified_notice(unverified: int, claims: int) -> str:
    """The notice of an answer only some of whose claims its cited passages state."""
    if unverified == 1:
        return (
            f"1 of this answer's {claims} claims could not be checked against the passage it "
            "cites: its citation is marked unverified."
        )
    return (
        f"{unverified} of this answer's {claims} claims could not be checked against the "
        "passages they cite: their citations are marked unverified."
    )


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _shingles(text: str) -> frozenset[str]:
    """Every run of _LEAK_WINDOW characters of the whitespace-flattened text."""
    flat = _flat(text)
    return frozenset(flat[i : i + _LEAK_WINDOW] for i in range(len(flat) - _LEAK_WINDOW + 1))
