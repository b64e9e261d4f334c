"""People and teams: ``coach team`` as an admin runs it in the terminal, ``/team`` in chat (admins only),
and ``/link``, which makes a Slack and a Telegram identity one person with one history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine import Engine
from storage.base import Person, Role
from storage.tinydb_store import TinyDBStore
from tests.auxil.cli import run_coach
from tests.team_data import QUALIFY_ANSWERS, QUALIFY_TOTAL, Chat

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EARLIER = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def team(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = run_coach("team", *args, "--data-dir", str(data_dir))
    return result.returncode, result.stdout.strip(), result.stderr.strip()


# --- coach team, in the terminal ----------------------------------------------------------------------------
def test_coach_team_builds_a_team_and_lists_it(tmp_path: Path) -> None:
    data = tmp_path / "data"

    code, out, _ = team(data, "add-manager", "maria")
    assert code == 0
    assert out == "maria is a manager. Add reps with: team add-rep NAME --manager maria"

    code, out, _ = team(data, "add-rep", "ana", "--manager", "maria", "--new-hire")
    assert code == 0
    assert out == "ana is a rep in maria's team, flagged as a new hire."

    code, out, _ = team(data, "set-timezone", "maria", "Europe/Berlin")
    assert (code, out) == (0, "maria's timezone is Europe/Berlin.")

    code, out, _ = team(data, "list")
    assert code == 0
    assert out.splitlines() == [
        "ana: rep (manager maria; new hire; UTC)",
        "maria: manager (Europe/Berlin)",
    ]


def test_coach_team_refuses_a_bad_timezone_and_an_unknown_manager(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = TinyDBStore(data)
    store.put_person(Person(id="maria", name="maria", role=Role.MANAGER.value))
    store.put_person(Person(id="ana", name="ana", manager_id="maria"))
    store.close()

    code, out, err = team(data, "set-timezone", "ana", "Mars/Olympus")
    assert code == 1
    assert out == ""
    assert err == "error: 'Mars/Olympus' is not a timezone; use an IANA name such as Europe/Berlin"

    code, out, err = team(data, "add-rep", "bruno", "--manager", "ghost")
    assert code == 1
    assert err.startswith("error: 'ghost' is not in the directory; add them first")

    store = TinyDBStore(data)  # none of the refused commands changed anything
    assert sorted((p.id, p.role, p.manager_id, p.timezone) for p in store.people()) == [
        ("ana", "rep", "maria", "UTC"),
        ("maria", "manager", None, "UTC"),
    ]


def test_coach_team_set_timezone_of_a_misspelt_name_adds_nobody(tmp_path: Path) -> None:
    """A typo in NAME must not create a new person: the real one keeps UTC and the admin is not told."""
    data = tmp_path / "data"
    store = TinyDBStore(data)
    store.put_person(Person(id="maria", name="maria", role=Role.MANAGER.value))
    store.close()

    code, _, err = team(data, "set-timezone", "mraia", "Europe/Berlin")

    assert code == 1
    assert "'mraia' is not in the directory" in err
    assert [p.id for p in TinyDBStore(data).people()] == ["maria"]


# --- /team in chat ------------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> TinyDBStore:
    store = TinyDBStore(tmp_path / "data")
    store.put_person(Person(id="boss", name="Boss", role=Role.ADMIN.value, created_at=EARLIER))
    store.put_person(Person(id="ana", name="Ana", created_at=EARLIER))
    return store


def test_team_in_chat_is_refused_for_a_rep(store: TinyDBStore) -> None:
    ana = Chat(Engine(store), "ana", T0)

    shown = ana.send("/team add-admin ana", at=T0)

    assert shown == "Managing people and teams is for admins; ask yours to do it. Nothing was changed."
    person = store.get_person("ana")
    assert person is not None
    assert person.role == Role.REP.value
    assert ana.send("/team list").startswith("Managing people and teams is for admins")


def test_team_in_chat_works_for_an_admin(store: TinyDBStore) -> None:
    boss = Chat(Engine(store), "boss", T0)

    assert boss.send("/team add-manager maria", at=T0) == (
        "maria is a manager. Add reps with: team add-rep NAME --manager maria"
    )
    assert boss.send("/team add-rep ana --manager maria --new-hire") == (
        "ana is a rep in maria's team, flagged as a new hire."
    )
    assert boss.send("/team add-rep U0BRUNO1 --manager maria") == "slack:U0BRUNO1 is a rep in maria's team."
    assert boss.send("/team set-digest maria fri 16:30") == "maria gets the digest on Fri at 16:30 (UTC)."
    assert "is not a timezone" in boss.send("/team set-timezone maria Mars/Olympus")
    assert boss.send("/team list").splitlines() == [
        "ana: rep (manager maria; new hire; UTC)",
        "boss: admin (UTC)",
        "maria: manager (UTC)",
        "slack:U0BRUNO1: rep (manager maria; UTC)",
    ]
    maria = store.get_person("maria")
    assert maria is not None
    assert (maria.digest_weekday, maria.digest_time) == (4, "16:30")


def test_team_errors_in_chat_keep_ids_as_typed(store: TinyDBStore) -> None:
    """Slack ids are case-sensitive: the advice must name ``slack:U0REP001``, not ``slack:u0rep001``."""
    store.put_person(Person(id="slack:U0REP001", name="U0REP001", created_at=EARLIER))
    boss = Chat(Engine(store), "boss", T0)

    shown = boss.send("/team add-rep bruno --manager slack:U0REP001", at=T0)

    assert "slack:U0REP001 is not a manager" in shown
    assert "team add-manager slack:U0REP001" in shown
    assert "Nothing was changed." in shown
    shown = boss.send("/team set-timezone bruno Mars/Olympus")
    assert "'Mars/Olympus' is not a timezone; use an IANA name such as Europe/Berlin" in shown


# --- /link --------------------------------------------------------------------------------------------------
def link_code(shown: str) -> str:
    match = re.search(r"Your link code is (\d{6})\.", shown)
    assert match, shown
    return match.group(1)


def test_link_makes_one_person_with_one_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = TinyDBStore(data)
    engine = Engine(store)
    slack = Chat(engine, "slack:U1", T0)
    telegram = Chat(engine, "telegram:5", T0)

    shown = slack.send("/link", at=T0)
    assert "send /link" in shown
    assert "within 15 minutes" in shown
    code = link_code(shown)

    assert telegram.send(f"/link {code}", at=T0 + timedelta(minutes=14)) == (
        "Linked. This identity now shares its coaching history with slack:U1."
    )

    # A qualification started on Slack goes on from Telegram: same session, same question numbers.
    first, rest = QUALIFY_ANSWERS[:5], QUALIFY_ANSWERS[5:]
    slack.send("/qualify Globex", at=T0 + timedelta(minutes=20))
    for answer in first:
        shown = slack.send(answer)
    assert "question 6 of 29" in shown
    assert "question 6 of 29" in telegram.send("/status", at=slack.now + timedelta(minutes=1))
    telegram.now = slack.now + timedelta(minutes=2)
    for answer in rest:
        shown = telegram.send(answer)
    assert "Qualification of Globex" in shown
    assert f"Total: {QUALIFY_TOTAL}" in shown
    assert "Globex: qualification 78.6%" in slack.send("/accounts", at=telegram.now + timedelta(minutes=1))
    store.close()

    result = run_coach("export", "--user", "U1", "--data-dir", str(data))

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assessments = [a for p in document["people"] for a in p["data"]["assessments"]]
    answers = [a for p in document["people"] for a in p["data"]["answers"]]
    assert len(assessments) == 1, "one qualification, stored once"
    assert assessments[0]["person_id"] == "slack:U1"
    assert len(answers) == len(QUALIFY_ANSWERS)
    assert {a["person_id"] for a in answers} == {"slack:U1"}
    person = next(p["person"] for p in document["people"] if p["person"])
    assert person["id"] == "slack:U1"
    assert person["identities"] == ["telegram:5"]


def test_link_refuses_an_expired_code(store: TinyDBStore) -> None:
    engine = Engine(store)
    slack = Chat(engine, "slack:U1", T0)
    telegram = Chat(engine, "telegram:5", T0)
    code = link_code(slack.send("/link", at=T0))

    shown = telegram.send(f"/link {code}", at=T0 + timedelta(minutes=16))

    assert shown == (
        "That code is unknown or expired: send /link on the other platform for a new one. "
        "Nothing was changed."
    )
    assert store.canonical_id("telegram:5") == "telegram:5"
    slack.send("/qualify Globex")
    assert "No dialog is open." in telegram.send("/status")


def test_link_refuses_a_code_used_before(store: TinyDBStore) -> None:
    engine = Engine(store)
    slack = Chat(engine, "slack:U1", T0)
    code = link_code(slack.send("/link", at=T0))
    assert "Linked." in Chat(engine, "telegram:5", T0).send(f"/link {code}", at=T0 + timedelta(minutes=1))

    shown = Chat(engine, "telegram:6", T0).send(f"/link {code}", at=T0 + timedelta(minutes=2))

    assert shown.startswith("That code is unknown or expired")
    assert store.canonical_id("telegram:6") == "telegram:6"
    person = store.get_person("slack:U1")
    assert person is not None
    assert person.identities == ("telegram:5",)


def test_link_refuses_a_code_from_the_same_identity(store: TinyDBStore) -> None:
    slack = Chat(Engine(store), "slack:U1", T0)
    code = link_code(slack.send("/link", at=T0))

    shown = slack.send(f"/link {code}")

    assert shown.startswith("That code was made by this same identity")
    assert store.canonical_id("slack:U1") == "slack:U1"


def test_a_manager_stays_a_manager_whichever_side_made_the_link_code(store: TinyDBStore) -> None:
    """The admin set the manager up by their Telegram id; the manager asks for the code on Slack and
    enters it on Telegram. Afterwards /digest must still show their team, on both platforms."""
    store.put_person(Person(id="telegram:5", name="Maria", role=Role.MANAGER.value, created_at=EARLIER))
    store.put_person(Person(id="bruno", name="Bruno", manager_id="telegram:5", created_at=EARLIER))
    engine = Engine(store)
    slack = Chat(engine, "slack:U0MARIA1", T0)
    telegram = Chat(engine, "telegram:5", T0)
    assert "Bruno" in telegram.send("/digest", at=T0)

    code = link_code(slack.send("/link", at=T0 + timedelta(minutes=1)))
    assert "Linked." in telegram.send(f"/link {code}", at=T0 + timedelta(minutes=2))

    for chat in (telegram, slack):
        shown = chat.send("/digest", at=T0 + timedelta(minutes=3))
        assert "The digest is for managers" not in shown
        assert "Bruno" in shown


def test_history_from_both_platforms_before_linking_becomes_one(store: TinyDBStore) -> None:
    """The link code promises "your coaching history then becomes one": accounts qualified on either
    platform before linking are all there afterwards."""
    engine = Engine(store)
    slack = Chat(engine, "slack:U1", T0)
    telegram = Chat(engine, "telegram:5", T0)
    slack.qualify("Globex")
    telegram.qualify("Initech")

    code = link_code(slack.send("/link"))
    assert "Linked." in telegram.send(f"/link {code}", at=slack.now + timedelta(minutes=1))

    for chat in (slack, telegram):
        shown = chat.send("/accounts", at=telegram.now + timedelta(minutes=1))
        assert "Globex" in shown
        assert "Initech" in shown
