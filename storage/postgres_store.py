"""The PostgreSQL backend: several bot workers share one database with the same guarantees as TinyDB.

- One person's messages are handled one at a time across processes: every person transaction takes a
  transaction-scoped advisory lock on the person (``pg_advisory_xact_lock``), released at commit or rollback.
- A message re-delivered to another worker is answered once: processed message ids have a primary key
  per person, checked and inserted under that same lock.
- Each scheduled job is sent once: ``claim_mark`` is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE``,
  atomic in the database.
- Connections come from a psycopg 3 pool. The schema is created and migrated by ``coach db migrate`` (and on
  open), versioned in ``coach_schema``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from storage.base import (
    SCHEMA_VERSION,
    SEEN_RETENTION,
    Account,
    Answer,
    Assessment,
    CallPlan,
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

#: MIGRATIONS[n] takes the schema from version n to n+1 (run in one transaction each).
MIGRATIONS: dict[int, str] = {
    0: """
    CREATE TABLE IF NOT EXISTS coach_sessions (
        person_id text PRIMARY KEY, doc jsonb NOT NULL, updated_at timestamptz NOT NULL);
    CREATE TABLE IF NOT EXISTS coach_answers (
        id bigserial PRIMARY KEY, person_id text NOT NULL, run_id text NOT NULL, doc jsonb NOT NULL,
        at timestamptz NOT NULL);
    CREATE INDEX IF NOT EXISTS coach_answers_person ON coach_answers (person_id, id);
    CREATE TABLE IF NOT EXISTS coach_assessments (
        id text PRIMARY KEY, person_id text NOT NULL, kind text NOT NULL, account text,
        completed_at timestamptz NOT NULL, doc jsonb NOT NULL, seq bigserial);
    CREATE INDEX IF NOT EXISTS coach_assessments_person ON coach_assessments (person_id, seq);
    CREATE TABLE IF NOT EXISTS coach_accounts (
        person_id text NOT NULL, key text NOT NULL, doc jsonb NOT NULL, seq bigserial,
        PRIMARY KEY (person_id, key));
    CREATE TABLE IF NOT EXISTS coach_plans (
        id text PRIMARY KEY, person_id text NOT NULL, call_at timestamptz, doc jsonb NOT NULL, seq bigserial);
    CREATE INDEX IF NOT EXISTS coach_plans_person ON coach_plans (person_id, seq);
    CREATE TABLE IF NOT EXISTS coach_onboarding (
        person_id text NOT NULL, module text NOT NULL, doc jsonb NOT NULL, seq bigserial,
        PRIMARY KEY (person_id, module));
    CREATE TABLE IF NOT EXISTS coach_seen (
        person_id text NOT NULL, key text NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (person_id, key));
    CREATE TABLE IF NOT EXISTS coach_people (id text PRIMARY KEY, doc jsonb NOT NULL, seq bigserial);
    CREATE TABLE IF NOT EXISTS coach_marks (key text PRIMARY KEY, at timestamptz NOT NULL, person_id text);
    """,
}

PERSON_TABLES = (
    "coach_sessions",
    "coach_answers",
    "coach_assessments",
    "coach_accounts",
    "coach_plans",
    "coach_onboarding",
    "coach_seen",
)


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class _PgTransaction(PersonTransaction):
    """One person's rows, read and written inside one database transaction holding their lock."""

    def __init__(self, person_id: str, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self.person_id = person_id
        self.conn = conn

    def _docs(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [row["doc"] for row in self.conn.execute(sql, (self.person_id, *args)).fetchall()]

    def get_session(self) -> Session | None:
        docs = self._docs("SELECT doc FROM coach_sessions WHERE person_id = %s")
        return Session.from_json(docs[0]) if docs else None

    def put_session(self, session: Session) -> None:
        self.conn.execute(
            "INSERT INTO coach_sessions (person_id, doc, updated_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (person_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            (self.person_id, Jsonb(session.to_json()), session.updated_at),
        )

    def append_answer(self, answer: Answer) -> None:
        self.conn.execute(
            "INSERT INTO coach_answers (person_id, run_id, doc, at) VALUES (%s, %s, %s, %s)",
            (self.person_id, answer.run_id, Jsonb(answer.to_json()), answer.at),
        )

    def answers(self, *, run_id: str | None = None) -> list[Answer]:
        if run_id is None:
            docs = self._docs("SELECT doc FROM coach_answers WHERE person_id = %s ORDER BY id")
        else:
            docs = self._docs(
                "SELECT doc FROM coach_answers WHERE person_id = %s AND run_id = %s ORDER BY id", run_id
            )
        return [Answer.from_json(d) for d in docs]

    def append_assessment(self, assessment: Assessment) -> None:
        try:
            with self.conn.transaction():  # a savepoint: a duplicate must not abort the whole turn
                self.conn.execute(
                    "INSERT INTO coach_assessments (id, person_id, kind, account, completed_at, doc) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        assessment.id,
                        self.person_id,
                        assessment.kind,
                        assessment.account,
                        assessment.completed_at,
                        Jsonb(assessment.to_json()),
                    ),
                )
        except psycopg.errors.UniqueViolation:
            raise StorageError(
                f"assessment {assessment.id} is stored already; history is never rewritten"
            ) from None

    def assessments(self, *, kind: str | None = None, account: str | None = None) -> list[Assessment]:
        docs = self._docs(
            "SELECT doc FROM coach_assessments WHERE person_id = %s "
            "AND (%s::text IS NULL OR kind = %s) AND (%s::text IS NULL OR account = %s) ORDER BY seq",
            kind,
            kind,
            account,
            account,
        )
        return [Assessment.from_json(d) for d in docs]

    def accounts(self) -> list[Account]:
        return [
            Account.from_json(d)
            for d in self._docs("SELECT doc FROM coach_accounts WHERE person_id = %s ORDER BY seq")
        ]

    def put_account(self, account: Account) -> None:
        self.conn.execute(
            "INSERT INTO coach_accounts (person_id, key, doc) VALUES (%s, %s, %s) "
            "ON CONFLICT (person_id, key) DO UPDATE SET doc = excluded.doc",
            (self.person_id, account.key, Jsonb(account.to_json())),
        )

    def plans(self) -> list[CallPlan]:
        return [
            CallPlan.from_json(d)
            for d in self._docs("SELECT doc FROM coach_plans WHERE person_id = %s ORDER BY seq")
        ]

    def put_plan(self, plan: CallPlan) -> None:
        self.conn.execute(
            "INSERT INTO coach_plans (id, person_id, call_at, doc) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, call_at = excluded.call_at",
            (plan.id, self.person_id, plan.call_at, Jsonb(plan.to_json())),
        )

    def onboarding(self) -> list[ModuleProgress]:
        docs = self._docs("SELECT doc FROM coach_onboarding WHERE person_id = %s ORDER BY seq")
        return [ModuleProgress.from_json(d) for d in docs]

    def put_module_progress(self, progress: ModuleProgress) -> None:
        self.conn.execute(
            "INSERT INTO coach_onboarding (person_id, module, doc) VALUES (%s, %s, %s) "
            "ON CONFLICT (person_id, module) DO UPDATE SET doc = excluded.doc",
            (self.person_id, progress.module, Jsonb(progress.to_json())),
        )

    def seen(self, key: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM coach_seen WHERE person_id = %s AND key = %s", (self.person_id, key)
        ).fetchone()
        return row is not None

    def mark_seen(self, key: str, *, at: datetime | None = None) -> None:
        at = at or utcnow()
        self.conn.execute(
            "INSERT INTO coach_seen (person_id, key, at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (self.person_id, key, at),
        )
        self.conn.execute(
            "DELETE FROM coach_seen WHERE person_id = %s AND at < %s", (self.person_id, at - SEEN_RETENTION)
        )


class PostgresStore(Store):
    """Everything the bot keeps, in PostgreSQL."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, migrate: bool = True) -> None:
        self.url = url
        try:
            self.pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"row_factory": dict_row, "autocommit": False},
                open=True,
                timeout=30,
            )
            self.pool.wait(timeout=10)
        except Exception as exc:  # pool and connection errors come in several types
            raise StorageError(
                f"cannot connect to PostgreSQL at {redact(url)}: {exc}; check COACH_STORAGE_URL and that the "
                "server is running"
            ) from None
        if migrate:
            self.migrate()

    def close(self) -> None:
        self.pool.close()

    @property
    def location(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    # ------------------------------------------------------------------ schema
    def schema_version(self) -> int:
        with self.pool.connection() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS coach_schema (version integer NOT NULL)")
            row = conn.execute("SELECT version FROM coach_schema").fetchone()
            return int(row["version"]) if row else 0

    def migrate(self) -> int:
        """Bring the schema to this version (one transaction per step, under a global lock); returns it."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('coach_schema'))")
            conn.execute("CREATE TABLE IF NOT EXISTS coach_schema (version integer NOT NULL)")
            row = conn.execute("SELECT version FROM coach_schema").fetchone()
            version = int(row["version"]) if row else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the database holds schema version {version}, newer than this Account Coach "
                    f"({SCHEMA_VERSION}): upgrade Account Coach"
                )
            while version < SCHEMA_VERSION:
                conn.execute(MIGRATIONS[version])
                version += 1
                conn.execute("DELETE FROM coach_schema")
                conn.execute("INSERT INTO coach_schema (version) VALUES (%s)", (version,))
            return version

    # ------------------------------------------------------------------ one person
    @contextmanager
    def person(self, person_id: str) -> Iterator[PersonTransaction]:
        if not person_id or len(person_id) > 200:
            raise StorageError(f"a person id must have 1 to 200 characters, got {len(person_id)}")
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"coach:{person_id}",))
            yield _PgTransaction(person_id, conn)

    def read_person(self, person_id: str) -> PersonData:
        with self.person(person_id) as tx:
            return tx.snapshot()

    def person_ids(self) -> list[str]:
        with self.pool.connection() as conn:
            union = sql.SQL(" UNION ").join(
                sql.SQL("SELECT person_id FROM {}").format(sql.Identifier(t)) for t in PERSON_TABLES
            )
            return sorted(row["person_id"] for row in conn.execute(union).fetchall())

    def forget_person(self, person_id: str) -> bool:
        existed = False
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"coach:{person_id}",))
            for table in PERSON_TABLES:
                query = sql.SQL("DELETE FROM {} WHERE person_id = %s").format(sql.Identifier(table))
                existed = conn.execute(query, (person_id,)).rowcount > 0 or existed
            existed = (
                conn.execute("DELETE FROM coach_people WHERE id = %s", (person_id,)).rowcount > 0 or existed
            )
            existed = (
                conn.execute("DELETE FROM coach_marks WHERE person_id = %s", (person_id,)).rowcount > 0
                or existed
            )
        return existed

    # ------------------------------------------------------------------ people
    def get_person(self, person_id: str) -> Person | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT doc FROM coach_people WHERE id = %s", (person_id,)).fetchone()
        return Person.from_json(row["doc"]) if row else None

    def put_person(self, person: Person) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO coach_people (id, doc) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                (person.id, Jsonb(person.to_json())),
            )

    def remove_person(self, person_id: str) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM coach_people WHERE id = %s", (person_id,)).rowcount > 0

    def people(self) -> list[Person]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT doc FROM coach_people ORDER BY seq").fetchall()
        return [Person.from_json(r["doc"]) for r in rows]

    def canonical_id(self, person_id: str) -> str:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id FROM coach_people WHERE doc->'identities' ? %s LIMIT 1", (person_id,)
            ).fetchone()
        return str(row["id"]) if row else person_id

    # ------------------------------------------------------------------ marks
    def get_mark(self, key: str) -> datetime | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT at FROM coach_marks WHERE key = %s", (key,)).fetchone()
        return row["at"] if row else None

    def set_mark(self, key: str, at: datetime, *, person_id: str | None = None) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO coach_marks (key, at, person_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET at = excluded.at, person_id = excluded.person_id",
                (key, at, person_id),
            )

    def claim_mark(self, key: str, *, due: datetime, at: datetime, person_id: str | None = None) -> bool:
        with self.pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO coach_marks (key, at, person_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET at = excluded.at, person_id = excluded.person_id "
                "WHERE coach_marks.at < %s RETURNING key",
                (key, at, person_id, due),
            ).fetchone()
        return row is not None

    def marks(self, prefix: str = "", *, person_id: str | None = None) -> dict[str, datetime]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT key, at FROM coach_marks WHERE starts_with(key, %s) "
                "AND (%s::text IS NULL OR person_id = %s) ORDER BY key",
                (prefix, person_id, person_id),
            ).fetchall()
        return {r["key"]: r["at"] for r in rows}

    def delete_mark(self, key: str) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM coach_marks WHERE key = %s", (key,)).rowcount > 0

    def delete_marks(self, prefix: str) -> int:
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM coach_marks WHERE starts_with(key, %s)", (prefix,)).rowcount

    # ------------------------------------------------------------------ backup
    def backup(self, target: str) -> dict[str, int]:
        """A consistent JSON copy of everything (one repeatable-read snapshot), written as a TinyDB data
        directory, so a backup of either backend restores into either."""
        from pathlib import Path

        from storage.tinydb_store import TinyDBStore

        destination = Path(target).expanduser().resolve()
        if destination.exists() and any(destination.iterdir()):
            raise StorageError(f"{destination} is not empty: back up into a new or empty folder")
        copy = TinyDBStore(destination)
        return copy_store(self, copy)


def copy_store(
    source: Store, target: Store, *, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Copy everything from one store into another (``coach db import``, backups); returns counts."""
    counts = {"people": 0, "answers": 0, "assessments": 0, "directory": 0, "marks": 0}
    people = source.people()
    for person in people:
        target.put_person(person)
        counts["directory"] += 1
    ids = source.person_ids()
    owners = {key: pid for pid in {*ids, *(p.id for p in people)} for key in source.marks(person_id=pid)}
    for key, at in source.marks().items():
        target.set_mark(key, at, person_id=owners.get(key))
        counts["marks"] += 1
    for person_id in ids:
        data = source.read_person(person_id)
        with target.person(person_id) as tx:
            if data.session is not None:
                tx.put_session(data.session)
            for answer in data.answers:
                tx.append_answer(answer)
            for assessment in data.assessments:
                tx.append_assessment(assessment)
            for account in data.accounts:
                tx.put_account(account)
            for plan in data.plans:
                tx.put_plan(plan)
            for module in data.onboarding:
                tx.put_module_progress(module)
        counts["people"] += 1
        counts["answers"] += len(data.answers)
        counts["assessments"] += len(data.assessments)
        if progress is not None:
            progress(1)
    return counts


def counts_of(store: Store) -> dict[str, int]:
    """What a store holds, to verify a copy."""
    answers = assessments = 0
    ids = store.person_ids()
    for person_id in ids:
        data = store.read_person(person_id)
        answers += len(data.answers)
        assessments += len(data.assessments)
    return {
        "people": len(ids),
        "answers": answers,
        "assessments": assessments,
        "directory": len(store.people()),
        "marks": len(store.marks()),
    }
