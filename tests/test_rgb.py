"""The RGB benchmark in `qa eval`: answer shapes, scoring, the split and reject rules, corpora.

The unit tests run on tiny inline files; the end-to-end ones read the first questions of the
real en_fact file from `../shared/benchmarks/` and skip when it is absent (a fresh clone).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.errors import ConfigError
from qa.eval.rgb import (
    RGBItem,
    build_corpus,
    contains_answer,
    is_rejected,
    load_items,
    normalise_answers,
    split_of,
)
from qa.eval.rgb_eval import RGBRow, RGBRun, hit_rank, rgb_metrics, run_rgb
from qa.eval.rgb_scale import RGBScale, distractors_from, kept_copy, leaking_articles, scale_lines
from qa.eval.run import check_gate, load_thresholds
from qa.index.embeddings import Embedder
from qa.models import Answer, Passage

from .conftest import SEEDS, make_pipeline

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks"
needs_rgb = pytest.mark.skipif(
    not (BENCH / "rgb" / "en_fact.dev.jsonl").is_file(),
    reason="no RGB data at ../shared/benchmarks/rgb (it is never committed; see README)",
)
needs_crud_news = pytest.mark.skipif(
    not (BENCH / "crud-news").is_dir(),
    reason="no crud-news slice at ../shared/benchmarks/crud-news (it is never committed)",
)


def write_bench(root: Path, records: list[dict[str, object]], stem: str = "en_fact") -> Path:
    (root / "rgb").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (root / "rgb" / f"{stem}.dev.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def answer(text: str, refused: bool = False, passages: tuple[str, ...] = ()) -> Answer:
    return Answer(
        question="q",
        text=text,
        refused=refused,
        citations=[],
        backend="extractive",
        timings={"total": 10.0},
        passages=[
            Passage(rank=i, source="s", chunk_id=str(i), text=t, score=1.0)
            for i, t in enumerate(passages, start=1)
        ],
    )


def item(item_id: int, answers: list[list[str]], rejected: bool = False) -> RGBItem:
    return RGBItem("en", item_id, "q", answers, split_of(item_id), rejected, "en")


def test_the_three_answer_shapes_become_parts_of_alternatives() -> None:
    assert normalise_answers("Facebook", "en") == [["Facebook"]]
    assert normalise_answers(["12人", "十二人"], "zh") == [["12人", "十二人"]]
    assert normalise_answers([["Dec 1, 2017", "1 Dec 2017"]], "en") == [
        ["Dec 1, 2017", "1 Dec 2017"]
    ]
    # zh_int: one entry per part, a string or a list of alternatives
    assert normalise_answers(["12月11日", ["骁龙8 Gen2", "骁龙8Gen2"]], "zh_int") == [
        ["12月11日"],
        ["骁龙8 Gen2", "骁龙8Gen2"],
    ]
    with pytest.raises(ConfigError, match="neither text nor a list"):
        normalise_answers(None, "en")


def test_contains_answer_needs_every_part_after_nfkc_and_casefold() -> None:
    assert contains_answer("It was played in TAMPA, FLORIDA.", [["Tampa, Florida"]])
    assert contains_answer("死亡人数为１２人", [["12人"]])  # full-width digits
    assert contains_answer("1月3日宣誓，1月12日开会", [["1月3日"], ["1月12日", "12日"]])
    assert not contains_answer("1月3日宣誓", [["1月3日"], ["1月12日"]])
    assert not contains_answer("anything", [])


def test_the_split_and_the_reject_third_are_fixed_by_id_and_independent() -> None:
    ids = range(0, 100, 2)
    tune = [i for i in ids if split_of(i) == "tune"]
    assert tune[:4] == [0, 4, 8, 12] and len(tune) == 25
    rejected = [i for i in ids if is_rejected(i)]
    assert rejected[:4] == [0, 6, 12, 18]
    assert {split_of(i) for i in rejected} == {"tune", "check"}


def test_hit_rank_is_where_the_top_passages_jointly_hold_the_answer() -> None:
    parts = [["Halep"], ["2019"]]
    assert hit_rank(["Halep won.", "nothing", "in 2019"], parts) == 3
    assert hit_rank(["Halep won in 2019"], parts) == 1
    assert hit_rank(["nothing"], parts) is None


def test_metrics_on_known_rows() -> None:
    kept, gone = item(4, [["Halep"]]), item(0, [["Tampa"]], rejected=True)
    rows = [
        RGBRow(kept, "full", answer("Simona Halep won [1]", passages=("x", "Halep"))),
        RGBRow(gone, "full", answer("Tampa [1]", refused=True, passages=("Tampa",))),
        RGBRow(kept, "reject", answer("Halep [1]", passages=("Halep",))),
        RGBRow(gone, "reject", answer("The articles do not say.", refused=True)),
    ]
    m = rgb_metrics(rows)
    assert m["items"] == 2 and m["rejected_items"] == 1
    assert m["accuracy"] == 0.5  # the refusal holding "Tampa" still counts as wrong
    assert m["rejection"] == 1.0 and m["false_refusals"] == 0.5
    assert m["false_refusals_reject"] == 0.0
    assert (m["hit@1"], m["hit@3"]) == (0.5, 1.0)
    assert m["latency_p50_ms"] == 10.0


RECORDS: list[dict[str, object]] = [
    {
        "id": 0,
        "query": "Super Bowl 2021 location",
        "answer": "Tampa, Florida",
        "positive": ["It was held in Tampa, Florida.", "Shared passage about football."],
        "negative": ["The 2022 game was in Los Angeles."],
    },
    {
        "id": 2,
        "query": "Who acquired Instagram?",
        "answer": ["Facebook", "Meta"],
        "positive": ["Facebook bought Instagram in 2012."],
        "negative": ["Shared passage about football.", "Tampa, Florida hosts many games."],
    },
]


def test_corpus_files_are_deduplicated_kept_when_unchanged_and_pruned(tmp_path: Path) -> None:
    bench = write_bench(tmp_path / "bench", RECORDS)
    folder = build_corpus(bench, "en", "full", tmp_path / "cache")
    assert folder == tmp_path / "cache" / "rgb" / "en-full" / "articles"
    files = sorted(folder.iterdir())
    assert len(files) == 5  # the shared passage is written once
    assert all(f.name.startswith("rgb-en-") and len(f.stem) == len("rgb-en-") + 12 for f in files)
    first = files[0].read_text(encoding="utf-8")
    assert first.startswith("RGB en passage\n\n")
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    (folder / "rgb-en-000000000000.txt").write_text("stale", encoding="utf-8")
    build_corpus(bench, "en", "full", tmp_path / "cache")
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == stamps


def test_the_reject_corpus_loses_every_passage_with_a_rejected_answer(tmp_path: Path) -> None:
    bench = write_bench(tmp_path / "bench", RECORDS)
    items = load_items(bench, "en")
    assert [(i.id, i.split, i.rejected) for i in items] == [(0, "tune", True), (2, "check", False)]
    folder = build_corpus(bench, "en", "reject", tmp_path / "cache")
    texts = [f.read_text(encoding="utf-8") for f in folder.iterdir()]
    assert len(texts) == 3 and not any("Tampa" in t for t in texts)  # both Tampa passages go
    assert any("Facebook" in t for t in texts)


def test_a_rejected_answer_left_in_an_article_is_an_error(tmp_path: Path) -> None:
    # the neutral title "RGB en passage" holds this (contrived) gold answer: nothing may leak
    records = [{**RECORDS[0], "answer": "passage", "positive": ["no gold here"]}]
    bench = write_bench(tmp_path / "bench", records)
    with pytest.raises(ConfigError, match=r"reject corpus although it holds the answer of .*\[0\]"):
        build_corpus(bench, "en", "reject", tmp_path / "cache")


def test_missing_data_says_which_option_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no RGB data at .*: pass --benchmarks with the folder"):
        load_items(tmp_path, "en")
    with pytest.raises(ConfigError, match="unknown RGB set 'fr'"):
        load_items(tmp_path, "fr")


def test_the_gate_reads_rgb_floors_when_present(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        '[min]\nmrr = 0.5\n[rgb.min]\n"en.accuracy" = 0.6\nzh.rejection = 0.5\n'
        '[rgb.max]\n"en.false_refusals" = 0.2\n',
        encoding="utf-8",
    )
    thresholds = load_thresholds(path)
    assert thresholds["rgb.min"] == {"en.accuracy": 0.6, "zh.rejection": 0.5}
    rgb = {"en": {"accuracy": 0.5, "false_refusals": 0.1}, "zh": {"rejection": 0.7}}
    assert check_gate(None, thresholds, rgb) == ["en.accuracy = 0.500 is under the floor 0.6"]


@pytest.mark.slow
@needs_rgb
def test_run_rgb_end_to_end_on_the_first_english_questions(
    tmp_path: Path, embedder: Embedder
) -> None:
    base = make_pipeline(tmp_path, SEEDS, embedder)
    lines: list[str] = []
    runs = run_rgb(base, BENCH, ["en"], "tune", tmp_path / "cache", lines.append, limit=4)
    (run,) = runs
    assert run.metrics["items"] == 2 and run.metrics["rejected_items"] == 1  # ids 0, 4
    assert len(run.rows) == 4 and {r.corpus for r in run.rows} == {"full", "reject"}
    assert 0 < run.passages["reject"] < run.passages["full"]
    assert all(0.0 <= (run.metrics[k] or 0.0) <= 1.0 for k in ("accuracy", "rejection", "hit@5"))
    gold = next(r.item for r in run.rows if r.item.rejected)
    reject_rows = [r for r in run.rows if r.corpus == "reject" and r.item.rejected]
    assert all(r.hit_rank is None for r in reject_rows)  # its answer is nowhere to be found
    assert not any(
        contains_answer(f.read_text(encoding="utf-8"), gold.answers)
        for f in (tmp_path / "cache" / "rgb" / "en-reject-first4" / "articles").iterdir()
    )
    assert any("chunks embedded" in line for line in lines)
    lines.clear()
    run_rgb(base, BENCH, ["en"], "tune", tmp_path / "cache", lines.append, limit=4)
    assert sum("(0 chunks embedded" in line for line in lines) == 2  # both indexes reused


@pytest.mark.slow
@needs_rgb
def test_qa_eval_rgb_writes_the_rgb_table_into_the_same_reports(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.eval import lab

    monkeypatch.setattr(lab, "pipeline", lambda: make_pipeline(tmp_path, SEEDS, embedder))
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", "--rgb", "tune", "--rgb-set", "en", "--rgb-limit", "4", "--no-seeds"]
    args += ["--no-gate", "--out", str(out), "--cache", str(cache), "--benchmarks", str(BENCH)]
    result = CliRunner().invoke(lab.lab, args)
    assert result.exit_code == 0, result.output
    assert "false refusals" in result.output and "reports:" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["runs"] == [] and report["rgb"]["en"]["metrics"]["items"] == 2
    assert len(report["rgb"]["en"]["items"]) == 4
    assert "## RGB benchmark" in (out / "report.md").read_text(encoding="utf-8")
    assert "<h2>RGB benchmark</h2>" in (out / "report.html").read_text(encoding="utf-8")

    missing = CliRunner().invoke(lab.lab, [*args[:-2], "--benchmarks", str(tmp_path / "no")])
    assert missing.exit_code == 2
    assert "no RGB data at" in missing.output and "pass --benchmarks" in missing.output


def test_distractors_that_mention_a_rejected_answer_leave_the_reject_corpus(
    tmp_path: Path,
) -> None:
    bench = write_bench(tmp_path / "bench", RECORDS)
    pile = tmp_path / "pile"
    pile.mkdir()
    (pile / "a.txt").write_text(
        "The final was played in Tampa, Florida last year.\n", encoding="utf-8"
    )
    (pile / "b.txt").write_text("Facebook shares rose.\n", encoding="utf-8")  # not rejected
    (pile / "c.txt").write_text("Nothing about either.\n", encoding="utf-8")
    distractors = distractors_from(str(pile), bench, tmp_path / "cache")
    files = distractors.files()
    # item 0 is rejected: its answer "Tampa, Florida" in a distractor is a leak
    assert leaking_articles(files, load_items(bench, "en")) == {"a.txt": [0]}
    kept = kept_copy(files, ["a.txt"], tmp_path / "kept")
    assert sorted(p.name for p in kept.iterdir()) == ["b.txt", "c.txt"]
    (pile / "c.txt").unlink()
    kept_copy(distractors.files(), ["a.txt"], kept)  # a file gone from the pile goes here too
    assert [p.name for p in kept.iterdir()] == ["b.txt"]
    with pytest.raises(ConfigError, match="only cuts crud-news"):
        distractors_from(str(pile), bench, tmp_path / "cache", limit=5)
    with pytest.raises(ConfigError, match="neither crud-news nor a folder"):
        distractors_from(str(tmp_path / "none"), bench, tmp_path / "cache")


def test_the_verdict_says_within_or_not_within_005() -> None:
    kept, gone = item(4, [["Halep"]]), item(0, [["Tampa"]], rejected=True)
    declined = answer("The articles do not say.", refused=True)
    plain = RGBRun(
        "en",
        "all",
        [
            RGBRow(kept, "full", answer("Halep [1]")),
            RGBRow(kept, "reject", answer("Halep [1]")),
            RGBRow(gone, "reject", declined),
        ],
        {"full": 2, "reject": 1},
    )
    mixed = RGBRun(
        "en",
        "all",
        [
            RGBRow(kept, "full", answer("Halep [1]")),
            RGBRow(kept, "reject", answer("Halep [1]")),
            RGBRow(gone, "reject", answer("Tampa Bay, says a distractor [1]")),
        ],
        {"full": 3, "reject": 2},
    )
    scale = RGBScale("en", plain, mixed, "pile", 1, {"x.txt": [0]}, 1.0)
    assert scale.differences["accuracy"] == 0.0 and scale.differences["rejection"] == -1.0
    assert (scale.verdict("accuracy"), scale.verdict("rejection")) == (
        "within 0.05",
        "not within 0.05",
    )
    (line,) = scale_lines([scale])
    assert "accuracy 1.000 → 1.000 (+0.000): within 0.05" in line
    assert "rejection 1.000 → 0.000 (-1.000): not within 0.05" in line
    assert "1 of them mention the gold answer of a rejected item asked (1 of the 1)" in line


@pytest.mark.slow
@needs_rgb
@needs_crud_news
def test_qa_eval_rgb_with_crud_news_distractors_reports_both_side_by_side(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.eval import lab

    monkeypatch.setattr(lab, "pipeline", lambda: make_pipeline(tmp_path, SEEDS, embedder))
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", "--rgb", "tune", "--rgb-set", "en", "--rgb-limit", "4", "--no-seeds"]
    args += ["--distractors", "crud-news", "--distractor-limit", "20", "--no-gate"]
    args += ["--out", str(out), "--cache", str(cache), "--benchmarks", str(BENCH)]
    result = CliRunner().invoke(lab.lab, args)
    assert result.exit_code == 0, result.output
    assert (cache / "crud-news-20").is_dir()
    assert (cache / "rgb" / "en-full-first4+crud-news-20" / "index").is_dir()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    scaled = report["rgb_distractors"]["en"]
    assert scaled["articles"] == 20 and scaled["distractors"] == "crud-news-20"
    plain = report["rgb"]["en"]
    assert scaled["passages"]["full"] == plain["passages"]["full"] + 20
    assert scaled["without"] == plain["metrics"]  # the same run's plain figures, side by side
    assert len(scaled["items"]) == len(plain["items"]) == 4
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## RGB with distractors" in markdown
    assert "| set | metric | without | with distractors | difference | verdict |" in markdown
    verdicts = [
        line for line in markdown.splitlines() if line.startswith("- en with the 20 articles")
    ]
    assert len(verdicts) == 1
    assert re.search(
        r"accuracy .*: (not )?within 0\.05; rejection .*: (not )?within 0\.05", verdicts[0]
    )
    assert "<h2>RGB with distractors</h2>" in (out / "report.html").read_text(encoding="utf-8")
    assert "within 0.05" in result.output

    no_rgb = CliRunner().invoke(lab.lab, ["run", "--distractors", "crud-news", "--no-seeds"])
    assert no_rgb.exit_code == 2 and "add --rgb" in no_rgb.output
