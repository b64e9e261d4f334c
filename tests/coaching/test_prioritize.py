"""Weighted account analysis: placement on both axes, the quadrant, the reasons, the portfolio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.coaching.prioritize import Point, place, portfolio_chart
from bot.dialogs.prioritize import portfolio_points
from bot.knowledge import KnowledgeError, load_knowledge, shipped_knowledge
from storage.base import Account, Assessment, PersonData

SEL = shipped_knowledge().account_selection
ATTRACTIVENESS = [c.id for c in SEL.axis("attractiveness").criteria]
STRENGTH = [c.id for c in SEL.axis("strength").criteria]


def scores(a: int, s: int) -> dict[str, int]:
    return {**dict.fromkeys(ATTRACTIVENESS, a), **dict.fromkeys(STRENGTH, s)}


@pytest.mark.parametrize(
    ("a", "s", "quadrant"),
    [
        (5, 5, "key_account"),
        (3, 3, "key_account"),  # high starts at high_from (3.0)
        (5, 2, "develop"),
        (2, 5, "maintain"),
        (1, 1, "reconsider"),
        (2, 3, "maintain"),
    ],
    ids=[
        "top-right",
        "on-the-lines",
        "attractive-weak",
        "strong-small",
        "bottom-left",
        "strong-not-attractive",
    ],
)
def test_uniform_scores_land_in_the_expected_quadrant(a: int, s: int, quadrant: str) -> None:
    placement = place(SEL, scores(a, s))
    assert (placement.attractiveness, placement.strength) == (a, s)
    assert placement.quadrant_id == quadrant


def test_weights_decide_the_axis_score() -> None:
    weights = {c.id: c.weight for c in SEL.axis("attractiveness").criteria}
    given = dict(zip(ATTRACTIVENESS, [5, 1, 5, 1], strict=True))
    expected = sum(weights[k] * v for k, v in given.items())
    assert place(SEL, {**given, **dict.fromkeys(STRENGTH, 3)}).attractiveness == pytest.approx(
        expected, abs=0.01
    )


def test_the_relationship_as_assessed_moves_strength() -> None:
    base = place(SEL, scores(4, 3)).strength
    strategic = place(SEL, scores(4, 3), stage_order=4, stages=4, qualification_percent=90)
    tactical = place(SEL, scores(4, 3), stage_order=1, stages=4, qualification_percent=20)
    assert strategic.strength > base > tactical.strength
    assert strategic.quadrant_id == "key_account"
    assert tactical.quadrant_id == "develop"
    assert any("relationship stage 4 of 4" in e for e in strategic.evidence)


def test_the_reasons_name_the_criteria_that_placed_it() -> None:
    given = {**scores(2, 2), ATTRACTIVENESS[0]: 1, STRENGTH[0]: 1}
    placement = place(SEL, given)
    assert placement.quadrant_id == "reconsider"
    labels = {c.id: c.label for a in SEL.axes for c in a.criteria}
    assert f"attractiveness low: {labels[ATTRACTIVENESS[0]]} scored 1" in placement.reasons
    assert f"strength low: {labels[STRENGTH[0]]} scored 1" in placement.reasons


def test_the_portfolio_has_one_point_per_prioritized_account() -> None:
    def assessed(key: str, a: float, s: float) -> Assessment:
        return Assessment(
            id=key,
            person_id="ana",
            kind="prioritization",
            account=key,
            answers={},
            result={"attractiveness": a, "strength": s, "quadrant_label": "Q"},
            started_at=_at(),
            completed_at=_at(),
        )

    data = PersonData(
        person_id="ana",
        session=None,
        answers=(),
        assessments=(assessed("acme", 4, 4), assessed("globex", 2, 1), assessed("acme", 4.5, 4.5)),
        accounts=(
            Account("ana", "acme", "Acme"),
            Account("ana", "globex", "Globex"),
            Account("ana", "init", "Initech"),
        ),
        plans=(),
        onboarding=(),
    )
    points = portfolio_points("ana", data)
    assert sorted((p.account, p.attractiveness, p.strength) for p in points) == [
        ("Acme", 4.5, 4.5),
        ("Globex", 2.0, 1.0),
    ]
    png = portfolio_chart([*points, Point("X", "ben", 3, 3, "Q")], SEL)
    assert png.startswith(b"\x89PNG")


def _at() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 1, tzinfo=UTC)


def test_weights_that_do_not_add_up_are_rejected_with_a_clear_message(knowledge_copy: Path) -> None:
    path = knowledge_copy / "account_selection.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["axes"][1]["criteria"][0]["weight"] = 0.7
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(knowledge_copy)
    message = str(caught.value)
    assert "account_selection.yaml" in message
    assert "axis strength: weights must add up to 1, got 1.3" in message
