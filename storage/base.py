"""The storage interface: everything the bot keeps, behind an abstract base class.

Nothing outside ``storage/`` knows which backend runs. The unit of work is one person: the engine opens
``store.person(person_id)``, which holds that person's lock (across threads and processes), reads and
changes the person's session, answers, assessments, accounts, call plans, onboarding progress and
processed message ids, and commits them all at once, durably, when the block ends without an error. An
error inside the block discards every change of that block.

Records are small frozen dataclasses of plain values so that any backend can store them as JSON.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Self

SCHEMA_VERSION = 1
"""The version of the stored data's layout this code reads and writes."""

#: How long processed message ids are remembered for de-duplication (platforms retry within minutes).
SEEN_RETENTION = timedelta(days=2)

JSON = dict[str, Any]

#: Platforms whose user ids are stored as ``PLATFORM:ID`` person ids; terminal users keep their name.
PLATFORMS = ("slack", "telegram")


class StorageError(Exception):
    """A storage problem a person can act on; the message says what and what to do."""


class CorruptDataError(StorageError):
    """A stored file or row could not be read; it is left untouched for inspection or restore."""


class SchemaVersionError(StorageError):
    """The data was written by a newer version of Account Coach."""


class Role(enum.StrEnum):
    """What a person may see: their own data (rep), their team's (manager), everyone's (admin)."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Record:
    """Base of stored records: converts to and from JSON-able dicts."""

    def to_json(self) -> JSON:
        """This record as a JSON-able dict."""
        return {f.name: _encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a record from ``to_json`` output; unknown keys (from newer writers) are ignored."""
        values: dict[str, Any] = {}
        times = cls._time_fields()
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in times and isinstance(value, str):
                value = datetime.fromisoformat(value)
            elif isinstance(value, list) and str(f.type).startswith("tuple"):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)

    @classmethod
    def _time_fields(cls) -> frozenset[str]:
        """Fields holding a datetime, stored as ISO 8601 text."""
        return frozenset(f.name for f in fields(cls) if "datetime" in str(f.type))


@dataclass(frozen=True, slots=True)
class Frame(Record):
    """One dialog in progress: which dialog, at which step, with which draft answers."""

    dialog: str
    step: str | None = None
    draft: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utcnow)
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session(Record):
    """A person's conversation state: the active dialog and a stack of paused ones."""

    person_id: str
    active: Frame | None = None
    paused: tuple[Frame, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    updated_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> JSON:
        """Nested frames are stored as dicts."""
        return {
            "person_id": self.person_id,
            "active": self.active.to_json() if self.active else None,
            "paused": [f.to_json() for f in self.paused],
            "data": _encode(self.data),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild the nested frames."""
        active = data.get("active")
        return cls(
            person_id=data["person_id"],
            active=Frame.from_json(active) if active else None,
            paused=tuple(Frame.from_json(f) for f in data.get("paused", ())),
            data=dict(data.get("data", {})),
            updated_at=datetime.fromisoformat(data["updated_at"]) if "updated_at" in data else utcnow(),
        )


@dataclass(frozen=True, slots=True)
class Answer(Record):
    """One answer given in a dialog; appended, never changed (a correction is a new answer)."""

    person_id: str
    dialog: str
    run_id: str
    question: str
    value: Any
    note: str = ""
    account: str | None = None
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Assessment(Record):
    """A completed dialog (qualification, stage assessment, call plan, quiz...) with its result."""

    id: str
    person_id: str
    kind: str
    account: str | None
    answers: Mapping[str, Any]
    result: Mapping[str, Any]
    started_at: datetime
    completed_at: datetime = field(default_factory=utcnow)
    practice: bool = False


@dataclass(frozen=True, slots=True)
class Account(Record):
    """An account a rep works on; ``key`` is the trimmed, case-folded name."""

    person_id: str
    key: str
    name: str
    created_at: datetime = field(default_factory=utcnow)
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallPlan(Record):
    """A plan for one customer call."""

    id: str
    person_id: str
    account: str
    call_at: datetime | None
    plan: Mapping[str, Any]
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ModuleProgress(Record):
    """A new hire's progress through one onboarding module."""

    module: str
    status: str
    quiz_correct: int = 0
    quiz_total: int = 0
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Person(Record):
    """Someone who talks to the coach, with their role, manager and preferences."""

    id: str
    name: str
    role: str = Role.REP.value
    manager_id: str | None = None
    new_hire: bool = False
    timezone: str = "UTC"
    digest_weekday: int = 0  # Monday
    digest_time: str = "08:00"
    nudge_lead_minutes: int = 60
    identities: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class PersonData:
    """Everything stored for one person, as read in one consistent snapshot."""

    person_id: str
    session: Session | None
    answers: tuple[Answer, ...]
    assessments: tuple[Assessment, ...]
    accounts: tuple[Account, ...]
    plans: tuple[CallPlan, ...]
    onboarding: tuple[ModuleProgress, ...]

    def to_json(self) -> JSON:
        """A JSON-able export of this person's data."""
        return {
            "person_id": self.person_id,
            "session": self.session.to_json() if self.session else None,
            "answers": [a.to_json() for a in self.answers],
            "assessments": [a.to_json() for a in self.assessments],
            "accounts": [a.to_json() for a in self.accounts],
            "plans": [p.to_json() for p in self.plans],
            "onboarding": [m.to_json() for m in self.onboarding],
        }


class PersonTransaction(abc.ABC):
    """One person's data, locked for the duration of a ``with store.person(...)`` block."""

    person_id: str

    # -- session
    @abc.abstractmethod
    def get_session(self) -> Session | None:
        """The person's session, or None if they never talked to the coach."""

    @abc.abstractmethod
    def put_session(self, session: Session) -> None:
        """Replace the person's session."""

    # -- append-only history
    @abc.abstractmethod
    def append_answer(self, answer: Answer) -> None:
        """Append one answer."""

    @abc.abstractmethod
    def answers(self, *, run_id: str | None = None) -> list[Answer]:
        """The person's answers in the order given, optionally of one dialog run only."""

    @abc.abstractmethod
    def append_assessment(self, assessment: Assessment) -> None:
        """Append one completed assessment; an id already stored is an error (history is append-only)."""

    @abc.abstractmethod
    def assessments(self, *, kind: str | None = None, account: str | None = None) -> list[Assessment]:
        """Completed assessments, oldest first, optionally of one kind and/or account."""

    # -- accounts and plans
    @abc.abstractmethod
    def accounts(self) -> list[Account]:
        """The person's accounts, in the order they were added."""

    @abc.abstractmethod
    def put_account(self, account: Account) -> None:
        """Add an account or replace the one with the same key."""

    @abc.abstractmethod
    def plans(self) -> list[CallPlan]:
        """The person's call plans, in the order they were made."""

    @abc.abstractmethod
    def put_plan(self, plan: CallPlan) -> None:
        """Add a call plan or replace the one with the same id."""

    # -- onboarding
    @abc.abstractmethod
    def onboarding(self) -> list[ModuleProgress]:
        """Progress per onboarding module."""

    @abc.abstractmethod
    def put_module_progress(self, progress: ModuleProgress) -> None:
        """Record progress for one module, replacing what was there."""

    # -- de-duplication
    @abc.abstractmethod
    def seen(self, key: str) -> bool:
        """True if a message with this key (channel and platform message id) was already processed."""

    @abc.abstractmethod
    def mark_seen(self, key: str, *, at: datetime | None = None) -> None:
        """Remember that this message was processed; ids older than ``SEEN_RETENTION`` are pruned."""

    def snapshot(self) -> PersonData:
        """Everything stored for this person."""
        return PersonData(
            person_id=self.person_id,
            session=self.get_session(),
            answers=tuple(self.answers()),
            assessments=tuple(self.assessments()),
            accounts=tuple(self.accounts()),
            plans=tuple(self.plans()),
            onboarding=tuple(self.onboarding()),
        )


class Store(abc.ABC):
    """Everything the bot keeps."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the data lives, for messages (a folder, or a database URL without its password)."""

    @abc.abstractmethod
    def person(self, person_id: str) -> AbstractContextManager[PersonTransaction]:
        """Lock one person's data and open a transaction on it, committed when the block ends cleanly."""

    @abc.abstractmethod
    def read_person(self, person_id: str) -> PersonData:
        """A consistent snapshot of one person's data, without holding the lock afterwards."""

    @abc.abstractmethod
    def person_ids(self) -> list[str]:
        """Everyone with stored conversation data."""

    @abc.abstractmethod
    def forget_person(self, person_id: str) -> bool:
        """Erase everything stored for a person; True if there was anything."""

    # -- people and teams
    @abc.abstractmethod
    def get_person(self, person_id: str) -> Person | None:
        """A person's directory entry."""

    @abc.abstractmethod
    def put_person(self, person: Person) -> None:
        """Add or replace a directory entry."""

    @abc.abstractmethod
    def remove_person(self, person_id: str) -> bool:
        """Remove a directory entry; True if it existed."""

    @abc.abstractmethod
    def people(self) -> list[Person]:
        """Everyone in the directory."""

    def canonical_id(self, person_id: str) -> str:
        """The person id whose data an identity uses: itself, or the person it was linked to."""
        for person in self.people():
            if person_id in person.identities:
                return person.id
        return person_id

    def team_of(self, manager_id: str) -> list[Person]:
        """The people who report to a manager."""
        return [p for p in self.people() if p.manager_id == manager_id]

    # -- scheduler bookkeeping
    @abc.abstractmethod
    def get_mark(self, key: str) -> datetime | None:
        """When the scheduled job with this key (e.g. ``digest:ana``) last ran."""

    @abc.abstractmethod
    def set_mark(self, key: str, at: datetime, *, person_id: str | None = None) -> None:
        """Record when a scheduled job ran; ``person_id`` says whom it was about (for export and forget)."""

    @abc.abstractmethod
    def claim_mark(self, key: str, *, due: datetime, at: datetime, person_id: str | None = None) -> bool:
        """Atomically record a run at ``at`` if the last run is before ``due``; True if this caller won."""

    @abc.abstractmethod
    def marks(self, prefix: str = "", *, person_id: str | None = None) -> dict[str, datetime]:
        """Every mark whose key starts with ``prefix``, optionally only those about one person."""

    @abc.abstractmethod
    def delete_mark(self, key: str) -> bool:
        """Delete exactly the mark with this key; True if it existed."""

    @abc.abstractmethod
    def delete_marks(self, prefix: str) -> int:
        """Delete the marks whose key starts with ``prefix``; returns how many."""

    # -- housekeeping
    @abc.abstractmethod
    def schema_version(self) -> int:
        """The layout version of the stored data."""

    @abc.abstractmethod
    def backup(self, target: str) -> dict[str, int]:
        """Write a consistent copy of everything to ``target``; returns counts of what was copied."""

    def find_person_ids(self, user: str) -> list[str]:
        """The stored person ids ``user`` refers to: a terminal name, a person id, or a platform user id
        (``U123`` finds ``slack:U123``), with the identities linked to it."""
        people = {p.id: p for p in self.people()}
        known = set(self.person_ids()) | set(people)
        found = [c for c in (user, *(f"{platform}:{user}" for platform in PLATFORMS)) if c in known]
        for person in people.values():
            if person.id in found or any(i in found or i == user for i in person.identities):
                found += [i for i in (person.id, *person.identities) if i in known]
        return list(dict.fromkeys(found))

    def export_person(self, person_id: str) -> JSON:
        """Everything stored about one person, as JSON-able data (for ``coach export``)."""
        return {
            "person": (p.to_json() if (p := self.get_person(person_id)) else None),
            "data": self.read_person(person_id).to_json(),
            "marks": {k: v.isoformat() for k, v in self.marks(person_id=person_id).items()},
        }

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release resources (connections, pools); the default has none."""
