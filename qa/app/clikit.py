"""The pieces every command line of Delta QA shares: errors as one line, path options, tables,
and the pipeline the settings describe (`qa` in `qa.app.cli`, the lab in `qa.eval.lab`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from qa.errors import QAError

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline

F = TypeVar("F", bound=Callable[..., Any])


def friendly(command: F) -> F:
    """Turn a QAError into one line on stderr and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except QAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def path_option(name: str, default: str, help_text: str) -> Callable[[F], F]:
    """A --option taking a path, with its default shown in --help."""
    return click.option(
        name,
        type=click.Path(path_type=Path),
        default=Path(default),
        show_default=True,
        help=help_text,
    )


def print_table(table: list[list[str]]) -> None:
    """Rows of cells in left-aligned columns."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def pipeline() -> QAPipeline:
    """The pipeline of the settings (QA_* variables, .env), built once per process."""
    from qa import default_pipeline

    return default_pipeline()
