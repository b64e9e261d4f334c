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

import hashlib
import logging
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
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

log = logging.getLogger(__name__)

#: Fold a person's journal into their snapshot once it is this large and larger than the snapshot, so the
#: rewrite of the snapshot stays a small share of the turns (amortized cost, low p99).
COMPACT_MIN_BYTES = 128 * 1024
#: People whose parsed data stays in memory between turns.
CACHE_PEOPLE = 512

#: shared file -> the field its rows are keyed by; each keeps its rows in one TinyDB table.
SHARED_FILES = {"directory": "id", "scheduler": "key"}
SHARED_TABLE = "rows"

STATE_TABLES = ("session", "accounts", "plans", "onboarding", "seen")
HISTORY_TABLES = ("answers", "assessments")
PERSON_TABLES = STATE_TABLES + HISTORY_TABLES
META = "_meta"

Migration = Callable[[Path], None]


def _migrate_0_to_1(root: Path) -> None:
    """Version 0 is a data directory from before versioning: same layout, no schema.json."""


#: MIGRATIONS[n] turns a version-n data directory into version n+1. Each must be safe to run twice.
MIGRATIONS: dict[int, Migration] = {0: _migrate_0_to_1}

_Q = Query()


#: Longest file-name stem made from the id itself; longer ids get a hashed stem and an ``.id`` side file,
#: so no id within the 200-character limit can exceed the file system's 255-byte names.
PLAIN_STEM_MAX = 120
HASHED_PREFIX = "p_~"


def person_file_stem(person_id: str) -> str:
    """A file-system safe name for a person id such as ``slack:U2``: readable and reversible when short."""
    if not person_id or len(person_id) > 200:
        raise StorageError(f"a person id must have 1 to 200 characters, got {len(person_id)}")
    quoted = quote(person_id, safe="").replace(".", "%2E")  # no dots: they separate the suffixes
    if len(quoted) <= PLAIN_STEM_MAX:
        return "p_" + quoted
    return HASHED_PREFIX + hashlib.sha256(person_id.encode("utf-8")).hexdigest()[:40]


def lock_name(stem: str) -> str:
    """A person's lock file name, which does not reveal who they are (lock files outlive ``forget``)."""
    return "p-" + hashlib.sha256(stem.encode("utf-8")).hexdigest()[:32]


@dataclass
class _Loaded:
    """One person's data in memory.

    ``state`` holds the small tables a turn needs (session, accounts, plans, onboarding, processed ids),
    parsed on load. The history (answers, assessments) grows without bound, so it is parsed only when read:
    appending to it needs nothing but the next id. ``pending`` keeps the history changes made since the
    state snapshot, to be applied over the history snapshot whenever that is read.
    """

    files: _PersonFiles
    state: dict[str, dict[str, Any]]
    seq: int
    next_ids: dict[str, int]
    seen: dict[str, str]
    pending: list[tuple[int, str, str, JSON | None]]
    key: tuple[Any, ...] = ()
    journal_bytes: int = 0
    state_bytes: int = 0
    history_bytes: int = 0
    history: dict[str, dict[str, Any]] | None = None

    def apply(self, seq: int, table: str, doc_id: str, doc: JSON | None) -> None:
        """Apply one change, to the state or, for history tables, to the pending list."""
        if table in HISTORY_TABLES:
            self.pending.append((seq, table, doc_id, doc))
            if self.history is not None:
                _apply(self.history, table, doc_id, doc)
        else:
            _apply(self.state, table, doc_id, doc)
            if table == "seen":
                if doc is None:
                    self.seen = {k: i for k, i in self.seen.items() if i != doc_id}
                else:
                    self.seen[doc["key"]] = doc_id
        if doc is not None:
            self.next_ids[table] = max(self.next_ids.get(table, 1), int(doc_id) + 1)

    def load_history(self) -> dict[str, dict[str, Any]]:
        """The history tables, parsed from their snapshot with the pending changes applied."""
        if self.history is None:
            stored = AtomicJSONStorage(self.files.history).read() or {}
            history_seq = _meta(stored).get("seq", 0)
            history = {name: stored.get(name, {}) for name in HISTORY_TABLES}
            for seq, table, doc_id, doc in self.pending:
                if seq > history_seq:
                    _apply(history, table, doc_id, doc)
            self.history = history
        return self.history

    def prune_seen(self, before: datetime) -> None:
        """Forget processed message ids older than ``before``."""
        cutoff = before.isoformat()
        rows = self.state["seen"]
        for doc_id in [i for i, doc in rows.items() if doc["at"] < cutoff]:
            del self.seen[rows.pop(doc_id)["key"]]


def _apply(tables: dict[str, dict[str, Any]], table: str, doc_id: str, doc: JSON | None) -> None:
    if doc is None:
        tables[table].pop(doc_id, None)
    else:
        tables[table][doc_id] = doc


def _meta(stored: dict[str, Any]) -> dict[str, Any]:
    meta = stored.pop(META, {}).get("1", {})
    return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class _PersonFiles:
    """The files of one person: state and history snapshots (TinyDB databases) and the journal."""

    person_id: str
    stem: str
    state: Path
    history: Path
    journal: Journal
    id_file: Path

    @classmethod
    def of(cls, people_dir: Path, person_id: str) -> _PersonFiles:
        stem = person_file_stem(person_id)
        return cls(
            person_id,
            stem,
            people_dir / f"{stem}.json",
            people_dir / f"{stem}.history.json",
            Journal(people_dir / f"{stem}.log"),
            people_dir / f"{stem}.id",
        )

    def all(self) -> tuple[Path, ...]:
        return self.state, self.history, self.journal.path, self.id_file

    def ensure_id_file(self) -> None:
        """A hashed stem does not say whose files these are: the ``.id`` side file does."""
        if self.stem.startswith(HASHED_PREFIX) and not self.id_file.exists():
            atomic_write_bytes(self.id_file, self.person_id.encode("utf-8"))

    def stat_key(self) -> tuple[Any, ...]:
        return _stat_key(self.state, self.history, self.journal.path)


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
        self.ops: list[list[Any]] = []

    def _table(self, table: str) -> dict[str, Any]:
        if table in HISTORY_TABLES:
            return self._state.load_history()[table]
        return self._state.state[table]

    def _put(self, table: str, doc_id: str, doc: JSON) -> None:
        self._state.apply(self._state.seq + 1, table, doc_id, doc)
        self.ops.append([table, doc_id, doc])

    def _insert(self, table: str, doc: JSON) -> str:
        doc_id = str(self._state.next_ids.get(table, 1))
        self._put(table, doc_id, doc)
        return doc_id

    def _upsert(self, table: str, field: str, doc: JSON) -> None:
        for doc_id, row in self._table(table).items():
            if row.get(field) == doc[field]:
                self._put(table, doc_id, doc)
                return
        self._insert(table, doc)

    def _rows(self, table: str) -> Iterator[JSON]:
        return iter(self._table(table).values())  # ids only grow, so insertion order is id order

    # -- session
    def get_session(self) -> Session | None:
        doc = self._table("session").get("1")
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
            doc = {"key": key, "at": (at or utcnow()).astimezone(UTC).isoformat()}
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
        self._identity_index: tuple[dict[str, dict[str, Any]], dict[str, str]] | None = None
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
    def _files(self, person_id: str) -> _PersonFiles:
        return _PersonFiles.of(self.people_dir, person_id)

    def _load(self, person_id: str, files: _PersonFiles) -> _Loaded:
        key = files.stat_key()
        with self._cache_guard:
            cached = self._cache.get(person_id)
            if cached is not None and cached.key == key:
                self._cache.move_to_end(person_id)
                return cached
        stored = AtomicJSONStorage(files.state).read() or {}
        meta = _meta(stored)
        state = {name: stored.get(name, {}) for name in STATE_TABLES}
        next_ids = {name: max(map(int, rows), default=0) + 1 for name, rows in state.items()}
        next_ids.update({t: int(meta.get("next_ids", {}).get(t, 1)) for t in HISTORY_TABLES})
        seen = {doc["key"]: doc_id for doc_id, doc in state["seen"].items()}
        loaded = _Loaded(files, state, int(meta.get("seq", 0)), next_ids, seen, [])
        for entry in files.journal.read():
            if entry["seq"] <= loaded.seq:
                continue  # already folded into the snapshots (a crash came between compaction steps)
            for table, doc_id, doc in entry["ops"]:
                loaded.apply(entry["seq"], table, doc_id, doc)
            loaded.seq = entry["seq"]
        loaded.key = files.stat_key()
        loaded.state_bytes, loaded.history_bytes, loaded.journal_bytes = (
            k[1] if k else 0 for k in loaded.key
        )
        return loaded

    def _remember(self, person_id: str, loaded: _Loaded | None) -> None:
        with self._cache_guard:
            if loaded is None:
                self._cache.pop(person_id, None)
                return
            loaded.history = None  # re-read on demand: the cache keeps only what turns need
            self._cache[person_id] = loaded
            self._cache.move_to_end(person_id)
            while len(self._cache) > CACHE_PEOPLE:
                self._cache.popitem(last=False)

    @contextmanager
    def person(self, person_id: str) -> Iterator[PersonTransaction]:
        files = self._files(person_id)
        with self._lock(lock_name(files.stem)).hold():
            try:
                loaded = self._load(person_id, files)
                tx = _TinyPersonTransaction(person_id, loaded)
                yield tx
                if tx.ops:
                    self._commit(loaded, tx)
                self._remember(person_id, loaded)
            except BaseException:
                self._remember(person_id, None)  # the cached tables may hold this block's changes
                raise

    def _commit(self, loaded: _Loaded, tx: _TinyPersonTransaction) -> None:
        files = loaded.files
        files.ensure_id_file()
        loaded.seq += 1
        loaded.journal_bytes = files.journal.append({"seq": loaded.seq, "ops": tx.ops})
        # The turn is durable now. Fold the journal into the snapshots once it outgrows a share of them, so
        # each byte of a snapshot is rewritten a bounded number of times: the cost per turn stays flat as
        # history grows. A failed fold loses nothing (the journal still holds every change): warn, go on.
        if loaded.journal_bytes >= max(COMPACT_MIN_BYTES, loaded.state_bytes, loaded.history_bytes // 4):
            try:
                self._compact(loaded)
            except OSError as exc:
                log.warning("could not fold the journal of %s into its snapshot: %s", files.stem, exc)
        loaded.key = files.stat_key()

    @staticmethod
    def _snapshots(loaded: _Loaded) -> tuple[bytes, bytes]:
        """The state and history snapshots of a person as they stand, as TinyDB database files."""
        history = dumps({**loaded.load_history(), META: {"1": {"seq": loaded.seq}}})
        next_ids = {t: loaded.next_ids.get(t, 1) for t in HISTORY_TABLES}
        state = dumps({**loaded.state, META: {"1": {"seq": loaded.seq, "next_ids": next_ids}}})
        return state, history

    def _compact(self, loaded: _Loaded) -> None:
        files = loaded.files
        loaded.prune_seen(utcnow() - SEEN_RETENTION)
        state, history = self._snapshots(loaded)
        # History first: a state snapshot is never newer than the history snapshot, which is what
        # replaying the journal over both relies on.
        atomic_write_bytes(files.history, history)
        atomic_write_bytes(files.state, state)
        files.journal.reset()
        loaded.pending.clear()
        loaded.state_bytes, loaded.history_bytes, loaded.journal_bytes = len(state), len(history), 0

    def read_person(self, person_id: str) -> PersonData:
        with self.person(person_id) as tx:
            return tx.snapshot()

    def person_ids(self) -> list[str]:
        ids = set()
        for stem in {p.name.split(".", 1)[0] for p in self.people_dir.glob("p_*")}:
            if stem.startswith(HASHED_PREFIX):
                id_file = self.people_dir / f"{stem}.id"
                if id_file.exists():
                    ids.add(id_file.read_text(encoding="utf-8"))
            else:
                ids.add(unquote(stem.removeprefix("p_")))
        return sorted(ids)

    def forget_person(self, person_id: str) -> bool:
        files = self._files(person_id)
        with self._lock(lock_name(files.stem)).hold():
            existed = any(path.exists() for path in files.all())
            for path in files.all():
                path.unlink(missing_ok=True)
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

    def canonical_id(self, person_id: str) -> str:
        rows = self._read_shared("directory")
        with self._cache_guard:
            cached = self._identity_index
            if cached is None or cached[0] is not rows:
                index = {i: doc["id"] for doc in rows.values() for i in doc.get("identities", ())}
                cached = self._identity_index = (rows, index)
        return cached[1].get(person_id, person_id)

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

    def set_mark(self, key: str, at: datetime, *, person_id: str | None = None) -> None:
        with self._write_shared("scheduler") as table:
            table.upsert({"key": key, "at": at.isoformat(), "person": person_id}, _Q.key == key)

    def claim_mark(self, key: str, *, due: datetime, at: datetime, person_id: str | None = None) -> bool:
        with self._write_shared("scheduler") as table:
            doc = table.get(_Q.key == key)
            if isinstance(doc, dict) and datetime.fromisoformat(doc["at"]) >= due:
                return False
            table.upsert({"key": key, "at": at.isoformat(), "person": person_id}, _Q.key == key)
            return True

    def marks(self, prefix: str = "", *, person_id: str | None = None) -> dict[str, datetime]:
        return {
            key: datetime.fromisoformat(doc["at"])
            for key, doc in self._read_shared("scheduler").items()
            if key.startswith(prefix) and person_id in (None, doc.get("person"))
        }

    def delete_mark(self, key: str) -> bool:
        with self._write_shared("scheduler") as table:
            return bool(table.remove(_Q.key == key))

    def delete_marks(self, prefix: str) -> int:
        with self._write_shared("scheduler") as table:
            return len(table.remove(_Q.key.test(lambda k: k.startswith(prefix))))

    def delete_marks_of(self, person_id: str) -> int:
        """Delete the marks about this person."""
        with self._write_shared("scheduler") as table:
            return len(table.remove(_Q.person == person_id))

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
                files = self._files(person_id)
                with self._lock(lock_name(files.stem)).hold():  # one consistent state of this person
                    loaded = self._load(person_id, files)
                    state, history = self._snapshots(loaded)
                    counts["answers"] += len(loaded.load_history()["answers"])
                    counts["assessments"] += len(loaded.load_history()["assessments"])
                    self._remember(person_id, loaded)
                atomic_write_bytes(staging / "people" / files.state.name, state)
                atomic_write_bytes(staging / "people" / files.history.name, history)
                if files.id_file.exists():
                    shutil.copyfile(files.id_file, staging / "people" / files.id_file.name)
                counts["people"] += 1
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
