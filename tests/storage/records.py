"""Sample records for the storage tests: what a rep's conversation with the coach leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from storage.base import (
    Account,
    Answer,
    Assessment,
    CallPlan,
    Frame,
    ModuleProgress,
    Person,
    Session,
    Store,
)
from storage.tinydb_store import TinyDBStore

T0 = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
#: A non-UTC offset, to show that timezone-aware times come back with their offset.
BERLIN_SUMMER = timezone(timedelta(hours=2))


def an_answer(
    person_id: str, question: str, value: object = "yes", *, run_id: str = "run-1", minute: int = 0
) -> Answer:
    """One answer in a qualification run."""
    return Answer(
        person_id=person_id,
        dialog="qualification",
        run_id=run_id,
        question=question,
        value=value,
        note=f"note on {question}",
        account="acme",
        at=T0 + timedelta(minutes=minute),
    )


def an_assessment(
    person_id: str, assessment_id: str, *, kind: str = "qualification", account: str | None = "acme"
) -> Assessment:
    """A completed dialog with its result."""
    return Assessment(
        id=assessment_id,
        person_id=person_id,
        kind=kind,
        account=account,
        answers={"budget": "yes", "timeline": "Q3"},
        result={"fit": "good", "score": 11},
        started_at=T0,
        completed_at=T0 + timedelta(minutes=12),
    )


def a_session(person_id: str, *, step: str = "budget") -> Session:
    """A session with an active dialog, two paused ones, drafts and deadlines."""
    return Session(
        person_id=person_id,
        active=Frame(
            dialog="qualification",
            step=step,
            draft={"account": "Acme", "answers": {"need": "yes"}, "contacts": ["Ann", "Bo"]},
            started_at=T0,
            deadline=datetime(2025, 3, 3, 18, 0, tzinfo=BERLIN_SUMMER),
        ),
        paused=(
            Frame(
                dialog="call_plan", step="goal", draft={"call": "Globex"}, started_at=T0 - timedelta(hours=1)
            ),
            Frame(dialog="onboarding", step=None, started_at=T0 - timedelta(days=1)),
        ),
        data={"locale": "en", "turns": 7},
        updated_at=T0 + timedelta(minutes=5),
    )


def fill_person(store: Store, person_id: str, *, answers: int = 3) -> None:
    """Give a person one of everything, as a few turns of conversation would."""
    with store.person(person_id) as tx:
        tx.put_session(a_session(person_id))
        for n in range(answers):
            tx.append_answer(an_answer(person_id, f"q{n}", n, minute=n))
    with store.person(person_id) as tx:
        tx.append_assessment(an_assessment(person_id, f"{person_id}-a1"))
        tx.put_account(Account(person_id, "acme", "Acme", created_at=T0, info={"industry": "retail"}))
        tx.put_plan(CallPlan("plan-1", person_id, "acme", T0 + timedelta(days=1), {"goal": "demo"}, T0))
        tx.put_module_progress(ModuleProgress("basics", "done", 4, 5, T0))
        tx.mark_seen(f"terminal:{person_id}:1", at=T0)


def a_person(person_id: str, name: str, **changes: object) -> Person:
    """A directory entry with a fixed creation time."""
    return Person(id=person_id, name=name, created_at=T0, **changes)  # type: ignore[arg-type]


def reopen(store: TinyDBStore) -> TinyDBStore:
    """A new instance on the same data directory, as after a restart of the bot."""
    return TinyDBStore(store.root)
