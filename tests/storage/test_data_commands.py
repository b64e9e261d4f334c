"""``coach export``, ``coach forget`` and ``coach backup`` as a user runs them, on data the bot stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.tinydb_store import TinyDBStore
from tests.auxil.cli import run_coach
from tests.storage.records import T0, a_person, fill_person


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory with two people who talked to the coach, a directory and a schedule mark."""
    root = tmp_path / "data"
    store = TinyDBStore(root)
    fill_person(store, "alice", answers=3)
    fill_person(store, "slack:U1", answers=2)
    store.put_person(a_person("alice", "Alice", role="manager"))
    store.put_person(a_person("slack:U1", "Sam", manager_id="alice"))
    store.set_mark("digest:alice", T0, person_id="alice")
    return root


def files_in(root: Path) -> dict[str, bytes]:
    """Every data file's content, by path (lock files aside)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".lock"
    }


def test_export_prints_the_persons_answers_as_json(data_dir: Path) -> None:
    result = run_coach("export", "--user", "alice", "--data-dir", str(data_dir))

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["user"] == "alice"
    [exported] = document["people"]
    assert exported["person"]["name"] == "Alice"
    assert [a["question"] for a in exported["data"]["answers"]] == ["q0", "q1", "q2"]
    assert [a["value"] for a in exported["data"]["answers"]] == [0, 1, 2]
    assert exported["data"]["session"]["active"]["step"] == "budget"
    assert exported["data"]["accounts"][0]["name"] == "Acme"
    assert exported["marks"] == {"digest:alice": T0.isoformat()}


def test_export_finds_a_slack_user_by_id_in_the_data_dir_from_the_environment(data_dir: Path) -> None:
    result = run_coach("export", "--user", "U1", env={"COACH_DATA_DIR": str(data_dir)})

    assert result.returncode == 0, result.stderr
    [exported] = json.loads(result.stdout)["people"]
    assert exported["data"]["person_id"] == "slack:U1"
    assert [a["question"] for a in exported["data"]["answers"]] == ["q0", "q1"]


def test_export_of_a_slack_user_includes_their_schedule_marks(data_dir: Path) -> None:
    """Mark keys name the person they are about, like ``digest:<person id>``."""
    store = TinyDBStore(data_dir)
    store.set_mark("digest:slack:U1", T0, person_id="slack:U1")
    store.set_mark("digest:slack:U2", T0, person_id="slack:U2")

    result = run_coach("export", "--user", "U1", "--data-dir", str(data_dir))

    assert result.returncode == 0, result.stderr
    [exported] = json.loads(result.stdout)["people"]
    assert exported["marks"] == {"digest:slack:U1": T0.isoformat()}


def test_export_of_an_unknown_user_exits_1_and_names_who_has_data(data_dir: Path) -> None:
    result = run_coach("export", "--user", "zoe", "--data-dir", str(data_dir))

    assert result.returncode == 1
    assert result.stdout == ""
    assert "no data stored for 'zoe'" in result.stderr
    assert "alice" in result.stderr
    assert "slack:U1" in result.stderr
    assert "Traceback" not in result.stderr


def test_forget_without_yes_on_a_pipe_erases_nothing(data_dir: Path) -> None:
    before = files_in(data_dir)

    result = run_coach("forget", "--user", "alice", "--data-dir", str(data_dir), input="y\n")

    assert result.returncode == 1
    assert "Nothing was erased" in result.stderr
    assert "Re-run with --yes" in result.stderr
    assert files_in(data_dir) == before
    assert len(TinyDBStore(data_dir).read_person("alice").answers) == 3


def test_forget_with_yes_erases_the_person(data_dir: Path) -> None:
    result = run_coach("forget", "--user", "alice", "--yes", "--data-dir", str(data_dir))

    assert result.returncode == 0, result.stderr
    assert "Erased: alice (3 answers, 1 assessments, 1 accounts)." in result.stdout
    again = run_coach("export", "--user", "alice", "--data-dir", str(data_dir))
    assert again.returncode == 1
    assert "no data stored for 'alice'" in again.stderr
    store = TinyDBStore(data_dir)
    assert store.person_ids() == ["slack:U1"]
    assert store.get_person("alice") is None
    assert store.marks() == {}
    assert len(store.read_person("slack:U1").answers) == 2


def test_backup_prints_counts_and_the_copy_holds_the_same_data(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup"

    result = run_coach("backup", str(target), "--data-dir", str(data_dir))

    assert result.returncode == 0, result.stderr
    assert (
        "Backed up 2 people (5 answers, 2 assessments), 2 directory entries and 1 schedule marks"
        in result.stdout
    )
    assert f"--data-dir {target}" in result.stdout
    original, copy = TinyDBStore(data_dir), TinyDBStore(target)
    assert copy.person_ids() == original.person_ids()
    for person_id in original.person_ids():
        assert copy.read_person(person_id).to_json() == original.read_person(person_id).to_json()
    assert sorted(copy.people(), key=lambda p: p.id) == sorted(original.people(), key=lambda p: p.id)
    assert copy.marks() == original.marks()
    exported = run_coach("export", "--user", "alice", "--data-dir", str(target))
    assert exported.returncode == 0, exported.stderr


def test_backup_into_a_non_empty_folder_exits_1_with_a_message(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")

    result = run_coach("backup", str(target), "--data-dir", str(data_dir))

    assert result.returncode == 1
    assert "is not empty: back up into a new or empty folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert (target / "keep.txt").read_text(encoding="utf-8") == "mine"
