"""Relationship stages: which stage the indicator answers support, what is missing, and the moves."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.coaching.stages import assess_stage, movement

from .helpers import RS, indicator_ids, moves, stage_answers, statements

TACTICAL = indicator_ids("tactical")
OPERATIONAL = indicator_ids("operational")
FUNCTIONAL = indicator_ids("functional")


@dataclass(frozen=True)
class Case:
    answers: dict[str, str]
    stage_id: str
    established: bool
    next_stage: str | None
    missing: tuple[str, ...]
    moves: tuple[str, ...]
    support: float


STAGE_CASES = [
    pytest.param(
        Case(
            stage_answers(tactical="agree", operational="agree", functional="agree", strategic="agree"),
            "strategic",
            True,
            None,
            (),
            (),
            1.0,
        ),
        id="all-agree-strategic",
    ),
    pytest.param(
        Case({}, "tactical", False, "Tactical", statements("tactical"), (), 0.0),
        id="nothing-answered-not-established",
    ),
    pytest.param(
        Case(
            stage_answers(
                tactical="disagree", operational="disagree", functional="disagree", strategic="disagree"
            ),
            "tactical",
            False,
            "Tactical",
            statements("tactical"),
            (),
            0.0,
        ),
        id="all-disagree-not-established",
    ),
    pytest.param(
        Case(
            stage_answers(tactical="agree", operational="agree", functional="disagree", strategic="disagree"),
            "operational",
            True,
            "Functional",
            statements("functional"),
            moves("operational"),
            1.0,
        ),
        id="tactical-operational-agreed-operational",
    ),
    pytest.param(
        Case(
            stage_answers(tactical="agree", operational="agree")
            | {
                FUNCTIONAL[0]: "agree",
                FUNCTIONAL[1]: "agree",
                FUNCTIONAL[2]: "partly",
                FUNCTIONAL[3]: "disagree",
            },
            "operational",
            True,
            "Functional",
            statements("functional", FUNCTIONAL[2:]),
            moves("operational"),
            1.0,
        ),
        id="missing-lists-only-statements-not-agreed",
    ),
    pytest.param(
        Case(
            stage_answers(tactical="disagree", operational="agree", functional="agree", strategic="agree"),
            "tactical",
            False,
            "Tactical",
            statements("tactical"),
            (),
            0.0,
        ),
        id="gap-tactical-not-reached-not-established",
    ),
    pytest.param(
        Case(
            stage_answers(tactical="agree", operational="disagree", functional="agree", strategic="agree"),
            "tactical",
            True,
            "Operational",
            statements("operational"),
            moves("tactical"),
            1.0,
        ),
        id="gap-operational-stops-at-tactical",
    ),
    pytest.param(
        Case(
            {
                TACTICAL[0]: "agree",
                TACTICAL[1]: "agree",
                TACTICAL[2]: "partly",
                TACTICAL[3]: "partly",
                TACTICAL[4]: "disagree",
            },
            "tactical",
            True,
            "Operational",
            statements("operational"),
            moves("tactical"),
            0.6,
        ),
        id="partly-exactly-at-threshold-2-agree-2-partly",
    ),
    pytest.param(
        Case(
            {TACTICAL[0]: "agree"} | {i: "partly" for i in TACTICAL[1:]},
            "tactical",
            True,
            "Operational",
            statements("operational"),
            moves("tactical"),
            0.6,
        ),
        id="partly-exactly-at-threshold-1-agree-4-partly",
    ),
    pytest.param(
        Case(
            {
                TACTICAL[0]: "agree",
                TACTICAL[1]: "agree",
                TACTICAL[2]: "partly",
                TACTICAL[3]: "disagree",
                TACTICAL[4]: "disagree",
            },
            "tactical",
            False,
            "Tactical",
            statements("tactical", TACTICAL[2:]),
            (),
            0.5,
        ),
        id="just-below-threshold-not-established",
    ),
    pytest.param(
        Case(
            stage_answers(tactical="agree", operational="partly"),
            "tactical",
            True,
            "Operational",
            statements("operational"),
            moves("tactical"),
            1.0,
        ),
        id="all-partly-is-half-support-not-reached",
    ),
    pytest.param(
        Case(
            {i: "maybe" for i in TACTICAL} | {OPERATIONAL[0]: "yes"},
            "tactical",
            False,
            "Tactical",
            statements("tactical"),
            (),
            0.0,
        ),
        id="unknown-options-give-no-support",
    ),
]


@pytest.mark.parametrize("case", STAGE_CASES)
def test_assess_stage(case: Case) -> None:
    result = assess_stage(RS, case.answers)
    stage = next(s for s in RS.stages if s.id == case.stage_id)
    assert (result.stage_id, result.stage_name, result.order) == (stage.id, stage.name, stage.order)
    assert result.established is case.established
    assert result.next_stage == case.next_stage
    assert result.missing == case.missing
    assert result.moves == case.moves
    assert result.support == pytest.approx(case.support)
    current = next(s for s in RS.stages if s.id == case.stage_id)
    expected_sources = (
        tuple(sorted({seed for m in current.moves_to_next for seed in m.based_on})) if case.moves else ()
    )
    assert result.move_sources == expected_sources


def test_operational_result_as_a_rep_reads_it() -> None:
    answers = stage_answers(
        tactical="agree", operational="agree", functional="disagree", strategic="disagree"
    )
    result = assess_stage(RS, answers)
    assert result.stage_name == "Operational"
    assert result.next_stage == "Functional"
    assert result.missing[0] == (
        "The customer and we have agreed, in a contract or written agreement, to take the business forward "
        "together."
    )
    assert result.moves[0].startswith("Propose a written agreement or joint plan")
    assert result.move_sources == (
        "000_c9d1a507c236c983.txt",
        "002_2cd482e615f65d1f.txt",
        "003_1f4d6687ce626e8c.txt",
    )
    assert [(s.id, s.support, s.answered, s.reached) for s in result.stages] == [
        ("tactical", 1.0, 5, True),
        ("operational", 1.0, 5, True),
        ("functional", 0.0, 5, False),
        ("strategic", 0.0, 5, False),
    ]


def test_reached_at_threshold_is_0_6() -> None:
    assert RS.answers.reached_at == 0.6
    assert {o.id: o.weight for o in RS.answers.options} == {"agree": 1, "partly": 0.5, "disagree": 0}


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        pytest.param(None, 1, "first", id="first-assessment"),
        pytest.param(None, 4, "first", id="first-assessment-strategic"),
        pytest.param(1, 2, "up", id="up"),
        pytest.param(1, 4, "up", id="up-several"),
        pytest.param(3, 2, "down", id="down"),
        pytest.param(2, 2, "same", id="same"),
    ],
)
def test_movement(previous: int | None, current: int, expected: str) -> None:
    assert movement(previous, current) == expected
