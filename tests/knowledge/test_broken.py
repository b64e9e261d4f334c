"""Broken knowledge files are rejected with a message naming the file, the entry and what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.knowledge import KnowledgeError, load_knowledge
from tests.auxil.cli import run_coach


def edit(directory: Path, stem: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / f"{stem}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def question(data: dict[str, Any], qid: str) -> dict[str, Any]:
    return next(q for s in data["steps"] for q in s["questions"] if q["id"] == qid)


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(directory)
    return [str(p) for p in caught.value.problems]


CASES: list[tuple[str, str, Callable[[dict[str, Any]], None], list[str]]] = [
    (
        "missing field",
        "qualification",
        lambda d: question(d, "s1_prompted").pop("label"),
        ["qualification.yaml", "(id s1_prompted)", "label", "required field is missing"],
    ),
    (
        "question without source",
        "qualification",
        lambda d: question(d, "s2_budget").pop("source"),
        ["qualification.yaml", "(id s2_budget)", "source", "required field is missing"],
    ),
    (
        "duplicate id",
        "qualification",
        lambda d: question(d, "s1_expectations").update(id="s1_prompted"),
        ["qualification.yaml", "duplicate question id(s): s1_prompted"],
    ),
    (
        "wrong type",
        "relationship_stages",
        lambda d: d["stages"][1].update(order="second"),
        ["relationship_stages.yaml", "(id operational)", "order", "integer"],
    ),
    (
        "broken scale",
        "qualification",
        lambda d: d["scale"].update(min=5, max=1),
        ["qualification.yaml", "scale", "min (5) must be below max (1)"],
    ),
    (
        "scale label outside the scale",
        "qualification",
        lambda d: d["scale"]["labels"].update({7: "off the chart"}),
        ["qualification.yaml", "scale", "outside 1-5"],
    ),
    (
        "misquoted seed",
        "qualification",
        lambda d: question(d, "s2_budget").update(text="How much money do you have?"),
        ["qualification.yaml", "(id s2_budget)", "not found word for word in 001_b7b84066c4b68497.txt"],
    ),
    (
        "unknown seed",
        "call_planning",
        lambda d: d["nested_plans"][0].update(source="009_nope.txt"),
        ["call_planning.yaml", "nested_plans[0]", "unknown source '009_nope.txt'"],
    ),
    (
        "our text passed off with a quote",
        "qualification",
        lambda d: d["verdict_bands"][0].update(quote="Strong fit"),
        ["qualification.yaml", "verdict_bands[0] (id strong)", "quote"],
    ),
    (
        "unknown theme",
        "qualification",
        lambda d: question(d, "s3_measure").update(theme="astrology"),
        ["qualification.yaml", "question s3_measure: unknown theme 'astrology'"],
    ),
    (
        "weights that do not add up",
        "account_selection",
        lambda d: d["axes"][0]["criteria"][0].update(weight=0.9),
        ["account_selection.yaml", "weights must add up to 1"],
    ),
    (
        "quiz answer out of range",
        "onboarding",
        lambda d: d["modules"][0]["quiz"][0].update(answer=9),
        ["onboarding.yaml", "answer 9 is no choice"],
    ),
    (
        "misspelt field",
        "onboarding",
        lambda d: d["modules"][0].update(titel="typo"),
        ["onboarding.yaml", "titel", "unknown field"],
    ),
]


@pytest.mark.parametrize(("case", "stem", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_rejected_naming_file_and_entry(
    knowledge_copy: Path, case: str, stem: str, change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    edit(knowledge_copy, stem, change)
    problems = problems_of(knowledge_copy)
    assert any(all(part in p for part in expected) for p in problems), problems


def test_every_problem_of_every_file_is_reported_at_once(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "qualification", lambda d: question(d, "s1_prompted").pop("label"))
    edit(knowledge_copy, "relationship_stages", lambda d: d["stages"][0].pop("name"))
    (knowledge_copy / "onboarding.yaml").unlink()
    problems = problems_of(knowledge_copy)
    assert len(problems) == 3
    assert [p.split(":")[0] for p in problems] == [
        "qualification.yaml",
        "relationship_stages.yaml",
        "onboarding.yaml",
    ]


def test_invalid_yaml_is_reported_with_its_file(knowledge_copy: Path) -> None:
    (knowledge_copy / "call_planning.yaml").write_text("sections: [unclosed\n", encoding="utf-8")
    problems = problems_of(knowledge_copy)
    assert problems[0].startswith("call_planning.yaml: not valid YAML")


def test_cli_check_exits_nonzero_naming_file_and_entry(knowledge_copy: Path) -> None:
    edit(knowledge_copy, "qualification", lambda d: question(d, "s1_prompted").pop("label"))
    result = run_coach("knowledge", "check", str(knowledge_copy))
    assert result.returncode == 1
    assert "qualification.yaml: steps[0] (id step1).questions[0] (id s1_prompted).label" in result.stderr
    assert "required field is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_new_content_in_a_copied_folder_is_picked_up(knowledge_copy: Path) -> None:
    def add_band(d: dict[str, Any]) -> None:
        d["verdict_bands"].insert(
            0,
            {
                "id": "excellent",
                "source": "ours",
                "min_percent": 90,
                "label": "Excellent fit",
                "meaning": "Everything matches.",
            },
        )

    edit(knowledge_copy, "qualification", add_band)
    kb = load_knowledge(knowledge_copy)
    assert kb.qualification.band_for(95).label == "Excellent fit"
    result = run_coach("knowledge", "check", str(knowledge_copy))
    assert result.returncode == 0, result.stderr
    assert "4 verdict bands" in result.stdout
