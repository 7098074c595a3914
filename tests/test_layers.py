"""The package's imports run one way: read from the source with `ast`, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qa"
BASE = frozenset({"config", "errors", "models", "text"})  # the modules below everything
RUNTIME = ("answer", "corpus", "cross", "index", "lexicon", "pipeline", *BASE)


def imported(part: str, package: Path = PACKAGE) -> dict[str, set[str]]:
    """The parts of `qa` (a subpackage or top module: "index", "text") that each file of `part`
    imports, by file, lazy imports inside functions included."""
    folder = package / part
    files = sorted(folder.glob("*.py")) if folder.is_dir() else [package / f"{part}.py"]
    out: dict[str, set[str]] = {}
    for path in files:
        names: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from qa import corpus` imports the part it names
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        parts = {n.split(".")[1] for n in names if n.startswith("qa.")}
        out[path.relative_to(package).as_posix()] = parts - {part}
    return out


def breaches(part: str, allowed: frozenset[str]) -> dict[str, set[str]]:
    """The files of `part` that import a part of `qa` outside `allowed`, and which."""
    return {f: parts - allowed for f, parts in imported(part).items() if parts - allowed}


def test_the_index_imports_nothing_above_it() -> None:
    """index → (config, errors, text): never the corpus (which writes through the index), nor
    the answer, the pipeline or the edges."""
    assert imported("index")  # the walk found the files
    assert breaches("index", frozenset({"config", "errors", "text"})) == {}


def test_the_corpus_imports_only_the_index_and_the_base() -> None:
    assert breaches("corpus", BASE | {"index"}) == {}


@pytest.mark.parametrize("part", sorted(BASE))
def test_the_base_modules_import_only_each_other(part: str) -> None:
    assert breaches(part, BASE) == {}


@pytest.mark.parametrize("part", RUNTIME)
def test_the_runtime_never_imports_eval_or_train(part: str) -> None:
    assert {f: p for f, p in imported(part).items() if p & {"eval", "train"}} == {}


def test_nothing_imports_train() -> None:
    parts = [p.stem for p in PACKAGE.iterdir() if p.stem != "train" and p.suffix in ("", ".py")]
    assert [p for p in parts if any("train" in i for i in imported(p).values())] == []


def test_lazy_imports_and_imports_of_a_part_are_seen(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "a.py").write_text("def f():\n    from qa import corpus\n", "utf-8")
    (tmp_path / "index" / "b.py").write_text("def g():\n    import qa.corpus.chunking\n", "utf-8")
    found = imported("index", tmp_path)
    assert found == {"index/a.py": {"corpus"}, "index/b.py": {"corpus"}}
