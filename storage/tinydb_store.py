"""The default backend: TinyDB databases in a data directory, one per person plus small shared files.

Layout of a data directory::

    schema.json            {"version": N}: the layout version, migrated forward on open
    directory.json         TinyDB: people, roles, teams, linked identities
    scheduler.json         TinyDB: when each scheduled job last ran
    people/p_<id>.json     TinyDB: one person's session, answers, assessments, accounts, plans, onboarding,
                           processed message ids (the snapshot)
    people/p_<id>.log      the journal of that person's transactions since the snapshot
    locks/*.lock           flock files (one per person, one per shared file)

A turn touches only its person's files, so its cost follows that person's data, not everyone's. It is
made durable by one journal append with fdatasync; every ``COMPACT_EVERY`` transactions the journal is
folded into the snapshot, which is replaced atomically (``AtomicJSONStorage``). Loading a person reads the
snapshot and replays the journal entries newer than it, so a crash at any point loses nothing that was
acknowledged. The parsed data of recently used people is cached in memory and revalidated with ``stat``.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage

from storage.base import (
    JSON,
    SCHEMA_VERSION,
    SEEN_RETENTION,
    Account,
    Answer,
    Assessment,
    CallPlan,
    CorruptDataError,
    ModuleProgress,
    Person,
    PersonData,
    PersonTransaction,
    SchemaVersionError,
    Session,
    StorageError,
    Store,
    utcnow,
)
from storage.files import AtomicJSONStorage, Journal, LockTable, atomic_write_bytes, dumps, read_json_file

#: Fold a person's journal into their snapshot once it is this large and larger than the snapshot, so the
#: rewrite of the snapshot stays a small share of the turns (amortized cost, low p99).
COMPACT_MIN_BYTES = 128 * 1024
#: People whose parsed data stays in memory between turns.
CACHE_PEOPLE = 512

#: shared file -> the field its rows are keyed by; each keeps its rows in one TinyDB table.
SHARED_FILES = {"directory": "id", "scheduler": "key"}
SHARED_TABLE = "rows"

PERSON_TABLES = ("session", "answers", "assessments", "accounts", "plans", "onboarding", "seen")
META = "_meta"

Migration = Callable[[Path], None]


def _migrate_0_to_1(root: Path) -> None:
    """Version 0 is a data directory from before versioning: same layout, no schema.json."""


#: MIGRATIONS[n] turns a version-n data directory into version n+1. Each must be safe to run twice.
MIGRATIONS: dict[int, Migration] = {0: _migrate_0_to_1}

_Q = Query()


def person_file_stem(person_id: str) -> str:
    """A reversible, file-system safe name for a person id such as ``slack:T1:U2``."""
    if not person_id or len(person_id) > 200:
        raise StorageError(f"a person id must have 1 to 200 characters, got {len(person_id)}")
    return "p_" + quote(person_id, safe="")


def person_id_of(stem: str) -> str:
    """The inverse of ``person_file_stem``."""
    return unquote(stem.removeprefix("p_"))


@dataclass
class _Loaded:
    """One person's parsed tables (TinyDB's layout: table -> doc id -> document) and their bookkeeping."""

    tables: dict[str, dict[str, Any]]
    seq: int
    journal_bytes: int
    snapshot_bytes: int
    key: tuple[Any, ...]
    next_ids: dict[str, int]
    seen: dict[str, str]

    @classmethod
    def build(cls, tables: dict[str, dict[str, Any]], seq: int, snapshot: Path, journal: Path) -> _Loaded:
        next_ids = {name: max(map(int, rows), default=0) + 1 for name, rows in tables.items()}
        seen = {doc["key"]: doc_id for doc_id, doc in tables["seen"].items()}
        key = _stat_key(snapshot, journal)
        sizes = [k[1] if k else 0 for k in key]
        return cls(tables, seq, sizes[1], sizes[0], key, next_ids, seen)

    def prune_seen(self, before: datetime) -> None:
        """Forget processed message ids older than ``before``."""
        cutoff = before.isoformat()
        rows = self.tables["seen"]
        for doc_id in [i for i, doc in rows.items() if doc["at"] < cutoff]:
            del self.seen[rows.pop(doc_id)["key"]]


def _stat_key(*paths: Path) -> tuple[Any, ...]:
    key: list[Any] = []
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            key.append(None)
        else:
            key.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(key)


class _TinyPersonTransaction(PersonTransaction):
    """One person's TinyDB tables in memory; every change is also recorded for the journal.

    Works on TinyDB's raw layout directly: TinyDB's Table API converts a whole table on every insert,
    which would make a turn cost grow with the person's history.
    """

    def __init__(self, person_id: str, state: _Loaded) -> None:
        self.person_id = person_id
        self._state = state
        self._tables = state.tables
        self.ops: list[list[Any]] = []

    def _put(self, table: str, doc_id: str, doc: JSON) -> None:
        self._tables[table][doc_id] = doc
        self.ops.append([table, doc_id, doc])

    def _insert(self, table: str, doc: JSON) -> str:
        doc_id = str(self._state.next_ids[table])
        self._state.next_ids[table] += 1
        self._put(table, doc_id, doc)
        return doc_id

    def _upsert(self, table: str, field: str, doc: JSON) -> None:
        for doc_id, row in self._tables[table].items():
            if row.get(field) == doc[field]:
                self._put(table, doc_id, doc)
                return
        self._insert(table, doc)

    def _rows(self, table: str) -> Iterator[JSON]:
        return iter(self._tables[table].values())  # ids only grow, so insertion order is id order

    # -- session
    def get_session(self) -> Session | None:
        doc = self._tables["session"].get("1")
        return Session.from_json(doc) if doc else None

    def put_session(self, session: Session) -> None:
        self._put("session", "1", session.to_json())

    # -- history
    def append_answer(self, answer: Answer) -> None:
        self._insert("answers", answer.to_json())

    def answers(self, *, run_id: str | None = None) -> list[Answer]:
        return [Answer.from_json(d) for d in self._rows("answers") if run_id in (None, d.get("run_id"))]

    def append_assessment(self, assessment: Assessment) -> None:
        if any(d.get("id") == assessment.id for d in self._rows("assessments")):
            raise StorageError(f"assessment {assessment.id} is stored already; history is never rewritten")
        self._insert("assessments", assessment.to_json())

    def assessments(self, *, kind: str | None = None, account: str | None = None) -> list[Assessment]:
        return [
            Assessment.from_json(d)
            for d in self._rows("assessments")
            if kind in (None, d.get("kind")) and account in (None, d.get("account"))
        ]

    # -- accounts and plans
    def accounts(self) -> list[Account]:
        return [Account.from_json(d) for d in self._rows("accounts")]

    def put_account(self, account: Account) -> None:
        self._upsert("accounts", "key", account.to_json())

    def plans(self) -> list[CallPlan]:
        return [CallPlan.from_json(d) for d in self._rows("plans")]

    def put_plan(self, plan: CallPlan) -> None:
        self._upsert("plans", "id", plan.to_json())

    # -- onboarding
    def onboarding(self) -> list[ModuleProgress]:
        return [ModuleProgress.from_json(d) for d in self._rows("onboarding")]

    def put_module_progress(self, progress: ModuleProgress) -> None:
        self._upsert("onboarding", "module", progress.to_json())

    # -- de-duplication
    def seen(self, key: str) -> bool:
        return key in self._state.seen

    def mark_seen(self, key: str, *, at: datetime | None = None) -> None:
        if key not in self._state.seen:
            doc = {"key": key, "at": (at or utcnow()).isoformat()}
            self._state.seen[key] = self._insert("seen", doc)


class TinyDBStore(Store):
    """Everything the bot keeps, in a data directory of TinyDB files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.people_dir = self.root / "people"
        self.locks_dir = self.root / "locks"
        try:
            for directory in (self.root, self.people_dir, self.locks_dir):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot use {self.root} as the data directory: {exc.strerror}; "
                "choose another with --data-dir or COACH_DATA_DIR"
            ) from exc
        self._lock = LockTable(self.locks_dir)
        self._cache: OrderedDict[str, _Loaded] = OrderedDict()
        self._cache_guard = threading.Lock()
        self._shared_cache: dict[str, tuple[tuple[Any, ...], dict[str, dict[str, Any]]]] = {}
        self._migrate()

    def __repr__(self) -> str:
        return f"TinyDBStore({str(self.root)!r})"

    @property
    def location(self) -> str:
        return str(self.root)

    # ------------------------------------------------------------------ schema
    @property
    def _schema_file(self) -> Path:
        return self.root / "schema.json"

    def schema_version(self) -> int:
        data = read_json_file(self._schema_file)
        if data is None:
            return 0
        version = data.get("version")
        if not isinstance(version, int):
            raise CorruptDataError(f"{self._schema_file} has no integer 'version'; restore it from a backup")
        return version

    def _migrate(self) -> None:
        with self._lock("schema").hold():
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{self.root} holds data of layout version {version}, but this Account Coach reads up "
                    f"to version {SCHEMA_VERSION}: upgrade Account Coach, or use another --data-dir"
                )
            while version < SCHEMA_VERSION:
                migration = MIGRATIONS.get(version)
                if migration is None:
                    raise SchemaVersionError(f"no migration from layout version {version} in {self.root}")
                migration(self.root)
                version += 1
                atomic_write_bytes(self._schema_file, dumps({"version": version}))

    # ------------------------------------------------------------------ one person
    def _files(self, person_id: str) -> tuple[Path, Journal]:
        stem = person_file_stem(person_id)
        return self.people_dir / f"{stem}.json", Journal(self.people_dir / f"{stem}.log")

    def _load(self, person_id: str, snapshot: Path, journal: Journal) -> _Loaded:
        key = _stat_key(snapshot, journal.path)
        with self._cache_guard:
            cached = self._cache.get(person_id)
            if cached is not None and cached.key == key:
                self._cache.move_to_end(person_id)
                return cached
        stored = AtomicJSONStorage(snapshot).read() or {}
        meta = stored.pop(META, {}).get("1", {})
        seq = int(meta.get("seq", 0))
        tables: dict[str, dict[str, Any]] = {name: stored.get(name, {}) for name in PERSON_TABLES}
        entries = journal.read()
        for entry in entries:
            if entry["seq"] <= seq:
                continue  # already folded into the snapshot (a crash came between compaction steps)
            for table, doc_id, doc in entry["ops"]:
                if doc is None:
                    tables[table].pop(doc_id, None)
                else:
                    tables[table][doc_id] = doc
            seq = entry["seq"]
        return _Loaded.build(tables, seq, snapshot, journal.path)

    def _remember(self, person_id: str, loaded: _Loaded | None) -> None:
        with self._cache_guard:
            if loaded is None:
                self._cache.pop(person_id, None)
                return
            self._cache[person_id] = loaded
            self._cache.move_to_end(person_id)
            while len(self._cache) > CACHE_PEOPLE:
                self._cache.popitem(last=False)

    @contextmanager
    def person(self, person_id: str) -> Iterator[PersonTransaction]:
        snapshot, journal = self._files(person_id)
        with self._lock(snapshot.stem).hold():
            try:
                loaded = self._load(person_id, snapshot, journal)
                tx = _TinyPersonTransaction(person_id, loaded)
                yield tx
                if tx.ops:
                    self._commit(person_id, loaded, tx, snapshot, journal)
            except BaseException:
                self._remember(person_id, None)  # the cached tables may hold this block's changes
                raise

    def _commit(
        self, person_id: str, loaded: _Loaded, tx: _TinyPersonTransaction, snapshot: Path, journal: Journal
    ) -> None:
        loaded.seq += 1
        loaded.journal_bytes = journal.append({"seq": loaded.seq, "ops": tx.ops})
        if loaded.journal_bytes >= max(COMPACT_MIN_BYTES, loaded.snapshot_bytes):
            loaded.prune_seen(utcnow() - SEEN_RETENTION)
            payload = dumps({**loaded.tables, META: {"1": {"seq": loaded.seq}}})
            atomic_write_bytes(snapshot, payload)
            journal.reset()
            loaded.snapshot_bytes, loaded.journal_bytes = len(payload), 0
        loaded.key = _stat_key(snapshot, journal.path)
        self._remember(person_id, loaded)

    def read_person(self, person_id: str) -> PersonData:
        with self.person(person_id) as tx:
            return tx.snapshot()

    def person_ids(self) -> list[str]:
        stems = {p.stem for p in self.people_dir.glob("p_*.json")} | {
            p.stem for p in self.people_dir.glob("p_*.log")
        }
        return sorted(person_id_of(s) for s in stems)

    def forget_person(self, person_id: str) -> bool:
        snapshot, journal = self._files(person_id)
        with self._lock(snapshot.stem).hold():
            existed = snapshot.exists() or journal.path.exists()
            snapshot.unlink(missing_ok=True)
            journal.path.unlink(missing_ok=True)
            self._remember(person_id, None)
        existed = self.remove_person(person_id) or existed
        existed = bool(self.delete_marks_of(person_id)) or existed
        return existed

    # ------------------------------------------------------------------ shared files
    def _read_shared(self, name: str) -> dict[str, dict[str, Any]]:
        """A shared file's rows by their key field, parsed once per version of the file.

        No lock is needed to read: files are only ever replaced whole, by rename.
        """
        path = self.root / f"{name}.json"
        key = _stat_key(path)
        with self._cache_guard:
            hit = self._shared_cache.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]
        stored = AtomicJSONStorage(path).read() or {}
        field = SHARED_FILES[name]
        rows = {doc[field]: doc for doc in stored.get(SHARED_TABLE, {}).values()}
        with self._cache_guard:
            self._shared_cache[name] = (key, rows)
        return rows

    @contextmanager
    def _write_shared(self, name: str) -> Iterator[Any]:
        """A shared file's table, locked; written atomically when the block ends cleanly."""
        path = self.root / f"{name}.json"
        with self._lock(name).hold():
            storage = AtomicJSONStorage(path)
            db = TinyDB(storage=MemoryStorage)
            db.storage.write(storage.read() or {})
            yield db.table(SHARED_TABLE)
            storage.write(db.storage.read() or {})

    def get_person(self, person_id: str) -> Person | None:
        doc = self._read_shared("directory").get(person_id)
        return Person.from_json(doc) if doc else None

    def put_person(self, person: Person) -> None:
        with self._write_shared("directory") as table:
            table.upsert(person.to_json(), _Q.id == person.id)

    def remove_person(self, person_id: str) -> bool:
        with self._write_shared("directory") as table:
            return bool(table.remove(_Q.id == person_id))

    def people(self) -> list[Person]:
        return [Person.from_json(d) for d in self._read_shared("directory").values()]

    def get_mark(self, key: str) -> datetime | None:
        doc = self._read_shared("scheduler").get(key)
        return datetime.fromisoformat(doc["at"]) if doc else None

    def set_mark(self, key: str, at: datetime) -> None:
        with self._write_shared("scheduler") as table:
            table.upsert({"key": key, "at": at.isoformat()}, _Q.key == key)

    def claim_mark(self, key: str, *, due: datetime, at: datetime) -> bool:
        with self._write_shared("scheduler") as table:
            doc = table.get(_Q.key == key)
            if isinstance(doc, dict) and datetime.fromisoformat(doc["at"]) >= due:
                return False
            table.upsert({"key": key, "at": at.isoformat()}, _Q.key == key)
            return True

    def marks(self, prefix: str = "") -> dict[str, datetime]:
        rows = self._read_shared("scheduler")
        return {k: datetime.fromisoformat(d["at"]) for k, d in rows.items() if k.startswith(prefix)}

    def delete_marks(self, prefix: str) -> int:
        with self._write_shared("scheduler") as table:
            return len(table.remove(_Q.key.test(lambda k: k.startswith(prefix))))

    def delete_marks_of(self, person_id: str) -> int:
        """Delete the marks that name this person as one part of their key."""
        with self._write_shared("scheduler") as table:
            return len(table.remove(_Q.key.test(lambda k: person_id in k.split(":"))))

    # ------------------------------------------------------------------ backup
    def backup(self, target: str) -> dict[str, int]:
        destination = Path(target).expanduser().resolve()
        if destination.exists() and any(destination.iterdir()):
            raise StorageError(f"{destination} is not empty: back up into a new or empty folder")
        if destination == self.root or self.root in destination.parents:
            raise StorageError(f"{destination} lies inside the data directory: choose a folder outside it")
        staging = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
        (staging / "people").mkdir(parents=True)
        counts = {"people": 0, "answers": 0, "assessments": 0, "directory": 0, "marks": 0}
        try:
            for person_id in self.person_ids():
                snapshot, _ = self._files(person_id)
                data = self.read_person(person_id)  # under the person's lock: one consistent state
                tables = {
                    name: {str(i): row for i, row in enumerate(rows, start=1)}
                    for name, rows in _person_rows(data).items()
                }
                atomic_write_bytes(staging / "people" / snapshot.name, dumps(tables))
                counts["people"] += 1
                counts["answers"] += len(data.answers)
                counts["assessments"] += len(data.assessments)
            for name in SHARED_FILES:
                with self._lock(name).hold():
                    content = AtomicJSONStorage(self.root / f"{name}.json").read() or {}
                atomic_write_bytes(staging / f"{name}.json", dumps(content))
            counts["directory"] = len(self.people())
            counts["marks"] = len(self.marks())
            atomic_write_bytes(staging / "schema.json", dumps({"version": self.schema_version()}))
            if destination.exists():
                destination.rmdir()
            staging.rename(destination)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return counts


def _person_rows(data: PersonData) -> dict[str, list[JSON]]:
    """A person's data as table rows, the way a snapshot stores them."""
    return {
        "session": [data.session.to_json()] if data.session else [],
        "answers": [a.to_json() for a in data.answers],
        "assessments": [a.to_json() for a in data.assessments],
        "accounts": [a.to_json() for a in data.accounts],
        "plans": [p.to_json() for p in data.plans],
        "onboarding": [m.to_json() for m in data.onboarding],
    }
