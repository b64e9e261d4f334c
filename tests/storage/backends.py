"""Both storage backends for one test suite: TinyDB on a temp dir, PostgreSQL on a fresh schema.

PostgreSQL tests use the real server at ``COACH_TEST_POSTGRES_URL`` (default: the local server of this
project's machines, trust authentication, database ``test``). Without a reachable server they are skipped
with the reason shown (pytest -ra), never silently passed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

from storage.base import Store
from storage.tinydb_store import TinyDBStore

PG_URL = os.environ.get("COACH_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")


@cache
def postgres_problem() -> str | None:
    """None if the server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__}): set COACH_TEST_POSTGRES_URL"
    return None


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema; dropped afterwards."""
    import psycopg

    schema = f"coach_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def open_backend(name: str, tmp_path: Path) -> Iterator[Store]:
    if name == "tinydb":
        yield TinyDBStore(tmp_path / "data")
        return
    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    from storage.postgres_store import PostgresStore

    with postgres_schema() as url:
        store = PostgresStore(url)
        try:
            yield store
        finally:
            store.close()
