"""Settings: the one typed settings object, read from QA_* environment variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

EmbeddingBackend = Literal["use", "minilm", "e5", "openai"]

# what each location is called: in a checkout (the working folder holds seeds/), and in the data
# home of an installed Delta QA
_CHECKOUT = {
    "articles": "seeds",
    "index": ".qa-index",
    "uploads": ".qa-uploads",
    "web": ".qa-web",
    "feedback": ".qa-feedback.jsonl",
}
_HOME = {
    "articles": "articles",
    "index": "index",
    "uploads": "uploads",
    "web": "web",
    "feedback": "feedback.jsonl",
}


def default_home() -> Path:
    """Where Delta QA keeps its data when QA_HOME is unset: the working folder when it holds
    `seeds/` (a clone of the repository), else the user's data folder (`~/.local/share/delta-qa`
    on Linux, the platform's own elsewhere)."""
    if Path(_CHECKOUT["articles"]).is_dir():
        return Path()
    import platformdirs

    return platformdirs.user_data_path("delta-qa", appauthor=False)


def _located(part: str) -> Any:
    """The default of one data location, placed under the validated `home`."""

    def default(data: dict[str, Any]) -> Path:
        home: Path = data["home"]
        names = _CHECKOUT if home == Path() else _HOME
        return home / names[part]

    return default


class Settings(BaseSettings):
    """Every knob of Delta QA; each field has a default that works offline."""

    model_config = SettingsConfigDict(
        env_prefix="QA_", env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    # Articles and index
    home: Path = Field(
        default_factory=default_home,
        description="Folder of the default articles, index, uploads and feedback locations: "
        "unset = the working folder when it holds seeds/ (seeds/, .qa-index/, ...), else the "
        "user data folder, ~/.local/share/delta-qa on Linux (articles/, index/, ...).",
    )
    articles_dir: Path = Field(
        default_factory=_located("articles"), description="Folder ingested by default."
    )
    index_dir: Path = Field(
        default_factory=_located("index"),
        description="Where the embedded Chroma store, the BM25 index and the manifest live.",
    )
    max_article_bytes: int = Field(2_000_000, gt=0, description="Larger files are skipped.")
    chroma_url: str | None = Field(
        None, description="http://host:port of a Chroma server; unset = embedded store."
    )
    collection: str = Field("delta_qa", description="Chroma collection name.")

    # Web pages (`qa ingest URL`, the chat page's address box)
    web_dir: Path = Field(
        default_factory=_located("web"),
        description="Where fetched web pages are saved (one .webpage file each); ingested with "
        "articles_dir, so a rebuild needs no network.",
    )
    web_timeout: float = Field(
        15.0, gt=0, description="Seconds a web page may take to arrive, redirects included."
    )
    max_page_bytes: int = Field(
        5_000_000, gt=0, description="Larger web pages are not fetched (their HTML, in bytes)."
    )
    web_allow_private: bool = Field(
        False,
        description="Let the chat page fetch loopback, private and link-local addresses "
        "(`qa ingest URL` always may).",
    )
    web_trust_env: bool = Field(
        False,
        description="Fetch web pages through the proxy that HTTP_PROXY, HTTPS_PROXY, ALL_PROXY "
        "and NO_PROXY name, and trust the certificates of SSL_CERT_FILE / SSL_CERT_DIR; off = "
        "those variables are ignored and pages are fetched directly, only from the addresses "
        "checked. Through a proxy the proxy looks the host up itself, so the chat page's check "
        "of private addresses rests on this machine's look-up, not on the connection.",
    )

    embed_cache_dir: Path | None = Field(
        None,
        description="Benchmarks: keep every vector embedded at ingest here, by text hash, and "
        "reuse it in any index (unset: vectors are staged only until the ingest commits).",
    )
    fault_point: str | None = Field(
        None,
        description="Testing only: SIGKILL the ingest at this step of its write phase "
        "(began, deleted, upserted, keyword, manifest).",
    )

    # Chunking
    chunk_size: int = Field(600, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(
        150, ge=0, description="Characters of whole sentences repeated from the previous chunk."
    )

    # Embeddings
    embedding_backend: EmbeddingBackend = Field(
        "use", description="use | minilm | e5 (local, offline) or openai (needs an API key)."
    )
    openai_embedding_model: str = Field(
        "text-embedding-3-small", description="Model name when embedding_backend=openai."
    )
    openai_api_key: SecretStr | None = Field(
        None,
        description="API key for OpenAI-compatible endpoints (OPENAI_API_KEY is read too).",
        validation_alias=AliasChoices("QA_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    openai_base_url: str | None = Field(
        None,
        description="OpenAI-compatible base URL (OPENAI_BASE_URL is read too).",
        validation_alias=AliasChoices("QA_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
    )

    # Retrieval
    top_k: int = Field(5, ge=1, le=50, description="Passages handed to the answerer.")
    candidates: int = Field(
        30, ge=1, description="Results taken from each retriever before fusion."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    rerank_pool: int = Field(
        15,
        ge=0,
        description="Fused passages the cross-encoder reads before the top ones are kept: one "
        "below the top that it reads as answering moves in front (0 = the fused order).",
    )
    # on RGB's tuning half, English accuracy 0.64 -> 0.80 with it, Chinese 0.867 -> 0.80
    rerank_languages: tuple[Literal["en", "zh"], ...] = Field(
        ("en",), description="Question languages whose pooled passages the cross-encoder reads."
    )
    cross_candidates: int = Field(
        10,
        ge=0,
        description="Candidate sentences (the trees' best) the cross-encoder reads; the rest "
        "are not answers. 0 = the trees alone.",
    )
    # 0.5 : 2 was at least as good as 1 : 1 on all three RGB tuning corpora
    # (`python -m qa.eval compare-retrieval`)
    dense_weight: float = Field(0.5, ge=0, description="Weight of the dense ranking in fusion.")
    bm25_weight: float = Field(2.0, ge=0, description="Weight of the BM25 ranking in fusion.")

    # Answering
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected.")
    retriever: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="hybrid (dense + BM25 fused), dense or bm25."
    )
    answer_sentences: int = Field(3, ge=1, le=10, description="Most sentences in an answer.")
    anchor_terms: int = Field(
        2, ge=0, description="An answer sentence must hold one of this many rarest question terms."
    )
    policy_file: Path | None = Field(
        None,
        description="An answer policy fitted by `python -m qa.train`; unset = the one "
        "shipped in qa/answer/policy.json.",
    )

    # LLM answerer (any OpenAI-compatible endpoint)
    backend: Literal["auto", "extractive", "llm"] = Field(
        "auto",
        description="auto = llm when an endpoint or API key is configured, else extractive.",
    )
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 "
        "(OPENAI_BASE_URL is read too); unset = api.openai.com when a key is set.",
        validation_alias=AliasChoices("QA_LLM_BASE_URL", "OPENAI_BASE_URL"),
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(400, ge=16, description="Most tokens in one LLM answer.")
    llm_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for the endpoint (each request and stream gap)."
    )
    llm_retries: int = Field(
        2, ge=0, le=10, description="Retries on connection errors, 429 and 5xx (Retry-After kept)."
    )
    llm_on_error: Literal["raise", "extractive"] = Field(
        "raise",
        description="When the endpoint fails: raise a BackendError, or answer extractively "
        "with a notice.",
    )
    llm_on_unverified: Literal["mark", "extractive"] = Field(
        "mark",
        description="When no citation of an LLM answer checks out: mark it with a notice, "
        "or replace it with the extractive answer.",
    )
    prompts_dir: Path | None = Field(
        None,
        description="Folder of your own prompt templates (answer.md, condense.md); unset = the "
        "ones shipped in the package (prompts/ of the repository).",
    )

    # Chat page
    uploads_dir: Path = Field(
        default_factory=_located("uploads"),
        description="Where articles uploaded in the chat page are kept; ingested with "
        "articles_dir (keep it outside articles_dir and index_dir).",
    )
    feedback_file: Path = Field(
        default_factory=_located("feedback"),
        description="Thumbs up/down from the chat page, one JSON line each (`qa eval --dataset`).",
    )
    max_upload_bytes: int = Field(
        2_000_000, gt=0, description="Largest file the chat page accepts for upload."
    )
    chat_concurrency: int = Field(
        4, ge=1, description="Questions the chat page (and `qa serve`) answers at the same time."
    )
    chat_queue_size: int = Field(
        32, ge=1, description="Questions that may wait; past that users are told it is busy."
    )
    chat_patience: float = Field(
        60.0, gt=0, description="Seconds a waiting question waits before it is told it is busy."
    )

    # OpenAI-compatible API (`qa serve`)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Bearer keys `qa serve` accepts, comma-separated; unset = no key needed.",
    )
    max_request_bytes: int = Field(
        1_048_576,
        gt=0,
        description="Largest request body `qa serve` reads (1 MiB); a larger one gets a 413.",
    )

    @property
    def articles_in_home(self) -> bool:
        """Whether the articles folder lies in a data home (not a clone's seeds/): one Delta QA
        may make on first use, where a folder named elsewhere must already exist."""
        return self.home != Path() and self.articles_dir.parent == self.home

    def api_key(self) -> str:
        """The API key's value for a client (never logged); local servers need none."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else "not-needed"

    @property
    def use_llm(self) -> bool:
        """Whether questions go to the LLM answerer under the `backend` setting."""
        if self.backend == "auto":
            return bool(self.llm_base_url or self.openai_api_key)
        return self.backend == "llm"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """QA_API_KEYS="one,two" is two keys; spaces around them do not count."""
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


def offline_environment() -> None:
    """Switch off every phone-home before onnxruntime, chromadb or gradio is imported.

    Called by the factories that import those libraries, never at import time of `qa`;
    a value the user set explicitly is kept.
    """
    import os

    for name, value in (
        ("ORT_DISABLE_TELEMETRY", "1"),
        ("HF_HUB_OFFLINE", "1"),
        ("HF_HUB_DISABLE_TELEMETRY", "1"),
        ("ANONYMIZED_TELEMETRY", "False"),
        ("GRADIO_ANALYTICS_ENABLED", "False"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)
