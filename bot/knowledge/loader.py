"""Load the knowledge files into typed objects, validating each against its schema.

A problem is reported with the file, the entry (by its id where it has one) and what is wrong, so a content
editor can fix it without reading code. All problems of all files are collected, not just the first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.knowledge.schema import (
    OURS,
    AccountSelection,
    CallPlanning,
    Onboarding,
    Ours,
    Qualification,
    RelationshipStages,
    Sourced,
    normalize_space,
)

#: libyaml's safe loader where the C extension is present (ten times faster), else the pure Python one.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SHIPPED_DIR = Path(__file__).resolve().parent
SOURCES_DIRNAME = "sources"

#: file stem -> the model its content must validate against, in the order they are shown.
FILES: dict[str, type[BaseModel]] = {
    "qualification": Qualification,
    "relationship_stages": RelationshipStages,
    "call_planning": CallPlanning,
    "onboarding": Onboarding,
    "account_selection": AccountSelection,
}

#: short names a person may type for a topic.
TOPIC_ALIASES: dict[str, str] = {
    "stages": "relationship_stages",
    "stage": "relationship_stages",
    "planning": "call_planning",
    "plan": "call_planning",
    "selection": "account_selection",
    "accounts": "account_selection",
    "qualify": "qualification",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in one knowledge file."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}" if self.where else f"{self.file}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge files could not be loaded; ``problems`` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """All the coaching content, validated."""

    directory: Path
    qualification: Qualification
    relationship_stages: RelationshipStages
    call_planning: CallPlanning
    onboarding: Onboarding
    account_selection: AccountSelection
    seeds: Mapping[str, str]

    def files(self) -> dict[str, BaseModel]:
        """File stem -> its validated content, in display order."""
        return {stem: getattr(self, stem) for stem in FILES}

    def entries(self) -> Iterator[Sourced | Ours]:
        """Every entry that names a source, in every file."""
        for model in self.files().values():
            yield from iter_entries(model)

    def topic(self, name: str) -> BaseModel:
        """The content of one file, by its stem or a short alias."""
        return getattr(self, resolve_topic(name))  # type: ignore[no-any-return]


def iter_entries(value: object) -> Iterator[Sourced | Ours]:
    """Walk a model and yield every entry that names a source (itself included)."""
    if isinstance(value, Sourced | Ours):
        yield value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from iter_entries(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from iter_entries(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_entries(item)


def count_sources(kb: KnowledgeBase) -> tuple[int, int]:
    """(entries quoting a seed, entries marked as ours)."""
    seeds = ours = 0
    for entry in kb.entries():
        if entry.source == OURS:
            ours += 1
        else:
            seeds += 1
    return seeds, ours


def resolve_topic(name: str) -> str:
    """Map a typed topic name to a file stem, or raise KeyError listing the known ones."""
    key = name.strip().lower().replace("-", "_")
    key = TOPIC_ALIASES.get(key, key)
    if key not in FILES:
        raise KeyError(name)
    return key


def topic_names() -> list[str]:
    """Every name ``topic`` accepts, for help texts."""
    return sorted({*FILES, *TOPIC_ALIASES})


def read_seeds(directory: Path) -> dict[str, str]:
    """Seed file name -> its text with white space folded, for verbatim-quote checks."""
    if not directory.is_dir():
        raise KnowledgeError([Problem(str(directory), "", "the seed documents folder is missing")])
    return {p.name: normalize_space(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.txt"))}


def _locate(data: Any, loc: Sequence[int | str]) -> str:
    """Describe a pydantic error location, naming each entry on the way by its id where it has one."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, Mapping) and "id" in node:
                label = f"[{key}] (id {node['id']})"
            parts.append(label)
        else:
            node = node.get(key) if isinstance(node, Mapping) else None
            parts.append(("." if parts else "") + str(key))
    return "".join(parts) or "(top level)"


def _validation_problems(file: str, data: Any, err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            message = "required field is missing"
        elif e["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
        problems.append(Problem(file, _locate(data, loc), message))
    return problems


def _load_file(path: Path, model: type[BaseModel], seeds: Mapping[str, str]) -> BaseModel | list[Problem]:
    name = path.name
    if not path.is_file():
        return [Problem(name, "", f"file not found in {path.parent}")]
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 (safe loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [Problem(name, "", f"not valid YAML: {exc}")]
    if not isinstance(data, dict):
        return [Problem(name, "", "must be a mapping of fields at the top level")]
    try:
        return model.model_validate(data, context={"seeds": seeds})
    except ValidationError as exc:
        return _validation_problems(name, data, exc)


def load_knowledge(directory: Path | None = None) -> KnowledgeBase:
    """Load and validate every knowledge file in ``directory`` (default: the shipped ones)."""
    directory = (directory or SHIPPED_DIR).resolve()
    sources = directory / SOURCES_DIRNAME
    seeds = read_seeds(sources if sources.is_dir() else SHIPPED_DIR / SOURCES_DIRNAME)
    loaded: dict[str, BaseModel] = {}
    problems: list[Problem] = []
    for stem, model in FILES.items():
        result = _load_file(directory / f"{stem}.yaml", model, seeds)
        if isinstance(result, list):
            problems.extend(result)
        else:
            loaded[stem] = result
    problems += _cross_file_problems(loaded)
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(directory=directory, seeds=seeds, **loaded)  # type: ignore[arg-type]


def _cross_file_problems(loaded: Mapping[str, BaseModel]) -> list[Problem]:
    """References from one file to another: the practice prospect answers qualification questions."""
    onboarding, qualification = loaded.get("onboarding"), loaded.get("qualification")
    if not isinstance(onboarding, Onboarding) or not isinstance(qualification, Qualification):
        return []
    if onboarding.practice is None:
        return []
    known = {q.id for q in qualification.questions}
    return [
        Problem(
            "onboarding.yaml",
            f"practice.answers[{n}]",
            f"{a.question!r} is no question of qualification.yaml",
        )
        for n, a in enumerate(onboarding.practice.answers)
        if a.question not in known
    ]


@cache
def shipped_knowledge() -> KnowledgeBase:
    """The shipped knowledge, loaded once per process."""
    return load_knowledge()
