"""Prompt templates kept as files in prompts/: TOML front matter, then `# system` and `# user`.

The templates ship inside the package (`qa/prompts`, the repository's prompts/) and are read
with importlib.resources; QA_PROMPTS_DIR points at a folder of one's own instead.

The front matter declares `version` and `variables`; a template whose placeholders differ from
its declared variables, or a call that passes other values, fails loudly with a ConfigError.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ConfigError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from langchain_core.messages import BaseMessage
    from langchain_core.prompts import ChatPromptTemplate

_FILE = re.compile(r"\A\+\+\+\n(.*?)\n\+\+\+\n(.*)\Z", re.DOTALL)
_ROLE = re.compile(r"^# (system|user)\n", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    """One loaded template: its messages, version, declared variables and leak canary."""

    name: str
    version: str
    variables: frozenset[str]
    canary: str | None
    template: ChatPromptTemplate

    def messages(self, **values: str) -> list[BaseMessage]:
        """The chat messages with `values` filled in; every declared variable, nothing else."""
        given = set(values)
        if given != self.variables:
            raise ConfigError(
                f"prompt {self.name!r} takes {sorted(self.variables)}, was given {sorted(given)}: "
                "the code and prompts/ disagree; update the prompt file's `variables`"
            )
        return self.template.format_messages(**values)

    @property
    def system_text(self) -> str:
        """The system message as written, to recognise it if an answer repeats it."""
        return str(self.template.messages[0].prompt.template)  # type: ignore[union-attr]


def load_prompt(folder: Path | None, name: str) -> Prompt:
    """Read `folder/name.md` (None: the shipped template) and check its placeholders against
    its declared variables."""
    from langchain_core.prompts import ChatPromptTemplate

    base: Traversable = resources.files("qa") / "prompts" if folder is None else folder
    path = base / f"{name}.md"
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(
            f"no prompt file {path}: set QA_PROMPTS_DIR to the folder holding {name}.md"
        ) from None
    match = _FILE.match(raw)
    if not match:
        raise ConfigError(f"{path} must start with +++ TOML front matter +++")
    try:
        meta = tomllib.loads(match.group(1))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: bad front matter ({exc})") from None
    pieces = _ROLE.split(match.group(2))
    roles = pieces[1::2]
    if roles != ["system", "user"]:
        raise ConfigError(f"{path} needs a '# system' section and then a '# user' section")
    template = ChatPromptTemplate.from_messages(
        [
            (role.replace("user", "human"), body.strip())
            for role, body in zip(roles, pieces[2::2], strict=True)
        ]
    )
    declared = frozenset(meta.get("variables", []))
    used = frozenset(template.input_variables)
    if declared != used or "version" not in meta:
        raise ConfigError(
            f"{path}: declared variables {sorted(declared)} but the text uses {sorted(used)}"
            + ("" if "version" in meta else "; and `version` is missing")
            + ": make the front matter and the placeholders agree"
        )
    canary = meta.get("canary")
    if canary is not None and canary not in raw[match.start(2) :]:
        raise ConfigError(f"{path}: the canary {canary!r} must appear in the prompt text")
    return Prompt(name, str(meta["version"]), declared, canary, template)
