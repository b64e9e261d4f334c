"""A store in memory: for benchmarks of the engine without I/O, and for quick experiments.

It keeps the interface's guarantees within one process (per-person locks, all-or-nothing blocks) but
nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.base import (
    Account,
    Answer,
    Assessment,
    CallPlan,
    ModuleProgress,
    Person,
    PersonData,
    PersonTransaction,
    Session,
    StorageError,
    Store,
    utcnow,
)

#: Processed message ids remembered per person.
MAX_SEEN = 1000

_UNSET: Any = object()


@dataclass
class _Tables:
    session: Session | None = None
    answers: list[Answer] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    plans: dict[str, CallPlan] = field(default_factory=dict)
    onboarding: dict[str, ModuleProgress] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)


class _MemoryTransaction(PersonTransaction):
    """Reads the committed tables; keeps its own changes aside until the block ends cleanly."""

    def __init__(self, person_id: str, tables: _Tables) -> None:
        self.person_id = person_id
        self.base = tables
        self.session: Any = _UNSET
        self.new_answers: list[Answer] = []
        self.new_assessments: list[Assessment] = []
        self.new_accounts: dict[str, Account] = {}
        self.new_plans: dict[str, CallPlan] = {}
        self.new_progress: dict[str, ModuleProgress] = {}
        self.new_seen: dict[str, datetime] = {}

    def commit(self) -> None:
        base = self.base
        if self.session is not _UNSET:
            base.session = self.session
        base.answers.extend(self.new_answers)
        base.assessments.extend(self.new_assessments)
        base.accounts.update(self.new_accounts)
        base.plans.update(self.new_plans)
        base.onboarding.update(self.new_progress)
        base.seen.update(self.new_seen)
        while len(base.seen) > MAX_SEEN:  # keep the most recent ids (dicts keep insertion order)
            del base.seen[next(iter(base.seen))]

    def get_session(self) -> Session | None:
        return self.base.session if self.session is _UNSET else self.session

    def put_session(self, session: Session) -> None:
        self.session = session

    def append_answer(self, answer: Answer) -> None:
        self.new_answers.append(answer)

    def answers(self, *, run_id: str | None = None) -> list[Answer]:
        return [a for a in (*self.base.answers, *self.new_answers) if run_id in (None, a.run_id)]

    def append_assessment(self, assessment: Assessment) -> None:
        if any(a.id == assessment.id for a in (*self.base.assessments, *self.new_assessments)):
            raise StorageError(f"assessment {assessment.id} is stored already; history is never rewritten")
        self.new_assessments.append(assessment)

    def assessments(self, *, kind: str | None = None, account: str | None = None) -> list[Assessment]:
        return [
            a
            for a in (*self.base.assessments, *self.new_assessments)
            if kind in (None, a.kind) and account in (None, a.account)
        ]

    def accounts(self) -> list[Account]:
        return list({**self.base.accounts, **self.new_accounts}.values())

    def put_account(self, account: Account) -> None:
        self.new_accounts[account.key] = account

    def plans(self) -> list[CallPlan]:
        return list({**self.base.plans, **self.new_plans}.values())

    def put_plan(self, plan: CallPlan) -> None:
        self.new_plans[plan.id] = plan

    def onboarding(self) -> list[ModuleProgress]:
        return list({**self.base.onboarding, **self.new_progress}.values())

    def put_module_progress(self, progress: ModuleProgress) -> None:
        self.new_progress[progress.module] = progress

    def seen(self, key: str) -> bool:
        return key in self.base.seen or key in self.new_seen

    def mark_seen(self, key: str, *, at: datetime | None = None) -> None:
        self.new_seen[key] = at or utcnow()


class MemoryStore(Store):
    """Everything in dictionaries; a block's changes replace the person's data only if it ends cleanly."""

    def __init__(self) -> None:
        self._people: dict[str, _Tables] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._directory: dict[str, Person] = {}
        self._marks: dict[str, tuple[datetime, str | None]] = {}

    @property
    def location(self) -> str:
        return "memory"

    @contextmanager
    def person(self, person_id: str) -> Iterator[PersonTransaction]:
        with self._guard:
            lock = self._locks.setdefault(person_id, threading.Lock())
        with lock:
            tables = self._people.get(person_id) or _Tables()
            tx = _MemoryTransaction(person_id, tables)
            yield tx
            tx.commit()
            self._people[person_id] = tables

    def read_person(self, person_id: str) -> PersonData:
        with self.person(person_id) as tx:
            return tx.snapshot()

    def person_ids(self) -> list[str]:
        return sorted(self._people)

    def forget_person(self, person_id: str) -> bool:
        existed = self._people.pop(person_id, None) is not None
        existed = self.remove_person(person_id) or existed
        for key in [k for k, (_, p) in self._marks.items() if p == person_id]:
            del self._marks[key]
        return existed

    def get_person(self, person_id: str) -> Person | None:
        return self._directory.get(person_id)

    def put_person(self, person: Person) -> None:
        self._directory[person.id] = person

    def remove_person(self, person_id: str) -> bool:
        return self._directory.pop(person_id, None) is not None

    def people(self) -> list[Person]:
        return list(self._directory.values())

    def get_mark(self, key: str) -> datetime | None:
        mark = self._marks.get(key)
        return mark[0] if mark else None

    def set_mark(self, key: str, at: datetime, *, person_id: str | None = None) -> None:
        self._marks[key] = (at, person_id)

    def claim_mark(self, key: str, *, due: datetime, at: datetime, person_id: str | None = None) -> bool:
        with self._guard:
            mark = self._marks.get(key)
            if mark is not None and mark[0] >= due:
                return False
            self._marks[key] = (at, person_id)
            return True

    def marks(self, prefix: str = "", *, person_id: str | None = None) -> dict[str, datetime]:
        return {
            k: at for k, (at, p) in self._marks.items() if k.startswith(prefix) and person_id in (None, p)
        }

    def delete_mark(self, key: str) -> bool:
        return self._marks.pop(key, None) is not None

    def delete_marks(self, prefix: str) -> int:
        keys = [k for k in self._marks if k.startswith(prefix)]
        for key in keys:
            del self._marks[key]
        return len(keys)

    def schema_version(self) -> int:
        from storage.base import SCHEMA_VERSION

        return SCHEMA_VERSION

    def backup(self, target: str) -> dict[str, int]:
        raise StorageError("the memory store keeps nothing to back up; use the TinyDB store (the default)")
