"""The TinyDB store as the bot uses it: what is written is there after the next turn and after a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import tinydb

import storage.tinydb_store as tinydb_store
from storage.base import (
    SCHEMA_VERSION,
    Account,
    CallPlan,
    Frame,
    ModuleProgress,
    Role,
    Session,
    StorageError,
)
from storage.files import AtomicJSONStorage
from storage.tinydb_store import TinyDBStore
from tests.storage.records import (
    BERLIN_SUMMER,
    T0,
    a_person,
    a_session,
    an_answer,
    an_assessment,
    fill_person,
    reopen,
)


class Interrupted(Exception):
    """An error in the middle of a turn (a bug, a dropped connection...)."""


def files_of(store: TinyDBStore) -> list[str]:
    """Every file name in the data directory, at any depth."""
    return sorted(p.name for p in store.root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------- sessions


def test_a_session_is_there_in_the_next_turn_and_after_a_restart(store: TinyDBStore) -> None:
    session = a_session("alice")
    with store.person("alice") as tx:
        assert tx.get_session() is None
        tx.put_session(session)

    with store.person("alice") as tx:
        assert tx.get_session() == session

    restored = reopen(store).read_person("alice").session
    assert restored == session
    assert restored is not None
    assert restored.active is not None
    assert restored.active.step == "budget"
    assert restored.active.draft == {"account": "Acme", "answers": {"need": "yes"}, "contacts": ["Ann", "Bo"]}
    assert restored.active.deadline is not None
    assert restored.active.deadline.utcoffset() == timedelta(hours=2)
    assert restored.active.deadline.hour == 18
    assert [f.dialog for f in restored.paused] == ["call_plan", "onboarding"]
    assert restored.paused[0].draft == {"call": "Globex"}
    assert restored.paused[1].step is None
    assert restored.paused[1].deadline is None
    assert restored.data == {"locale": "en", "turns": 7}


def test_the_latest_session_wins(store: TinyDBStore) -> None:
    with store.person("alice") as tx:
        tx.put_session(a_session("alice", step="budget"))
    with store.person("alice") as tx:
        tx.put_session(a_session("alice", step="timeline"))
        tx.put_session(Session("alice", active=Frame("call_plan", step="goal", started_at=T0), updated_at=T0))

    restored = reopen(store).read_person("alice").session
    assert restored is not None
    assert restored.active is not None
    assert (restored.active.dialog, restored.active.step, restored.paused) == ("call_plan", "goal", ())


def test_an_error_inside_the_block_discards_all_of_its_changes(store: TinyDBStore) -> None:
    fill_person(store, "alice")
    before = store.read_person("alice")

    def failing_turn() -> None:
        with store.person("alice") as tx:
            tx.put_session(Session("alice", active=Frame("call_plan", step="goal")))
            tx.append_answer(an_answer("alice", "lost", "never stored"))
            tx.append_assessment(an_assessment("alice", "lost-assessment"))
            tx.put_account(Account("alice", "acme", "Renamed in a failed turn"))
            tx.mark_seen("slack:C1:lost")
            raise Interrupted

    with pytest.raises(Interrupted):
        failing_turn()

    assert store.read_person("alice") == before
    assert reopen(store).read_person("alice") == before
    with store.person("alice") as tx:
        assert not tx.seen("slack:C1:lost")
    # the next turn works normally
    with store.person("alice") as tx:
        tx.append_answer(an_answer("alice", "next", minute=9))
    assert [a.question for a in reopen(store).read_person("alice").answers] == ["q0", "q1", "q2", "next"]


def test_a_first_turn_that_fails_leaves_no_trace_of_the_person(store: TinyDBStore) -> None:
    def failing_turn() -> None:
        with store.person("bob") as tx:
            tx.put_session(a_session("bob"))
            raise Interrupted

    with pytest.raises(Interrupted):
        failing_turn()

    assert store.person_ids() == []
    assert reopen(store).read_person("bob").session is None


# ---------------------------------------------------------------------------------------- history


def test_answers_come_back_in_the_order_given_and_by_run(store: TinyDBStore) -> None:
    given = [("run-1", "need"), ("run-2", "need"), ("run-1", "budget"), ("run-1", "timeline")]
    with store.person("alice") as tx:
        for minute, (run_id, question) in enumerate(given[:2]):
            tx.append_answer(an_answer("alice", question, run_id=run_id, minute=minute))
    with store.person("alice") as tx:
        for minute, (run_id, question) in enumerate(given[2:], start=2):
            tx.append_answer(an_answer("alice", question, run_id=run_id, minute=minute))
        assert [(a.run_id, a.question) for a in tx.answers()] == given

    with reopen(store).person("alice") as tx:
        assert [(a.run_id, a.question) for a in tx.answers()] == given
        assert [a.question for a in tx.answers(run_id="run-1")] == ["need", "budget", "timeline"]
        assert [a.question for a in tx.answers(run_id="run-2")] == ["need"]
        assert tx.answers(run_id="run-3") == []
        assert tx.answers()[0] == an_answer("alice", "need", run_id="run-1", minute=0)


def test_assessments_filter_by_kind_and_account(store: TinyDBStore) -> None:
    with store.person("alice") as tx:
        tx.append_assessment(an_assessment("alice", "a1", kind="qualification", account="acme"))
        tx.append_assessment(an_assessment("alice", "a2", kind="stage", account="acme"))
    with store.person("alice") as tx:
        tx.append_assessment(an_assessment("alice", "a3", kind="qualification", account="globex"))
        tx.append_assessment(an_assessment("alice", "a4", kind="quiz", account=None))

    with reopen(store).person("alice") as tx:
        assert [a.id for a in tx.assessments()] == ["a1", "a2", "a3", "a4"]
        assert [a.id for a in tx.assessments(kind="qualification")] == ["a1", "a3"]
        assert [a.id for a in tx.assessments(account="acme")] == ["a1", "a2"]
        assert [a.id for a in tx.assessments(kind="qualification", account="globex")] == ["a3"]
        assert [a.id for a in tx.assessments(kind="quiz")] == ["a4"]
        assert tx.assessments(kind="stage", account="globex") == []
        assert tx.assessments()[0] == an_assessment("alice", "a1")


def test_an_assessment_id_is_stored_once_and_never_rewritten(store: TinyDBStore) -> None:
    first = an_assessment("alice", "a1")
    with store.person("alice") as tx:
        tx.append_assessment(first)

    def store_again() -> None:
        with store.person("alice") as tx:
            tx.append_assessment(replace(first, result={"fit": "poor", "score": 2}))

    with pytest.raises(StorageError, match="a1"):
        store_again()

    assert store.read_person("alice").assessments == (first,)
    assert reopen(store).read_person("alice").assessments == (first,)


# ---------------------------------------------------------------------------------------- upserts


def test_an_account_is_replaced_by_key_not_duplicated(store: TinyDBStore) -> None:
    with store.person("alice") as tx:
        tx.put_account(Account("alice", "acme", "Acme", created_at=T0))
        tx.put_account(Account("alice", "globex", "Globex", created_at=T0))
    with store.person("alice") as tx:
        tx.put_account(Account("alice", "acme", "ACME Corp", created_at=T0, info={"industry": "retail"}))

    accounts = reopen(store).read_person("alice").accounts
    assert [(a.key, a.name) for a in accounts] == [("acme", "ACME Corp"), ("globex", "Globex")]
    assert accounts[0].info == {"industry": "retail"}


def test_a_call_plan_is_replaced_by_id(store: TinyDBStore) -> None:
    call_at = T0.astimezone(BERLIN_SUMMER) + timedelta(days=2)
    with store.person("alice") as tx:
        tx.put_plan(CallPlan("p1", "alice", "acme", call_at, {"goal": "demo"}, T0))
        tx.put_plan(CallPlan("p2", "alice", "globex", None, {"goal": "intro"}, T0))
    with store.person("alice") as tx:
        tx.put_plan(CallPlan("p1", "alice", "acme", call_at, {"goal": "demo", "next": "pilot"}, T0))

    plans = reopen(store).read_person("alice").plans
    assert [(p.id, p.plan) for p in plans] == [
        ("p1", {"goal": "demo", "next": "pilot"}),
        ("p2", {"goal": "intro"}),
    ]
    assert plans[0].call_at == call_at
    assert plans[0].call_at is not None
    assert plans[0].call_at.utcoffset() == timedelta(hours=2)
    assert plans[1].call_at is None


def test_onboarding_progress_is_replaced_by_module(store: TinyDBStore) -> None:
    with store.person("newbie") as tx:
        tx.put_module_progress(ModuleProgress("basics", "started", updated_at=T0))
        tx.put_module_progress(ModuleProgress("stages", "started", updated_at=T0))
    with store.person("newbie") as tx:
        tx.put_module_progress(ModuleProgress("basics", "done", 4, 5, T0 + timedelta(hours=1)))

    progress = reopen(store).read_person("newbie").onboarding
    assert [(m.module, m.status, m.quiz_correct, m.quiz_total) for m in progress] == [
        ("basics", "done", 4, 5),
        ("stages", "started", 0, 0),
    ]


# ---------------------------------------------------------------------------------------- de-duplication


def test_a_processed_message_is_recognized_again_also_after_a_restart(store: TinyDBStore) -> None:
    key = "slack:C1:1700000000.000100"
    with store.person("slack:U1") as tx:
        assert not tx.seen(key)
        tx.mark_seen(key)
        tx.mark_seen(key)  # a retry marked twice is still one message
        assert tx.seen(key)

    with store.person("slack:U1") as tx:
        assert tx.seen(key)
    with reopen(store).person("slack:U1") as tx:
        assert tx.seen(key)
        assert not tx.seen("slack:C1:1700000000.000200")
        assert not tx.seen("")
    with reopen(store).person("slack:U2") as tx:
        assert not tx.seen(key)  # seen ids belong to one person


# ---------------------------------------------------------------------------------------- directory


def test_the_people_directory_adds_replaces_and_removes(store: TinyDBStore) -> None:
    alice = a_person("alice", "Alice", role=Role.MANAGER.value)
    bob = a_person("bob", "Bob", manager_id="alice", timezone="Europe/Berlin")
    sam = a_person("slack:U3", "Sam", manager_id="alice", identities=("telegram:333",), new_hire=True)
    dave = a_person("dave", "Dave", manager_id="erin")
    for person in (alice, bob, sam, dave):
        store.put_person(person)

    assert store.get_person("bob") == bob
    assert store.get_person("nobody") is None
    store.put_person(replace(bob, digest_time="07:30", nudge_lead_minutes=30))

    fresh = reopen(store)
    assert sorted(p.id for p in fresh.people()) == ["alice", "bob", "dave", "slack:U3"]
    assert fresh.get_person("bob") == replace(bob, digest_time="07:30", nudge_lead_minutes=30)
    assert fresh.get_person("slack:U3") == sam
    assert sorted(p.id for p in fresh.team_of("alice")) == ["bob", "slack:U3"]
    assert [p.id for p in fresh.team_of("erin")] == ["dave"]
    assert fresh.team_of("bob") == []

    assert fresh.remove_person("bob") is True
    assert fresh.remove_person("bob") is False
    assert store.get_person("bob") is None
    assert sorted(p.id for p in reopen(store).people()) == ["alice", "dave", "slack:U3"]


def test_find_person_ids_resolves_names_platform_ids_and_linked_identities(store: TinyDBStore) -> None:
    for person_id in ("ben", "slack:U1", "telegram:111", "slack:U2"):
        with store.person(person_id) as tx:
            tx.append_answer(an_answer(person_id, "need"))
    store.put_person(a_person("ana", "Ana", identities=("slack:U1", "telegram:111")))

    assert store.find_person_ids("ben") == ["ben"]
    assert store.find_person_ids("U2") == ["slack:U2"]
    assert store.find_person_ids("slack:U2") == ["slack:U2"]
    ana_everywhere = {"ana", "slack:U1", "telegram:111"}
    assert set(store.find_person_ids("U1")) == ana_everywhere
    assert set(store.find_person_ids("111")) == ana_everywhere
    assert set(store.find_person_ids("ana")) == ana_everywhere
    assert store.find_person_ids("zoe") == []
    assert store.find_person_ids("U3") == []


# ---------------------------------------------------------------------------------------- marks


def test_marks_are_set_read_and_listed_by_prefix(store: TinyDBStore) -> None:
    store.set_mark("digest:alice", T0, person_id="alice")
    store.set_mark("digest:bob", T0 + timedelta(days=7), person_id="bob")
    store.set_mark("nudge:alice:p1", T0.astimezone(BERLIN_SUMMER), person_id="alice")

    fresh = reopen(store)
    assert fresh.get_mark("digest:alice") == T0
    assert fresh.get_mark("nudge:alice:p1") == T0
    assert fresh.get_mark("nudge:alice:p1").utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]
    assert fresh.get_mark("digest:carol") is None
    assert fresh.marks("digest:") == {"digest:alice": T0, "digest:bob": T0 + timedelta(days=7)}
    assert set(fresh.marks()) == {"digest:alice", "digest:bob", "nudge:alice:p1"}
    assert fresh.marks("weekly:") == {}

    store.set_mark("digest:alice", T0 + timedelta(days=7), person_id="alice")
    assert reopen(store).get_mark("digest:alice") == T0 + timedelta(days=7)

    assert fresh.delete_marks("digest:") == 2
    assert fresh.delete_marks("digest:") == 0
    assert set(reopen(store).marks()) == {"nudge:alice:p1"}


def test_a_scheduled_run_is_claimed_once_per_due_time(store: TinyDBStore) -> None:
    due = T0
    other_process = reopen(store)
    assert store.claim_mark("digest:alice", due=due, at=due + timedelta(seconds=5)) is True
    assert other_process.claim_mark("digest:alice", due=due, at=due + timedelta(seconds=6)) is False
    assert store.claim_mark("digest:alice", due=due, at=due + timedelta(minutes=1)) is False
    assert reopen(store).get_mark("digest:alice") == due + timedelta(seconds=5)

    next_week = due + timedelta(days=7)
    assert other_process.claim_mark("digest:alice", due=next_week, at=next_week) is True
    assert store.claim_mark("digest:alice", due=next_week, at=next_week) is False
    assert reopen(store).get_mark("digest:alice") == next_week
    assert store.claim_mark("digest:bob", due=due, at=due) is True  # keys are independent


# ---------------------------------------------------------------------------------------- forget


def test_forget_person_erases_their_files_directory_entry_and_marks(store: TinyDBStore) -> None:
    for person_id in ("alice", "bob"):
        fill_person(store, person_id)
        store.put_person(a_person(person_id, person_id.title()))
    store.set_mark("digest:alice", T0, person_id="alice")
    store.set_mark("nudge:alice:plan-1", T0, person_id="alice")
    store.set_mark("digest:bob", T0, person_id="bob")
    store.set_mark("digest:alicia", T0, person_id="alicia")
    bob_before = store.read_person("bob")

    assert store.forget_person("alice") is True

    fresh = reopen(store)
    assert fresh.person_ids() == ["bob"]
    assert [p.name for p in store.people_dir.iterdir() if not p.name.startswith("p_bob.")] == []
    assert fresh.get_person("alice") is None
    assert set(fresh.marks()) == {"digest:bob", "digest:alicia"}
    assert fresh.read_person("alice").to_json() == {
        "person_id": "alice",
        "session": None,
        "answers": [],
        "assessments": [],
        "accounts": [],
        "plans": [],
        "onboarding": [],
    }
    with fresh.person("alice") as tx:
        assert not tx.seen("terminal:alice:1")
    assert fresh.read_person("bob") == bob_before
    assert fresh.get_person("bob") is not None

    assert fresh.forget_person("alice") is False
    assert fresh.forget_person("nobody") is False


def test_forget_erases_the_marks_of_a_slack_or_telegram_user(store: TinyDBStore) -> None:
    """Marks are keyed like ``digest:<person id>``; a platform person id has a ':' of its own."""
    fill_person(store, "slack:U1")
    store.set_mark("digest:slack:U1", T0, person_id="slack:U1")
    store.set_mark("nudge:slack:U1:plan-1", T0, person_id="slack:U1")
    store.set_mark("digest:slack:U2", T0, person_id="slack:U2")

    assert store.forget_person("slack:U1") is True

    assert set(reopen(store).marks()) == {"digest:slack:U2"}


def test_forget_leaves_no_file_named_after_the_person(store: TinyDBStore) -> None:
    fill_person(store, "slack:U1")

    store.forget_person("slack:U1")

    stem = tinydb_store.person_file_stem("slack:U1")
    assert [n for n in files_of(store) if stem in n] == []


# ---------------------------------------------------------------------------------------- backup


def test_a_backup_opens_as_a_store_with_the_same_data(
    store: TinyDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 1)
    fill_person(store, "alice")  # folded into alice's snapshot
    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 10**9)
    with store.person("alice") as tx:  # and more in her journal
        tx.append_answer(an_answer("alice", "after-compaction", minute=30))
    fill_person(store, "slack:U1", answers=2)
    with store.person("telegram:111") as tx:  # a person with a session only
        tx.put_session(a_session("telegram:111"))
    store.put_person(a_person("alice", "Alice", role=Role.MANAGER.value))
    store.put_person(a_person("slack:U1", "Sam", manager_id="alice", identities=("telegram:111",)))
    store.set_mark("digest:alice", T0, person_id="alice")
    store.set_mark("nudge:alice:plan-1", T0 + timedelta(hours=1), person_id="alice")
    target = tmp_path / "backup"

    counts = store.backup(str(target))

    assert counts == {"people": 3, "answers": 6, "assessments": 2, "directory": 2, "marks": 2}
    copy = TinyDBStore(target)
    assert copy.schema_version() == SCHEMA_VERSION
    assert copy.person_ids() == ["alice", "slack:U1", "telegram:111"]
    for person_id in store.person_ids():
        assert copy.read_person(person_id).to_json() == store.read_person(person_id).to_json()
    assert sorted(copy.people(), key=lambda p: p.id) == sorted(store.people(), key=lambda p: p.id)
    assert copy.marks() == store.marks()

    # the copy is independent of the original
    with store.person("alice") as tx:
        tx.append_answer(an_answer("alice", "later", minute=40))
    assert len(TinyDBStore(target).read_person("alice").answers) == 4


def test_a_backup_into_an_existing_empty_folder_works(store: TinyDBStore, tmp_path: Path) -> None:
    fill_person(store, "alice")
    target = tmp_path / "empty"
    target.mkdir()

    assert store.backup(str(target))["people"] == 1
    assert TinyDBStore(target).read_person("alice") == store.read_person("alice")


def test_a_backup_into_a_non_empty_folder_is_refused_and_leaves_it_untouched(
    store: TinyDBStore, tmp_path: Path
) -> None:
    fill_person(store, "alice")
    target = tmp_path / "backup"
    target.mkdir()
    (target / "notes.txt").write_text("my notes", encoding="utf-8")

    with pytest.raises(StorageError, match="is not empty: back up into a new or empty folder") as caught:
        store.backup(str(target))

    assert str(target) in str(caught.value)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "data"]  # no half-written copy


# ---------------------------------------------------------------------------------------- layout


def test_a_compacted_person_snapshot_is_a_plain_tinydb_database(
    store: TinyDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 2048)
    snapshot = store.people_dir / "p_alice.json"
    journal = store.people_dir / "p_alice.log"
    written = 0
    while not (snapshot.exists() and journal.stat().st_size == 0):
        with store.person("alice") as tx:
            tx.append_answer(an_answer("alice", f"q{written}", written, minute=written))
            tx.put_session(a_session("alice", step=f"q{written}"))
        written += 1
        assert written < 200, "the journal was never folded into the snapshot"
    assert written > 1

    # every snapshot file of alice's opens with TinyDB; together they hold her answers and session
    tables: dict[str, list[dict[str, object]]] = {}
    for path in sorted(store.people_dir.glob("p_alice*.json")):
        db = tinydb.TinyDB(path, storage=AtomicJSONStorage)
        try:
            for name in ("answers", "session"):
                tables.setdefault(name, []).extend(db.table(name).all())
            if hits := db.table("answers").search(tinydb.Query().question == "q1"):
                assert hits[0]["run_id"] == "run-1"
        finally:
            db.close()
    assert [r["question"] for r in tables["answers"]] == [f"q{n}" for n in range(written)]
    assert [r["value"] for r in tables["answers"]] == list(range(written))
    [session] = tables["session"]
    assert session["active"]["step"] == f"q{written - 1}"  # type: ignore[index]
    assert len(reopen(store).read_person("alice").answers) == written


# ---------------------------------------------------------------------------------------- person ids

ODD_IDS = [
    "alice",
    "john.smith",
    "slack:T1:U2",
    "telegram:111",
    "team/emea/bob",
    "Ana María",
    "a b",
    "a%20b",
    "Zoë",
    "山田太郎",
    "Анна",
    "..",
    "-x",
    "x" * 200,
]


def test_many_people_with_odd_ids_are_listed_and_kept_apart(store: TinyDBStore) -> None:
    for person_id in ODD_IDS:
        with store.person(person_id) as tx:
            tx.append_answer(an_answer(person_id, "who", person_id))

    fresh = reopen(store)
    assert fresh.person_ids() == sorted(ODD_IDS)
    for person_id in ODD_IDS:
        assert [a.value for a in fresh.read_person(person_id).answers] == [person_id]
    assert {p.parent for p in store.root.rglob("p_*.log")} == {store.people_dir}


@pytest.mark.parametrize("person_id", ["", "x" * 201], ids=["empty", "201-chars"])
def test_an_empty_or_overlong_id_is_refused(store: TinyDBStore, person_id: str) -> None:
    with pytest.raises(StorageError, match="1 to 200 characters"):
        store.read_person(person_id)
    with pytest.raises(StorageError, match="1 to 200 characters"):
        store.forget_person(person_id)
    assert store.person_ids() == []


@pytest.mark.parametrize(
    "person_id",
    ["slack:" + "U" * 194, "é" * 200, "Александра Константиновна Преображенская"],
    ids=["200-slack", "200-accented", "russian-full-name"],
)
def test_ids_within_the_200_character_limit_work_through_compaction(
    store: TinyDBStore, monkeypatch: pytest.MonkeyPatch, person_id: str
) -> None:
    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 1)  # every turn rewrites the snapshot too
    with store.person(person_id) as tx:
        tx.append_answer(an_answer(person_id, "need"))
    with store.person(person_id) as tx:
        tx.append_answer(an_answer(person_id, "budget"))

    fresh = reopen(store)
    assert fresh.person_ids() == [person_id]
    assert [a.question for a in fresh.read_person(person_id).answers] == ["need", "budget"]
