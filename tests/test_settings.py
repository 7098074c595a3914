"""Where Delta QA keeps articles, index, uploads and feedback when nothing is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answer.prompts import load_prompt
from qa.config import Settings


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, and a user data folder under tmp_path."""
    for name in ("QA_HOME", "QA_ARTICLES_DIR", "QA_INDEX_DIR", "QA_UPLOADS_DIR", "QA_WEB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("QA_FEEDBACK_FILE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def test_a_checkout_keeps_everything_in_the_working_folder(elsewhere: Path) -> None:
    Path("seeds").mkdir()
    s = Settings()
    assert (s.articles_dir, s.index_dir) == (Path("seeds"), Path(".qa-index"))
    assert (s.uploads_dir, s.feedback_file) == (Path(".qa-uploads"), Path(".qa-feedback.jsonl"))


def test_without_seeds_everything_goes_to_the_user_data_folder(elsewhere: Path) -> None:
    s = Settings()
    home = elsewhere / "data" / "delta-qa"
    assert s.home == home
    assert (s.articles_dir, s.index_dir) == (home / "articles", home / "index")
    assert (s.uploads_dir, s.feedback_file) == (home / "uploads", home / "feedback.jsonl")


def test_qa_home_and_each_location_can_be_set(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_HOME", str(elsewhere / "mine"))
    monkeypatch.setenv("QA_INDEX_DIR", str(elsewhere / "fast-disk"))
    s = Settings()
    assert s.articles_dir == elsewhere / "mine" / "articles"
    assert s.index_dir == elsewhere / "fast-disk"


def test_prompts_are_read_from_the_package_unless_a_folder_is_given(tmp_path: Path) -> None:
    assert Settings().prompts_dir is None
    assert load_prompt(None, "answer").variables
    (tmp_path / "answer.md").write_text(
        '+++\nversion = "mine"\nvariables = ["question"]\n+++\n# system\nBe brief.\n'
        "# user\n{question}\n",
        encoding="utf-8",
    )
    assert load_prompt(tmp_path, "answer").version == "mine"
