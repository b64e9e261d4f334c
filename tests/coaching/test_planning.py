"""Call planning: who is on the call, which questions to ask, how ready the rep is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.coaching.planning import READINESS_WEIGHTS, Question, Stakeholder, build_plan, parse_stakeholders
from bot.coaching.scoring import score_qualification
from storage.base import Assessment

from .helpers import CP, KB, QUESTIONS, S1, S2, S3, SEED_001, Answers, Q, fill, merge, not_asked, scored

ROLES = {r.id: r.label for r in CP.stakeholder_roles}
ITEM_IDS = tuple(i.id for s in CP.sections for i in s.items)
COMPETITION = tuple(i.id for s in CP.sections if s.id == "competition" for i in s.items)
WHEN = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def who(name: str, role: str | None, first: bool = False) -> Stakeholder:
    """A stakeholder as a rep expects to see them, the label taken from the knowledge for known roles."""
    return Stakeholder(name, role, ROLES[role] if role else "role not given", first)


def unknown_role(name: str, label: str, first: bool = False) -> Stakeholder:
    """Someone whose role matches none of ours: kept as the rep wrote it."""
    return Stakeholder(name, None, label, first)


# --------------------------------------------------------------------------- stakeholders

STAKEHOLDER_CASES = [
    pytest.param(
        "Dana Lee, decision maker; Sam Roy (champion)",
        "",
        (who("Dana Lee", "decision_maker"), who("Sam Roy", "champion")),
        id="comma-and-parentheses",
    ),
    pytest.param("Kim Park - influencer", "", (who("Kim Park", "influencer"),), id="dash"),
    pytest.param("Lee Wong: user", "", (who("Lee Wong", "user"),), id="colon"),
    pytest.param("Jo Bell as gatekeeper", "", (who("Jo Bell", "gatekeeper"),), id="as"),
    pytest.param(
        "Pat Kim, procurement lead; Bob Ray (CFO)",
        "",
        (unknown_role("Pat Kim", "procurement lead"), unknown_role("Bob Ray", "CFO")),
        id="unknown-roles-kept-as-written",
    ),
    pytest.param(
        "Dana Lee, decision-maker; Sam Roy (Champion); Al Bo - decison maker; Eve Ng (gate keeper)",
        "",
        (
            who("Dana Lee", "decision_maker"),
            who("Sam Roy", "champion"),
            who("Al Bo", "decision_maker"),
            who("Eve Ng", "gatekeeper"),
        ),
        id="fuzzy-roles-matched",
    ),
    pytest.param("Sam Roy", "", (who("Sam Roy", None),), id="no-role-given"),
    pytest.param(
        "Dana Lee, decision maker; Sam Roy (champion); Kim Park - user",
        "Sam Roy and dana lee",
        (who("Dana Lee", "decision_maker", True), who("Sam Roy", "champion", True), who("Kim Park", "user")),
        id="first-meeting-names-flagged-case-insensitively",
    ),
    pytest.param(
        "Dana Lee, decision maker\nSam Roy (champion);",
        "Sam Roy, Kim Park",
        (who("Dana Lee", "decision_maker"), who("Sam Roy", "champion", True)),
        id="newlines-and-trailing-separator",
    ),
    pytest.param("  ", "", (), id="nobody"),
    pytest.param(
        "Mary Smith-Jones, user", "", (who("Mary Smith-Jones", "user"),), id="hyphenated-name-with-comma-role"
    ),
    # Bug: a hyphen inside a name is taken for the "Name - role" separator.
    pytest.param(
        "Anne-Marie Dubois", "", (who("Anne-Marie Dubois", None),), id="hyphenated-name-without-role"
    ),
    pytest.param(
        "Jean-Luc Picard - decision maker",
        "Jean-Luc Picard",
        (who("Jean-Luc Picard", "decision_maker", True),),
        id="hyphenated-name-with-dash-role",
    ),
]


@pytest.mark.parametrize(("text", "first", "expected"), STAKEHOLDER_CASES)
def test_parse_stakeholders(text: str, first: str, expected: tuple[Stakeholder, ...]) -> None:
    assert parse_stakeholders(text, ROLES, first) == expected


# --------------------------------------------------------------------------- build_plan


def text(value: str) -> dict[str, Any]:
    return {"value": value, "note": "", "special": None}


def checklist(known: int, *, note: str = "") -> Answers:
    """The first ``known`` checklist items known (with a note), the rest unknown."""
    return {
        item: {
            "value": "known" if n < known else "unknown",
            "note": note if n < known else "",
            "special": None,
        }
        for n, item in enumerate(ITEM_IDS)
    }


def qualification(answers: Answers, *, fit: bool | None = True) -> Assessment:
    """A stored qualification of the account, with its result."""
    score = score_qualification(Q, answers, fit=fit)
    stored = {"account": text("Acme"), **answers, "fit": {"value": fit, "note": "", "special": None}}
    return Assessment(
        id="q1",
        person_id="telegram:1",
        kind="qualification",
        account="acme",
        answers=stored,
        result={**score.to_json(), "account_name": "Acme"},
        started_at=WHEN,
        completed_at=WHEN,
    )


def stage(movement: str) -> Assessment:
    return Assessment(
        id="s1",
        person_id="telegram:1",
        kind="stage",
        account="acme",
        answers={},
        result={"stage_name": "Operational", "movement": movement},
        started_at=WHEN,
        completed_at=WHEN,
    )


LAST_QUALIFICATION = qualification(
    merge(
        fill(S1, 4),
        fill(S2, 4),
        fill(S3, 4),
        {"s1_prompted": not_asked(), "s2_budget": not_asked(), "s2_concerns": scored(2)},
    )
)


def test_questions_from_last_qualification_verbatim() -> None:
    answers = {"attendees": text("Dana Lee, decision maker"), **checklist(len(ITEM_IDS))}
    plan = build_plan(KB, account="Acme", answers=answers, qualification=LAST_QUALIFICATION, stage=None)
    assert plan.questions == (
        Question(
            "What prompted you/ your company to look into this?",
            "marked not asked in the last qualification",
            SEED_001,
        ),
        Question(
            "What budget has been established for this?",
            "marked not asked in the last qualification",
            SEED_001,
        ),
        Question("What concerns do you have?", "scored 2 in the last qualification", SEED_001),
    )
    assert [q.text for q in plan.questions] == [
        QUESTIONS[i].text for i in ("s1_prompted", "s2_budget", "s2_concerns")
    ]


def test_first_time_contacts_add_step3_questions() -> None:
    answers = {
        "attendees": text("Dana Lee, decision maker; Sam Roy (champion)"),
        "first_meeting": text("Sam Roy"),
        **checklist(len(ITEM_IDS)),
    }
    plan = build_plan(KB, account="Acme", answers=answers, qualification=None, stage=None)
    assert plan.questions == tuple(
        Question(QUESTIONS[qid].text, "rapport with Sam Roy, met for the first time", SEED_001) for qid in S3
    )
    assert len(plan.questions) == 6


def test_questions_combine_qualification_rapport_and_unknown_checklist() -> None:
    answers = {
        "attendees": text("Dana Lee, decision maker; Sam Roy (champion)"),
        "first_meeting": text("Dana Lee and Sam Roy"),
        **checklist(len(ITEM_IDS) - 7),
    }
    plan = build_plan(KB, account="Acme", answers=answers, qualification=LAST_QUALIFICATION, stage=None)
    whys = [q.why for q in plan.questions]
    assert whys[:3] == [
        "marked not asked in the last qualification",
        "marked not asked in the last qualification",
        "scored 2 in the last qualification",
    ]
    assert whys[3:9] == ["rapport with Dana Lee, Sam Roy, met for the first time"] * 6
    # at most five unknown checklist items become questions, in our words
    unknown_items = [i for s in CP.sections for i in s.items][-7:]
    assert plan.questions[9:] == tuple(
        Question(i.prompt, f"not known yet: {i.label.lower()}", "ours") for i in unknown_items[:5]
    )


READINESS_CASES = [
    pytest.param(
        {
            "attendees": text("Dana Lee, decision maker"),
            "our_objective": text("agree a pilot"),
            "their_objective": text("cut costs"),
            **checklist(len(ITEM_IDS)),
        },
        LAST_QUALIFICATION,
        {"checklist": 50, "objectives": 20, "decision_maker": 15, "qualification": 15},
        id="fully-prepared-100",
    ),
    pytest.param(
        {"attendees": text("Sam Roy (champion)"), "our_objective": text("agree a pilot"), **checklist(12)},
        None,
        {"checklist": 25, "objectives": 10, "decision_maker": 0, "qualification": 0},
        id="half-known-one-objective-no-decision-maker",
    ),
    pytest.param(
        {
            "attendees": text("Dana Lee (decision maker)"),
            "their_objective": text("cut costs"),
            **checklist(3),
        },
        LAST_QUALIFICATION,
        {"checklist": 6, "objectives": 10, "decision_maker": 15, "qualification": 15},
        id="3-of-24-known-rounds-down",
    ),
    pytest.param(
        {"attendees": text("Dana Lee (decision maker)"), **checklist(18)},
        None,
        {"checklist": 38, "objectives": 0, "decision_maker": 15, "qualification": 0},
        id="18-of-24-known-rounds-up",
    ),
    pytest.param(
        {}, None, {"checklist": 0, "objectives": 0, "decision_maker": 0, "qualification": 0}, id="nothing"
    ),
]


@pytest.mark.parametrize(("answers", "last", "parts"), READINESS_CASES)
def test_readiness_parts(answers: Answers, last: Assessment | None, parts: dict[str, int]) -> None:
    plan = build_plan(KB, account="Acme", answers=answers, qualification=last, stage=None)
    assert dict(plan.readiness_parts) == parts
    assert plan.readiness == sum(parts.values())
    assert set(parts) == set(READINESS_WEIGHTS)


@pytest.mark.parametrize(
    ("attendees", "present"),
    [
        pytest.param("Dana Lee, decision maker", True, id="decision-maker"),
        pytest.param("Dana Lee (Decision-Maker); Sam Roy (user)", True, id="fuzzy-decision-maker"),
        pytest.param("Sam Roy (champion); Kim Park - influencer", False, id="no-decision-maker"),
        pytest.param("Sam Roy", False, id="no-roles"),
        pytest.param("Bob Ray (CEO)", False, id="unknown-role-is-not-a-decision-maker"),
    ],
)
def test_decision_maker_present(attendees: str, present: bool) -> None:
    plan = build_plan(
        KB, account="Acme", answers={"attendees": text(attendees)}, qualification=None, stage=None
    )
    assert plan.decision_maker_present is present


@pytest.mark.parametrize(
    ("known", "competitor_unknown"),
    [
        pytest.param((), True, id="all-competition-unknown"),
        pytest.param(COMPETITION[:-1], True, id="one-competition-item-unknown"),
        pytest.param(COMPETITION, False, id="all-competition-known"),
        pytest.param(
            tuple(i for i in ITEM_IDS if i not in COMPETITION), True, id="rest-known-competition-unknown"
        ),
    ],
)
def test_competitor_unknown(known: tuple[str, ...], competitor_unknown: bool) -> None:
    answers = {
        i: {"value": "known" if i in known else "unknown", "note": "", "special": None} for i in ITEM_IDS
    }
    plan = build_plan(KB, account="Acme", answers=answers, qualification=None, stage=None)
    assert plan.competitor_unknown is competitor_unknown


def test_plan_summary_as_the_rep_sees_it() -> None:
    answers = {
        "call_at": text("2025-03-10T14:00"),
        "attendees": text("Dana Lee, decision maker"),
        "our_objective": text("agree a pilot"),
        "their_objective": text("cut costs"),
        "risks": text("Globex is pitching too"),
        "specialists": text("our data engineer"),
        **checklist(2, note="see CRM"),
    }
    plan = build_plan(
        KB, account="Acme", answers=answers, qualification=LAST_QUALIFICATION, stage=stage("down")
    )
    assert plan.call_at == "2025-03-10T14:00"
    assert plan.known == (
        ("The customer's business", "Mission, vision and values", "see CRM"),
        ("The customer's business", "History", "see CRM"),
    )
    assert len(plan.unknown) == len(ITEM_IDS) - 2
    assert plan.qualification == "102/130 (78.5%), Strong fit, 2025-03-03"
    assert plan.next_steps == tuple(a["text"] for a in LAST_QUALIFICATION.result["actions"][:3])
    assert plan.next_steps[0] == QUESTIONS["s1_prompted"].advice.next_action
    assert plan.stage == "Operational"
    assert plan.stage_moved_down is True
    assert (plan.risks, plan.specialists) == ("Globex is pitching too", "our data engineer")


@pytest.mark.parametrize(
    ("movement", "moved_down"),
    [
        pytest.param("down", True, id="down"),
        pytest.param("up", False, id="up"),
        pytest.param("first", False, id="first"),
    ],
)
def test_stage_moved_down(movement: str, moved_down: bool) -> None:
    plan = build_plan(KB, account="Acme", answers={}, qualification=None, stage=stage(movement))
    assert plan.stage_moved_down is moved_down
