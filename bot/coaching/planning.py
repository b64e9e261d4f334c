"""Pre-call planning: build a call plan from the answers, the account's latest qualification and stage.

Pure functions. The checklist comes from ``call_planning.yaml`` (seed 003); questions to ask come from the
qualification's questions marked ``not asked`` or scored low (seed 001, verbatim), and Step 3's rapport
questions for people met for the first time (seed 001: "you are specifically addressing the individual").
The readiness score and its weights are ours.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.coaching.scoring import LOW_SCORE, NOT_ASKED
from bot.knowledge import KnowledgeBase
from storage.base import Assessment

#: Readiness weights (ours): how much each part of preparation counts, out of 100.
READINESS_WEIGHTS = {"checklist": 50, "objectives": 20, "decision_maker": 15, "qualification": 15}


@dataclass(frozen=True, slots=True)
class Stakeholder:
    """Someone on the call, with their role in the customer's decision."""

    name: str
    role: str | None
    role_label: str
    first_meeting: bool


@dataclass(frozen=True, slots=True)
class Question:
    """A question to ask in the call, and why."""

    text: str
    why: str
    source: str


@dataclass(frozen=True, slots=True)
class CallPlanResult:
    """Everything a call plan shows."""

    account: str
    call_at: str | None
    our_objective: str
    their_objective: str
    stakeholders: tuple[Stakeholder, ...]
    known: tuple[tuple[str, str, str], ...]  # (section, label, note)
    unknown: tuple[tuple[str, str, str], ...]  # (section, label, prompt)
    questions: tuple[Question, ...]
    risks: str
    competitor_unknown: bool
    decision_maker_present: bool
    stage_moved_down: bool
    next_steps: tuple[str, ...]
    specialists: str
    stage: str | None
    qualification: str | None
    readiness: int
    readiness_parts: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        """As stored in the call plan."""
        return asdict(self)


_SPLIT = re.compile(r"\s*[;\n]\s*")
# "Name, role", "Name (role)", "Name: role", "Name - role" (a dash with spaces: "Anne-Marie" is one name).
_NAME_ROLE = re.compile(r"^(?P<name>.+?)(?:\s*[,(:]\s*|\s+[-–—]\s+|\s+as\s+)(?P<role>[^,()]+?)\)?$")


def parse_stakeholders(text: str, roles: Mapping[str, str], first: str) -> tuple[Stakeholder, ...]:
    """``Dana Lee, decision maker; Sam Roy (champion)`` -> stakeholders, roles matched to the known ones."""
    by_label = {label.lower(): role_id for role_id, label in roles.items()}
    by_label.update({role_id.replace("_", " "): role_id for role_id in roles})
    newcomers = {n.strip().lower() for n in re.split(r"[;,\n]|\band\b", first) if n.strip()}
    people = []
    for part in _SPLIT.split(text.strip()):
        if not part:
            continue
        match = _NAME_ROLE.match(part)
        name, role_text = (match["name"], match["role"]) if match else (part, "")
        role_id = None
        if role_text:
            close = difflib.get_close_matches(role_text.lower().strip(), list(by_label), n=1, cutoff=0.6)
            role_id = by_label[close[0]] if close else None
        if role_text and role_id is None:  # an unknown role is kept as written
            label = role_text.strip()
        else:
            label = roles.get(role_id or "", "role not given")
        people.append(Stakeholder(name.strip(), role_id, label, name.strip().lower() in newcomers))
    return tuple(people)


def build_plan(
    kb: KnowledgeBase,
    *,
    account: str,
    answers: Mapping[str, Mapping[str, Any]],
    qualification: Assessment | None,
    stage: Assessment | None,
) -> CallPlanResult:
    """The call plan for the answers of a ``/plan`` run."""
    cp = kb.call_planning
    roles = {r.id: r.label for r in cp.stakeholder_roles}

    def text(step: str) -> str:
        value = answers.get(step, {}).get("value")
        return value if isinstance(value, str) else ""

    stakeholders = parse_stakeholders(text("attendees"), roles, text("first_meeting"))
    known, unknown = [], []
    for section in cp.sections:
        for item in section.items:
            answer = answers.get(item.id, {})
            if answer.get("value") == "known":
                known.append((section.title, item.label, str(answer.get("note", ""))))
            else:
                unknown.append((section.title, item.label, item.prompt))

    questions: list[Question] = []
    q_by_id = {q.id: q for q in kb.qualification.questions}
    if qualification is not None:
        for qid, question in q_by_id.items():  # in the questionnaire's order
            given = qualification.answers.get(qid)
            if not isinstance(given, Mapping):
                continue
            answer, value = given, given.get("value")
            if answer.get("special") == NOT_ASKED:
                questions.append(
                    Question(question.text, "marked not asked in the last qualification", question.source)
                )
            elif isinstance(value, int) and not isinstance(value, bool) and value <= LOW_SCORE:
                questions.append(
                    Question(question.text, f"scored {value} in the last qualification", question.source)
                )
    newcomers = [s.name for s in stakeholders if s.first_meeting]
    if newcomers:
        step3 = next(s for s in kb.qualification.steps if s.number == 3)
        for question in step3.questions:
            why = f"rapport with {', '.join(newcomers)}, met for the first time"
            questions.append(Question(question.text, why, question.source))
    for _, label, prompt in unknown[:5]:
        questions.append(Question(prompt, f"not known yet: {label.lower()}", "ours"))

    has_decision_maker = any(s.role == "decision_maker" for s in stakeholders)
    objectives = (10 if text("our_objective") else 0) + (10 if text("their_objective") else 0)
    total_items = len(known) + len(unknown)
    parts = {
        "checklist": round(READINESS_WEIGHTS["checklist"] * len(known) / total_items) if total_items else 0,
        "objectives": objectives * READINESS_WEIGHTS["objectives"] // 20,
        "decision_maker": READINESS_WEIGHTS["decision_maker"] if has_decision_maker else 0,
        "qualification": READINESS_WEIGHTS["qualification"] if qualification is not None else 0,
    }
    competition = {i.id for s in cp.sections if s.id == "competition" for i in s.items}
    competitor_unknown = any(answers.get(i, {}).get("value") != "known" for i in competition)
    actions = qualification.result.get("actions", []) if qualification else []
    next_steps = tuple(str(a["text"]) for a in actions[:3])
    qual_summary = None
    if qualification is not None:
        result = qualification.result
        qual_summary = (
            f"{result.get('total')}/{result.get('maximum')} ({result.get('percent')}%), "
            f"{result.get('band_label')}, {qualification.completed_at:%Y-%m-%d}"
        )
    return CallPlanResult(
        account=account,
        call_at=text("call_at") or None,
        our_objective=text("our_objective"),
        their_objective=text("their_objective"),
        stakeholders=stakeholders,
        known=tuple(known),
        unknown=tuple(unknown),
        questions=tuple(questions),
        risks=text("risks"),
        competitor_unknown=competitor_unknown,
        decision_maker_present=has_decision_maker,
        stage_moved_down=stage is not None and stage.result.get("movement") == "down",
        next_steps=next_steps,
        specialists=text("specialists"),
        stage=str(stage.result.get("stage_name")) if stage is not None else None,
        qualification=qual_summary,
        readiness=sum(parts.values()),
        readiness_parts=parts,
    )
