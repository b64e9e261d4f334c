"""Damaged or foreign data gets a clear error naming the file, and nothing stored is lost or replaced."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import storage.tinydb_store as tinydb_store
from storage.base import SCHEMA_VERSION, CorruptDataError, SchemaVersionError
from storage.files import AtomicJSONStorage, Journal
from storage.tinydb_store import TinyDBStore
from tests.storage.records import T0, a_person, a_session, an_answer, fill_person, reopen

GARBAGE = b'\x00\x07{"answers": {"1": oops, not json at all'


def turns(store: TinyDBStore, person_id: str, questions: list[str]) -> None:
    """One turn per question, each appending an answer and moving the session on."""
    for minute, question in enumerate(questions):
        with store.person(person_id) as tx:
            tx.append_answer(an_answer(person_id, question, minute=minute))
            tx.put_session(a_session(person_id, step=question))


def questions_of(store: TinyDBStore, person_id: str) -> list[str]:
    return [a.question for a in store.read_person(person_id).answers]


# ---------------------------------------------------------------------------------------- snapshot


def test_a_garbage_snapshot_is_reported_by_path_and_left_untouched(
    store: TinyDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 1)  # alice's data lands in her snapshot
    fill_person(store, "alice")
    fill_person(store, "bob")
    bob_before = store.read_person("bob")
    snapshot = store.people_dir / "p_alice.json"
    snapshot.write_bytes(GARBAGE)

    fresh = reopen(store)
    with pytest.raises(CorruptDataError) as caught:
        fresh.read_person("alice")
    assert str(snapshot) in str(caught.value)
    assert "not valid JSON" in str(caught.value)

    def a_new_turn() -> None:
        with fresh.person("alice") as tx:
            tx.append_answer(an_answer("alice", "new"))

    with pytest.raises(CorruptDataError, match=r"p_alice\.json"):
        a_new_turn()
    assert snapshot.read_bytes() == GARBAGE  # never replaced by an empty database
    assert fresh.read_person("bob") == bob_before
    assert "alice" in fresh.person_ids()


def test_a_snapshot_whose_table_is_not_an_object_is_reported(store: TinyDBStore) -> None:
    turns(store, "alice", ["need"])
    snapshot = store.people_dir / "p_alice.json"
    snapshot.write_text(json.dumps({"answers": ["not", "a", "table"]}), encoding="utf-8")

    with pytest.raises(CorruptDataError, match="table 'answers' is not a JSON object") as caught:
        reopen(store).read_person("alice")
    assert str(snapshot) in str(caught.value)


# ---------------------------------------------------------------------------------------- journal


def test_a_damaged_journal_line_with_intact_lines_after_it_is_reported_by_line(store: TinyDBStore) -> None:
    turns(store, "alice", ["need", "budget", "timeline", "authority"])
    turns(store, "bob", ["need"])
    journal = store.people_dir / "p_alice.log"
    raw = journal.read_bytes()
    lines = raw.split(b"\n")
    assert len(lines) == 5  # four entries and the empty rest after the last newline
    at = len(lines[0]) + 1 + 20  # a byte inside the JSON of line 2
    damaged = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]
    journal.write_bytes(damaged)

    with pytest.raises(CorruptDataError) as caught:
        reopen(store).read_person("alice")

    message = str(caught.value)
    assert str(journal) in message
    assert "line 2 is damaged" in message
    assert journal.read_bytes() == damaged  # nothing cut off: the lines after it are still there
    assert questions_of(reopen(store), "bob") == ["need"]


def test_a_torn_last_journal_line_is_cut_off_and_every_acknowledged_turn_kept(store: TinyDBStore) -> None:
    turns(store, "alice", ["need", "budget", "timeline"])
    journal = store.people_dir / "p_alice.log"
    intact = journal.read_bytes()
    line = Journal.encode({"seq": 4, "ops": [["answers", "4", an_answer("alice", "torn").to_json()]]})
    with journal.open("ab") as handle:  # a crash in the middle of an append
        handle.write(line[: len(line) // 2])

    fresh = reopen(store)
    data = fresh.read_person("alice")
    assert [a.question for a in data.answers] == ["need", "budget", "timeline"]
    assert data.session is not None
    assert data.session.active is not None
    assert data.session.active.step == "timeline"
    assert journal.read_bytes() == intact
    assert journal.stat().st_size == intact.rindex(b"\n") + 1

    with fresh.person("alice") as tx:
        tx.append_answer(an_answer("alice", "authority", minute=3))
    assert questions_of(reopen(store), "alice") == ["need", "budget", "timeline", "authority"]
    assert journal.read_bytes().startswith(intact)
    assert journal.read_bytes().count(b"\n") == 4


def test_a_crash_between_compaction_and_emptying_the_journal_applies_nothing_twice(
    store: TinyDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    turns(store, "alice", ["need", "budget", "timeline"])
    journal = store.people_dir / "p_alice.log"
    aside = tmp_path / "journal-before-compaction.log"
    shutil.copyfile(journal, aside)

    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 1)
    with store.person("alice") as tx:  # this turn folds the journal into the snapshot...
        tx.append_answer(an_answer("alice", "authority", minute=3))
        tx.put_session(a_session("alice", step="authority"))
    assert (store.people_dir / "p_alice.json").exists()
    assert journal.stat().st_size == 0
    shutil.copyfile(aside, journal)  # ...and "crashed" before the journal was emptied
    monkeypatch.setattr(tinydb_store, "COMPACT_MIN_BYTES", 10**9)

    fresh = reopen(store)
    data = fresh.read_person("alice")
    assert [a.question for a in data.answers] == ["need", "budget", "timeline", "authority"]
    assert data.session is not None
    assert data.session.active is not None
    assert data.session.active.step == "authority"  # not rolled back by the stale journal entries

    with fresh.person("alice") as tx:
        tx.append_answer(an_answer("alice", "champion", minute=4))
    assert questions_of(reopen(store), "alice") == ["need", "budget", "timeline", "authority", "champion"]


# ---------------------------------------------------------------------------------------- shared files


@pytest.mark.parametrize(
    ("name", "use"),
    [
        ("directory.json", lambda s: s.people()),
        ("directory.json", lambda s: s.get_person("alice")),
        ("directory.json", lambda s: s.put_person(a_person("carol", "Carol"))),
        ("scheduler.json", lambda s: s.marks()),
        ("scheduler.json", lambda s: s.claim_mark("digest:alice", due=T0, at=T0)),
    ],
    ids=["people", "get_person", "put_person", "marks", "claim_mark"],
)
def test_a_garbage_shared_file_is_reported_by_path_and_left_untouched(
    store: TinyDBStore, name: str, use: Callable[[TinyDBStore], object]
) -> None:
    fill_person(store, "alice")
    store.put_person(a_person("alice", "Alice"))
    store.set_mark("digest:bob", T0, person_id="bob")
    path = store.root / name
    path.write_bytes(GARBAGE)

    fresh = reopen(store)
    with pytest.raises(CorruptDataError) as caught:
        use(fresh)

    assert str(path) in str(caught.value)
    assert "backup" in str(caught.value)  # says how to recover
    assert path.read_bytes() == GARBAGE
    assert [a.question for a in fresh.read_person("alice").answers] == ["q0", "q1", "q2"]


# ---------------------------------------------------------------------------------------- schema


def test_data_of_a_newer_layout_is_refused_with_advice_to_upgrade(store: TinyDBStore) -> None:
    fill_person(store, "alice")
    schema = store.root / "schema.json"
    schema.write_text(json.dumps({"version": SCHEMA_VERSION + 1}), encoding="utf-8")
    people_before = {p.name: p.read_bytes() for p in store.people_dir.iterdir()}

    with pytest.raises(SchemaVersionError, match="upgrade Account Coach") as caught:
        reopen(store)

    assert str(store.root) in str(caught.value)
    assert f"version {SCHEMA_VERSION + 1}" in str(caught.value)
    assert json.loads(schema.read_text(encoding="utf-8")) == {"version": SCHEMA_VERSION + 1}
    assert {p.name: p.read_bytes() for p in store.people_dir.iterdir()} == people_before


def test_a_garbage_schema_file_is_reported_by_path(store: TinyDBStore) -> None:
    schema = store.root / "schema.json"
    schema.write_bytes(GARBAGE)

    with pytest.raises(CorruptDataError) as caught:
        reopen(store)

    assert str(schema) in str(caught.value)
    assert schema.read_bytes() == GARBAGE


def test_a_data_directory_without_schema_file_is_migrated_to_the_current_layout(store: TinyDBStore) -> None:
    fill_person(store, "alice")
    before = store.read_person("alice")
    schema = store.root / "schema.json"
    schema.unlink()

    fresh = reopen(store)

    assert json.loads(schema.read_text(encoding="utf-8")) == {"version": SCHEMA_VERSION}
    assert fresh.schema_version() == SCHEMA_VERSION
    assert fresh.read_person("alice") == before


def test_a_new_migration_runs_exactly_once(store: TinyDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_person(a_person("alice", "Alice"))
    fill_person(store, "alice")
    runs: list[Path] = []

    def rename_people(root: Path) -> None:
        """A layout change a future version might make: rewrite every directory entry."""
        runs.append(root)
        storage = AtomicJSONStorage(root / "directory.json")
        data = storage.read() or {}
        for row in data.get("rows", {}).values():
            row["name"] += " (migrated)"
        storage.write(data)

    new_version = SCHEMA_VERSION + 1
    monkeypatch.setattr(tinydb_store, "SCHEMA_VERSION", new_version)
    monkeypatch.setattr(
        tinydb_store, "MIGRATIONS", {**tinydb_store.MIGRATIONS, SCHEMA_VERSION: rename_people}
    )

    first = TinyDBStore(store.root)
    second = TinyDBStore(store.root)

    assert runs == [store.root]
    assert json.loads((store.root / "schema.json").read_text(encoding="utf-8")) == {"version": new_version}
    assert second.schema_version() == new_version
    person = second.get_person("alice")
    assert person is not None
    assert person.name == "Alice (migrated)"
    assert first.read_person("alice") == store.read_person("alice")
