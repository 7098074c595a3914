"""The one exception tree of Delta QA; every message says what to do next.

QAError
├── QuestionError        the question cannot be asked (empty, too long, no words)
├── ArticleError         one article file cannot be ingested (it is skipped)
│   └── PageError           a web page is refused or cannot be fetched (it is skipped)
├── ConfigError          a setting is wrong or an optional extra is missing
├── IndexStateError         the index cannot be used as it is
│   ├── IndexMismatchError   built with another model or chunker: rebuild it
│   ├── IndexDamagedError    half written or damaged: `qa ingest` repairs it
│   ├── IndexLockedError     another process is writing it
│   └── IndexEmptyError      no article has been ingested yet
├── BackendError         an outside service (Chroma server, LLM endpoint) failed
└── RequestError         a request to `qa serve` cannot be served as sent
    ├── AuthError            no API key, or not one of QA_API_KEYS
    ├── ModelNotFoundError   names no answerer the server has
    ├── BodyTooLargeError    a body larger than QA_MAX_REQUEST_BYTES
    └── BusyError            more questions at once than it answers and lets wait
"""

from __future__ import annotations


class QAError(Exception):
    """Base class: the CLI prints the message on one line and exits with code 2."""


class QuestionError(QAError):
    """The question is empty, too long or has no words in it."""


class ArticleError(QAError):
    """One article file cannot be read; ingest skips it and names it."""


class PageError(ArticleError):
    """A web address is refused (not http(s), a private address) or its page cannot be
    fetched (time-out, too large, an HTTP error); that page is skipped."""


class ConfigError(QAError):
    """A setting is invalid, or an optional dependency for it is not installed."""


class IndexStateError(QAError):
    """The index exists but cannot be used as it is."""


class IndexMismatchError(IndexStateError):
    """The index was built with another embedding model or chunker configuration."""


class IndexDamagedError(IndexStateError):
    """A part of the index is unreadable, or an ingest died inside its write phase."""


class IndexLockedError(IndexStateError):
    """Another process holds the single-writer lock of the embedded index."""


class IndexEmptyError(IndexStateError):
    """A question was asked of an index that holds no article yet."""


class BackendError(QAError):
    """An outside service (a Chroma server, an LLM endpoint) failed or cannot be reached."""


class RequestError(QAError):
    """A request to the API (`qa serve`) is malformed: not JSON, or a field missing or wrong."""


class AuthError(RequestError):
    """The request carries no API key, or one that is not in QA_API_KEYS."""


class ModelNotFoundError(RequestError):
    """The request names a model (an answerer) that the server does not have."""


class BodyTooLargeError(RequestError):
    """The request's body is larger than the server reads (QA_MAX_REQUEST_BYTES)."""


class BusyError(RequestError):
    """More questions came at once than the server answers and lets wait; ask again later."""
