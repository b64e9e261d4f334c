"""The storage contract, run on both backends: what the bot relies on holds on TinyDB and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.messages import Channel, Incoming
from storage.base import (
    Account,
    Answer,
    Assessment,
    CallPlan,
    Frame,
    ModuleProgress,
    Person,
    Role,
    Session,
    StorageError,
    Store,
)
from tests.storage.backends import open_backend, postgres_problem, postgres_schema

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["tinydb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_backend(request.param, tmp_path) as opened:
        yield opened


def assessment(aid: str, kind: str = "qualification", account: str | None = "acme") -> Assessment:
    return Assessment(aid, "ana", kind, account, {"s1": {"value": 4}}, {"total": 4}, T0, T0)


def test_a_session_and_history_survive_and_come_back_in_order(store: Store) -> None:
    frame = Frame(
        dialog="qualification",
        step="s1",
        draft={"answers": {"a": {"value": 4}}},
        started_at=T0,
        deadline=T0 + timedelta(days=7),
    )
    with store.person("ana") as tx:
        tx.put_session(Session(person_id="ana", active=frame, paused=(frame,), data={"x": 1}, updated_at=T0))
        for n in range(3):
            tx.append_answer(Answer("ana", "qualification", "run1" if n < 2 else "run2", f"q{n}", n, at=T0))
        tx.append_assessment(assessment("a1"))
        tx.append_assessment(assessment("a2", kind="stage"))
    data = store.read_person("ana")
    assert data.session is not None
    assert data.session.active == frame
    assert data.session.paused == (frame,)
    assert [a.question for a in data.answers] == ["q0", "q1", "q2"]
    with store.person("ana") as tx:
        assert [a.question for a in tx.answers(run_id="run2")] == ["q2"]
        assert [a.id for a in tx.assessments(kind="stage")] == ["a2"]
        assert [a.id for a in tx.assessments(account="acme")] == ["a1", "a2"]


def test_an_error_inside_the_block_discards_all_of_it(store: Store) -> None:
    def crash() -> None:
        with store.person("ana") as tx:
            tx.put_session(Session(person_id="ana", updated_at=T0))
            tx.append_answer(Answer("ana", "q", "r", "q1", 4, at=T0))
            raise RuntimeError("crash in the middle of a turn")

    with pytest.raises(RuntimeError):
        crash()
    data = store.read_person("ana")
    assert data.session is None
    assert data.answers == ()


def test_history_is_never_rewritten(store: Store) -> None:
    with store.person("ana") as tx:
        tx.append_assessment(assessment("a1"))
    with pytest.raises(StorageError, match="stored already"), store.person("ana") as tx:
        tx.append_assessment(Assessment("a1", "ana", "qualification", "acme", {}, {"total": 99}, T0, T0))
    assert [a.result["total"] for a in store.read_person("ana").assessments] == [4]


def test_accounts_plans_and_progress_replace_by_their_key(store: Store) -> None:
    with store.person("ana") as tx:
        tx.put_account(Account("ana", "acme", "Acme", T0))
        tx.put_account(Account("ana", "acme", "ACME Corp", T0))
        tx.put_plan(CallPlan("p1", "ana", "acme", T0, {"readiness": 40}, T0))
        tx.put_plan(CallPlan("p1", "ana", "acme", T0, {"readiness": 80}, T0))
        tx.put_module_progress(ModuleProgress("m1", "done", 1, 3, T0))
        tx.put_module_progress(ModuleProgress("m1", "done", 3, 3, T0))
    data = store.read_person("ana")
    assert [a.name for a in data.accounts] == ["ACME Corp"]
    assert [p.plan["readiness"] for p in data.plans] == [80]
    assert [(m.module, m.quiz_correct) for m in data.onboarding] == [("m1", 3)]


def test_processed_message_ids_are_remembered(store: Store) -> None:
    with store.person("ana") as tx:
        tx.mark_seen("slack:1", at=T0)
    with store.person("ana") as tx:
        assert tx.seen("slack:1")
        assert not tx.seen("slack:2")


def test_people_teams_and_linked_identities(store: Store) -> None:
    store.put_person(Person(id="maria", name="Maria", role=Role.MANAGER.value))
    store.put_person(Person(id="ana", name="Ana", manager_id="maria", identities=("slack:U1", "telegram:5")))
    assert [p.id for p in store.team_of("maria")] == ["ana"]
    assert store.canonical_id("telegram:5") == "ana"
    assert store.canonical_id("slack:U9") == "slack:U9"
    assert store.remove_person("ana")
    assert store.get_person("ana") is None


def test_a_scheduled_job_is_claimed_once_per_due_time(store: Store) -> None:
    assert store.claim_mark("digest:maria", due=T0, at=T0, person_id="maria")
    assert not store.claim_mark("digest:maria", due=T0, at=T0 + timedelta(minutes=1), person_id="maria")
    assert store.claim_mark("digest:maria", due=T0 + timedelta(days=7), at=T0 + timedelta(days=7))
    assert store.marks("digest:") == {"digest:maria": T0 + timedelta(days=7)}
    assert store.delete_marks("digest:") == 1


def test_forget_erases_everything_of_a_person(store: Store) -> None:
    with store.person("ana") as tx:
        tx.append_answer(Answer("ana", "q", "r", "q1", 4, at=T0))
    store.put_person(Person(id="ana", name="Ana"))
    store.set_mark("nudge:p1", T0, person_id="ana")
    assert store.forget_person("ana")
    assert "ana" not in store.person_ids()
    assert store.get_person("ana") is None
    assert store.marks() == {}


def test_a_whole_qualification_through_the_engine(store: Store) -> None:
    engine = Engine(store)
    lines = ["/qualify Acme", *["4"] * 14, *["3"] * 8, "yes", *["5"] * 6]
    replies = []
    for n, line in enumerate(lines):
        replies = engine.handle(Incoming(Channel.TERMINAL, "ana", line, message_id=str(n), at=T0))
    text = "\n".join(r.text() for r in replies)
    assert "Total: 110/140 (79%)" in text
    assert engine.handle(Incoming(Channel.TERMINAL, "ana", "5", message_id="28", at=T0)) == []  # re-delivered
    data = store.read_person("ana")
    assert [a.kind for a in data.assessments] == ["qualification"]
    assert len(data.answers) == 29


def test_a_message_redelivered_to_another_worker_is_answered_once(tmp_path: Path) -> None:
    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    from storage.postgres_store import PostgresStore

    with postgres_schema() as url:
        stores = [PostgresStore(url), PostgresStore(url, migrate=False)]
        engines = [Engine(s) for s in stores]
        engines[0].handle(Incoming(Channel.SLACK, "slack:U1", "/qualify Acme", message_id="m0", at=T0))
        answered: list[int] = []
        start = threading.Barrier(2)

        def worker(n: int) -> None:
            start.wait()
            answered.append(
                len(engines[n].handle(Incoming(Channel.SLACK, "slack:U1", "4", message_id="m1", at=T0)))
            )

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answered) == [0, 1]  # one worker answered (the next question), the other dropped it
        session = stores[0].read_person("slack:U1").session
        assert session is not None
        assert session.active is not None
        assert list(session.active.draft["answers"]) == ["s1_prompted"]
        claims = []
        for s in stores * 2:
            claims.append(s.claim_mark("digest:maria", due=T0, at=T0))
        assert claims.count(True) == 1
        for s in stores:
            s.close()


def test_four_processes_lose_nothing_on_postgres(tmp_path: Path) -> None:
    """4 processes x 25 people x 30 turns at once: every acknowledged answer is stored exactly once."""
    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    from storage.postgres_store import PostgresStore

    with postgres_schema() as url:
        PostgresStore(url).close()  # create the schema once
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.auxil.storage_worker", "pgturns", url, f"w{n}", "30", "25"],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(4)
        ]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        acknowledged = set()
        for proc in procs:
            out, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0
            lines = out.splitlines()
            assert lines[-1] == "done"
            acknowledged |= {tuple(line.split()) for line in lines[:-1]}
        assert len(acknowledged) == 4 * 25 * 30
        store = PostgresStore(url, migrate=False)
        stored: Counter[tuple[str, str, str]] = Counter()
        for person_id in store.person_ids():
            data = store.read_person(person_id)
            for answer in data.answers:
                stored[(answer.run_id, person_id, answer.question)] += 1
            assert data.session is not None
            assert data.session.data["count"] == len(data.answers) == 4 * 30  # no lost update
        store.close()
        assert set(stored) == acknowledged
        assert max(stored.values()) == 1
