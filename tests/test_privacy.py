"""Who sees whose data, over the whole matrix of roles: an admin, two managers with two reps each, and a rep
without a manager. Everyone qualified one account and planned one call through the engine (their own
account names, so any leak shows as a name where it does not belong)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import team_admin
from bot.access import can_see, visible_reps
from bot.coaching.digest import chart_data
from bot.engine import Engine, TeamAccess
from bot.messages import Reply
from storage.base import Person, Role
from storage.tinydb_store import TinyDBStore
from tests.team_data import KB, Chat, plain

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOINED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)  # when everyone looks: all the work above is in this week

# id: (name, role, manager, account)
PEOPLE: dict[str, tuple[str, Role, str | None, str]] = {
    "ottilie": ("Ottilie", Role.ADMIN, None, "Wonka"),
    "maxima": ("Maxima", Role.MANAGER, None, "Tyrell"),
    "norberto": ("Norberto", Role.MANAGER, None, "Cyberdyne"),
    "amara": ("Amara", Role.REP, "maxima", "Globex"),
    "bastian": ("Bastian", Role.REP, "maxima", "Initech"),
    "corvin": ("Corvin", Role.REP, "norberto", "Umbrella"),
    "delphine": ("Delphine", Role.REP, "norberto", "Hooli"),
    "evander": ("Evander", Role.REP, None, "Soylent"),
}
REPS = ("amara", "bastian", "corvin", "delphine", "evander")
STRANGER = "slack:U0STRANGE"  # talks to the coach but is not in the directory
EVERYONE = tuple(PEOPLE)

#: The rules, spelt out: whose data each viewer may read.
MAY_SEE: dict[str, set[str]] = {
    "ottilie": set(EVERYONE),
    "maxima": {"maxima", "amara", "bastian"},
    "norberto": {"norberto", "corvin", "delphine"},
    **{rep: {rep} for rep in REPS},
    STRANGER: set(),
}


def name(person_id: str) -> str:
    return PEOPLE[person_id][0]


def account_of(person_id: str) -> str:
    return PEOPLE[person_id][3]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyDBStore]:
    store = TinyDBStore(tmp_path_factory.mktemp("privacy") / "data")
    for person_id, (shown, role, manager, _) in PEOPLE.items():
        store.put_person(
            Person(id=person_id, name=shown, role=role.value, manager_id=manager, created_at=JOINED)
        )
    engine = Engine(store)
    for n, person_id in enumerate((*EVERYONE, STRANGER)):
        chat = Chat(engine, person_id, T0 + timedelta(minutes=n))
        company = account_of(person_id) if person_id in PEOPLE else "Stark"
        assert "Qualification of" in chat.qualify(company)
        assert "Call plan:" in chat.plan(company, f"2026-03-0{4 + n % 4} 10:00")
    yield store
    store.close()


@pytest.fixture(scope="module")
def engine(store: TinyDBStore) -> Engine:
    return Engine(store)


_ASKED = itertools.count(1000)  # message ids after those of the set-up (a repeated id is a re-delivery)


def ask(engine: Engine, person_id: str, text: str) -> list[Reply]:
    chat = Chat(engine, person_id, LATER, count=next(_ASKED))
    chat.send(text, at=LATER)
    return chat.last


# --- the rules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("viewer_id", [*EVERYONE, STRANGER])
def test_can_see_and_team_access_follow_the_rules(store: TinyDBStore, viewer_id: str) -> None:
    people = store.people()
    viewer = store.get_person(viewer_id)
    access = TeamAccess(store, viewer_id, KB, LATER)

    for owner_id in EVERYONE:
        allowed = owner_id in MAY_SEE[viewer_id]
        assert can_see(viewer, owner_id, people) is allowed, f"{viewer_id} -> {owner_id}"
        if allowed:
            data = access.data(owner_id)
            assert data.person_id == owner_id
            assert [a.name for a in data.accounts] == [account_of(owner_id)]
            assert len(data.assessments) == 1
            assert len(data.plans) == 1
        else:
            with pytest.raises(PermissionError):
                access.data(owner_id)
    assert {p.id for p in access.visible()} == MAY_SEE[viewer_id] - {viewer_id}
    assert {p.id for p in visible_reps(viewer, people)} == MAY_SEE[viewer_id] - {viewer_id}


def test_nobody_sees_a_stranger_and_a_stranger_sees_nobody(store: TinyDBStore) -> None:
    people = store.people()
    for viewer_id in EVERYONE:
        expected = viewer_id == "ottilie"  # an admin sees everyone's data, in the directory or not
        assert can_see(store.get_person(viewer_id), STRANGER, people) is expected
    assert not can_see(None, "amara", people)
    assert not can_see(None, STRANGER, people), "not even their own, without a directory entry"


def test_a_changed_team_changes_who_sees(store: TinyDBStore) -> None:
    people = {p.id: p for p in store.people()}
    moved = [*(p for k, p in people.items() if k != "amara"), replace(people["amara"], manager_id="norberto")]
    assert not can_see(people["maxima"], "amara", moved)
    assert can_see(people["norberto"], "amara", moved)

    demoted = [*(p for k, p in people.items() if k != "maxima"), replace(people["maxima"], role="rep")]
    assert not can_see(demoted[-1], "amara", demoted), "a manager made a rep no longer sees the old team"


# --- /digest through the engine -----------------------------------------------------------------------------
REP_LINE = re.compile(r"^(\w+)(?: \(new hire\))?: \d+ dialogs? completed", re.MULTILINE)


def digest_of(engine: Engine, viewer_id: str) -> tuple[str, list[Reply]]:
    replies = ask(engine, viewer_id, "/digest")
    return plain(replies), replies


@pytest.mark.parametrize(
    ("manager", "team"), [("maxima", ("amara", "bastian")), ("norberto", ("corvin", "delphine"))]
)
def test_a_managers_digest_names_exactly_their_reps(
    engine: Engine, manager: str, team: tuple[str, ...]
) -> None:
    shown, replies = digest_of(engine, manager)

    assert sorted(REP_LINE.findall(shown)) == sorted(name(r) for r in team)
    for rep in team:
        assert f"Qualified {account_of(rep)}: 110/140 (78.6%)" in shown
    outsiders = [p for p in EVERYONE if p not in team]
    for other in outsiders:
        assert account_of(other) not in shown, f"{account_of(other)} in {manager}'s digest"
        if other != manager:  # the heading names the manager's own team
            assert name(other) not in shown, f"{name(other)} in {manager}'s digest"
    assert set(chart_data(replies[0].values["digest"])) == {name(r) for r in team}
    assert [a.mime_type for a in replies[0].attachments] == ["image/png"]


def test_an_admins_digest_names_every_rep(engine: Engine) -> None:
    shown, replies = digest_of(engine, "ottilie")

    assert sorted(REP_LINE.findall(shown)) == sorted(name(r) for r in REPS)
    for rep in REPS:
        assert f"Qualified {account_of(rep)}" in shown
    for manager in ("maxima", "norberto"):
        assert account_of(manager) not in shown, "managers are not reps"
    assert set(chart_data(replies[0].values["digest"])) == {name(r) for r in REPS}


@pytest.mark.parametrize("rep", [*REPS, STRANGER])
def test_a_rep_gets_a_polite_refusal_and_nobody_elses_data(engine: Engine, rep: str) -> None:
    shown, replies = digest_of(engine, rep)

    assert shown.startswith("The digest is for managers: it summarizes a team's week.")
    assert all(not r.attachments for r in replies)
    for other in EVERYONE:
        if other != rep:
            assert name(other) not in shown
            assert account_of(other) not in shown


# --- a rep's own views --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rep", REPS)
def test_accounts_and_history_show_only_the_reps_own_accounts(engine: Engine, rep: str) -> None:
    own = account_of(rep)
    others = [account_of(p) for p in EVERYONE if p != rep]

    accounts = plain(ask(engine, rep, "/accounts"))
    assert accounts.startswith("Your accounts (1)")
    assert own in accounts
    assert not [a for a in others if a in accounts]

    history = plain(ask(engine, rep, f"/history {own}"))
    assert "110/140" in history
    assert not [a for a in others if a in history]

    for other in others:
        shown = plain(ask(engine, rep, f"/history {other}"))
        assert shown.startswith(f'You have no account named "{other}"'), shown
        assert "110/140" not in shown
        assert "%" not in shown
        assert not [a for a in others if a != other and a in shown]

    plans = plain(ask(engine, rep, "/plans"))
    assert own in plans
    assert not [a for a in others if a in plans]


def test_team_admin_listing_is_for_admins_only(engine: Engine, store: TinyDBStore) -> None:
    """``/team list`` names everyone: a manager or a rep asking for it gets a refusal, not the list."""
    for viewer in ("maxima", "amara"):
        shown = plain(ask(engine, viewer, "/team list"))
        assert shown.startswith("Managing people and teams is for admins")
        assert not [name(p) for p in EVERYONE if p != viewer and p in shown]
    assert plain(ask(engine, "ottilie", "/team list")) == team_admin.listing(store)


@pytest.mark.parametrize("viewer_id", [*EVERYONE, STRANGER])
def test_portfolio_shows_exactly_the_accounts_the_viewer_may_see(engine: Engine, viewer_id: str) -> None:
    """``/portfolio`` is the other view over a team: nobody has prioritized anything, so it lists the
    accounts still to place, which must be those of the people the viewer may see."""
    shown = plain(ask(engine, viewer_id, "/portfolio"))

    expected = {account_of(p) for p in MAY_SEE[viewer_id]} | ({"Stark"} if viewer_id == STRANGER else set())
    everything = {account_of(p) for p in EVERYONE} | {"Stark"}
    assert {a for a in everything if a in shown} == expected, shown
