"""Shared by the team tests: a chat with the engine at explicit times, the answers of whole dialogs as a
rep types them, and builders of stored records (assessments scored by the real scoring code) for the
digest's unit cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.coaching.scoring import score_qualification
from bot.coaching.stages import assess_stage, movement
from bot.engine import Engine
from bot.knowledge import shipped_knowledge
from bot.messages import Channel, Incoming, Reply
from storage.base import Account, Assessment, CallPlan, ModuleProgress, PersonData

KB = shipped_knowledge()
INTERNAL_ERROR = "Something went wrong on my side"

#: A whole qualification as typed: 4 to Step 1, 3 to Step 2, yes to the fit question, 5 to Step 3.
QUALIFY_ANSWERS = ("4",) * 14 + ("3",) * 8 + ("yes",) + ("5",) * 6
#: What its result shows.
QUALIFY_TOTAL = "110/140 (79%)"
STEP_TITLES = tuple(s.title for s in KB.qualification.steps)
STAGE_NAMES = tuple(s.name for s in KB.relationship_stages.stages)


def plain(replies: Sequence[Reply]) -> str:
    """Replies as a terminal shows them."""
    return "\n\n".join(r.text() for r in replies)


def channel_of(person_id: str) -> Channel:
    if person_id.startswith("slack:"):
        return Channel.SLACK
    if person_id.startswith("telegram:"):
        return Channel.TELEGRAM
    return Channel.TERMINAL


@dataclass
class Chat:
    """One person (a platform id or a terminal name) talking to an engine; each message is a minute after
    the last unless ``at`` says when."""

    engine: Engine
    person: str
    now: datetime
    count: int = 0
    last: list[Reply] = field(default_factory=list)

    def send(self, text: str, *, at: datetime | None = None) -> str:
        self.count += 1
        self.now = at or self.now + timedelta(minutes=1)
        incoming = Incoming(
            channel_of(self.person),
            self.person,
            text,
            message_id=f"{self.person}:{self.count}",
            at=self.now,
        )
        self.last = self.engine.handle(incoming)
        shown = plain(self.last)
        assert INTERNAL_ERROR not in shown, shown
        return shown

    @property
    def step(self) -> str | None:
        asked = [r.step for r in self.last if r.step is not None]
        return asked[-1] if asked else None

    def qualify(self, account: str, answers: Iterable[str] = QUALIFY_ANSWERS) -> str:
        """A whole ``/qualify ACCOUNT``; returns the result's text."""
        self.send(f"/qualify {account}")
        shown = ""
        for answer in answers:
            shown = self.send(answer)
        return shown

    def plan(
        self,
        account: str,
        when: str,
        *,
        attendees: str = "Dana Lee, decision maker; Sam Roy (champion)",
        first_meeting: str = "Sam Roy",
        ours: str = "agree a pilot with 20 users",
        theirs: str = "cut support costs by 20%",
    ) -> str:
        """A whole ``/plan ACCOUNT``: the checklist sections skipped; returns the result's text."""
        typed = {
            "call_at": when,
            "attendees": attendees,
            "first_meeting": first_meeting,
            "our_objective": ours,
            "their_objective": theirs,
            "specialists": "none",
            "risks": "none",
        }
        shown = self.send(f"/plan {account}")
        for _ in range(60):
            step = self.step
            if step is None:
                return shown
            shown = self.send(typed.get(step, "skip section"))
        raise AssertionError(f"/plan {account} did not end: {shown}")


# --- stored records, for build_digest -----------------------------------------------------------------------
def account(person_id: str, name: str, created_at: datetime) -> Account:
    return Account(person_id=person_id, key=name.casefold(), name=name, created_at=created_at)


def qualification(
    person_id: str,
    account_name: str,
    at: datetime,
    *,
    scores: tuple[int, int, int] = (4, 3, 5),
    fit: bool = True,
    practice: bool = False,
) -> Assessment:
    """A completed qualification scored by the real scoring: ``scores`` is the answer to every question of
    Steps 1, 2 and 3."""
    answers: dict[str, dict[str, Any]] = {}
    for step, value in zip(KB.qualification.steps, scores, strict=True):
        for question in step.questions:
            answers[question.id] = {"value": value, "note": "", "special": None}
    result = score_qualification(KB.qualification, answers, fit=fit).to_json()
    return Assessment(
        id=uuid.uuid4().hex,
        person_id=person_id,
        kind="qualification",
        account=account_name.casefold(),
        answers=answers,
        result=result,
        started_at=at - timedelta(minutes=20),
        completed_at=at,
        practice=practice,
    )


def stage(
    person_id: str, account_name: str, at: datetime, order: int, *, previous: int | None = None
) -> Assessment:
    """A completed stage assessment that reaches stage ``order`` (1 Tactical .. 4 Strategic): every
    indicator of the stages up to it agreed, the others not."""
    rs = KB.relationship_stages
    answers = {i.id: ("agree" if s.order <= order else "disagree") for s in rs.stages for i in s.indicators}
    result = assess_stage(rs, answers)
    assert result.order == order
    before = rs.stages[previous - 1].name if previous else None
    stored = {
        **result.to_json(),
        "account_name": account_name,
        "movement": movement(previous, result.order),
        "previous_stage": before,
    }
    return Assessment(
        id=uuid.uuid4().hex,
        person_id=person_id,
        kind="stage",
        account=account_name.casefold(),
        answers={k: {"value": v} for k, v in answers.items()},
        result=stored,
        started_at=at - timedelta(minutes=10),
        completed_at=at,
    )


def call(
    person_id: str,
    account_name: str,
    *,
    created_at: datetime,
    call_at: datetime | None,
    planned: bool = True,
    readiness: int = 70,
) -> CallPlan:
    """A call plan (``planned``) or a call only noted with ``/call`` (an empty plan)."""
    plan: dict[str, Any] = (
        {"account": account_name, "readiness": readiness, "our_objective": "agree a pilot"} if planned else {}
    )
    return CallPlan(
        id=uuid.uuid4().hex,
        person_id=person_id,
        account=account_name.casefold(),
        call_at=call_at,
        plan=plan,
        created_at=created_at,
    )


def person_data(
    person_id: str,
    *,
    accounts: Sequence[Account] = (),
    assessments: Sequence[Assessment] = (),
    plans: Sequence[CallPlan] = (),
    onboarding: Sequence[ModuleProgress] = (),
) -> PersonData:
    """A person's data as ``Store.read_person`` returns it (assessments oldest first)."""
    return PersonData(
        person_id=person_id,
        session=None,
        answers=(),
        assessments=tuple(sorted(assessments, key=lambda a: a.completed_at)),
        accounts=tuple(accounts),
        plans=tuple(plans),
        onboarding=tuple(onboarding),
    )
