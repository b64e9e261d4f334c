"""Managing people and teams: shared by ``coach team`` and the admins' ``/team`` command in chat.

A NAME is a terminal user name (``ana``) or a platform id (``slack:U123``, ``telegram:4567``; a bare Slack
id ``U123...`` is read as ``slack:U123...``). Timezones are IANA names (``Europe/Berlin``).
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.base import Person, Role, Store

LINK_TTL = timedelta(minutes=15)
USAGE = (
    "team add-manager NAME | team add-rep NAME --manager NAME [--new-hire] | team add-admin NAME | "
    "team remove NAME | team list | team set-timezone NAME ZONE | team set-digest NAME DAY HH:MM"
)
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class TeamError(ValueError):
    """A team command that cannot be done; the message says why and what to send instead."""


def person_key(name: str) -> str:
    """Normalize a NAME: ``U0123ABC`` -> ``slack:U0123ABC``; others as given (trimmed)."""
    name = name.strip()
    if re.fullmatch(r"[UW][A-Z0-9]{6,}", name):
        return f"slack:{name}"
    return name


def _get(store: Store, name: str) -> Person:
    person = store.get_person(person_key(name))
    if person is None:
        raise TeamError(f"{name!r} is not in the directory; add them first ({USAGE})")
    return person


def _upsert(store: Store, name: str, **changes: object) -> Person:
    key = person_key(name)
    if not key:
        raise TeamError("A NAME cannot be empty")
    person = store.get_person(key) or Person(id=key, name=key.split(":")[-1])
    person = replace(person, **changes)  # type: ignore[arg-type]
    store.put_person(person)
    return person


def run(store: Store, args: list[str]) -> str:
    """Do one team command; returns what to tell the person, raises TeamError on misuse."""
    if not args:
        raise TeamError(f"Usage: {USAGE}")
    command, rest = args[0], args[1:]
    if command == "list":
        return listing(store)
    if command in ("add-manager", "add-admin", "add-rep") and not rest:
        raise TeamError(f"{command} needs a NAME ({USAGE})")
    if command == "add-manager":
        person = _upsert(store, rest[0], role=Role.MANAGER.value)
        return f"{person.id} is a manager. Add reps with: team add-rep NAME --manager {person.id}"
    if command == "add-admin":
        person = _upsert(store, rest[0], role=Role.ADMIN.value)
        return f"{person.id} is an admin: they can see every team and manage people."
    if command == "add-rep":
        manager = None
        if "--manager" in rest:
            at = rest.index("--manager")
            if at + 1 >= len(rest):
                raise TeamError("--manager needs a NAME")
            manager = _get(store, rest[at + 1])
            if manager.role not in (Role.MANAGER.value, Role.ADMIN.value):
                raise TeamError(
                    f"{manager.id} is not a manager; make them one with: team add-manager {manager.id}"
                )
        person = _upsert(
            store,
            rest[0],
            role=Role.REP.value,
            manager_id=manager.id if manager else None,
            new_hire="--new-hire" in rest,
        )
        team = f" in {manager.id}'s team" if manager else " (no manager yet)"
        return f"{person.id} is a rep{team}{', flagged as a new hire' if person.new_hire else ''}."
    if command == "remove":
        if not rest:
            raise TeamError("team remove needs a NAME")
        key = person_key(rest[0])
        if not store.remove_person(key):
            raise TeamError(f"{rest[0]!r} is not in the directory")
        for member in store.team_of(key):
            store.put_person(replace(member, manager_id=None))
        return f"Removed {key} from the directory (their coaching data stays; `coach forget` erases it)."
    if command == "set-timezone":
        if len(rest) != 2:
            raise TeamError(
                "team set-timezone needs a NAME and a ZONE, e.g. team set-timezone ana Europe/Berlin"
            )
        try:
            ZoneInfo(rest[1])
        except (ZoneInfoNotFoundError, ValueError):
            raise TeamError(
                f"{rest[1]!r} is not a timezone; use an IANA name such as Europe/Berlin"
            ) from None
        person = _upsert(store, _get(store, rest[0]).id, timezone=rest[1])
        return f"{person.id}'s timezone is {rest[1]}."
    if command == "set-digest":
        if len(rest) != 3 or rest[1][:3].lower() not in DAYS or not re.fullmatch(r"\d{1,2}:\d{2}", rest[2]):
            raise TeamError(
                "team set-digest needs a NAME, a DAY and a time, e.g. team set-digest ana mon 08:00"
            )
        hour, minute = map(int, rest[2].split(":"))
        if hour > 23 or minute > 59:
            raise TeamError(f"{rest[2]} is not a time of day")
        person = _upsert(
            store,
            _get(store, rest[0]).id,
            digest_weekday=DAYS.index(rest[1][:3].lower()),
            digest_time=rest[2],
        )
        return f"{person.id} gets the digest on {rest[1][:3].title()} at {rest[2]} ({person.timezone})."
    raise TeamError(f"Unknown team command {command!r}; {USAGE}")


def listing(store: Store) -> str:
    """Everyone, grouped by manager."""
    people = sorted(store.people(), key=lambda p: p.id)
    if not people:
        return "Nobody is in the directory yet: team add-manager NAME, then team add-rep NAME --manager NAME."
    lines = []
    for person in people:
        extra = []
        if person.manager_id:
            extra.append(f"manager {person.manager_id}")
        if person.new_hire:
            extra.append("new hire")
        extra.append(person.timezone)
        if person.identities:
            extra.append("linked " + ", ".join(person.identities))
        lines.append(f"{person.id}: {person.role} ({'; '.join(extra)})")
    return "\n".join(lines)


def parse(text: str) -> list[str]:
    """Split a chat command's arguments like a shell would (quotes allowed)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise TeamError(f"Could not read that: {exc}") from None


def new_link_code(store: Store, person_id: str, now: datetime) -> str:
    """A one-time code to link this identity with another platform's (valid for 15 minutes)."""
    code = f"{secrets.randbelow(10**6):06d}"
    store.set_mark(f"link:{code}:{person_id}", now + LINK_TTL, person_id=person_id)
    return code


#: Wrong codes one identity may try within ``LINK_TTL`` before it must wait.
LINK_TRIES = 5
_RANK = {Role.ADMIN.value: 2, Role.MANAGER.value: 1, Role.REP.value: 0}


def use_link_code(store: Store, person_id: str, code: str, now: datetime) -> str:
    """Link ``person_id`` with the identity that asked for ``code``; returns the person id both now share.

    The identity with the higher role (or, if equal, the one that made the code) stays the person; the
    other becomes one of its identities, and its coaching history is moved over.
    """
    failures = f"linkfail:{person_id}:"
    recent = [at for at in store.marks(failures).values() if at > now - LINK_TTL]
    if len(recent) >= LINK_TRIES:
        raise TeamError(
            f"Too many wrong codes: wait {int(LINK_TTL.total_seconds() // 60)} minutes and try again"
        )
    prefix = f"link:{code.strip()}:"
    found = store.marks(prefix) if code.strip().isdigit() else {}
    valid = [key for key, expires in found.items() if expires >= now]
    if not valid:
        store.set_mark(f"{failures}{secrets.token_hex(4)}", now, person_id=person_id)
        raise TeamError("That code is unknown or expired: send /link on the other platform for a new one")
    for key in found:
        store.delete_mark(key)  # one use only
    origin = store.canonical_id(valid[0].removeprefix(prefix))
    here = store.canonical_id(person_id)
    if origin == here:
        raise TeamError("That code was made by this same identity: send /link CODE on the other platform")
    first, second = store.get_person(origin), store.get_person(here)
    if second is not None and _RANK.get(second.role, 0) > _RANK.get(first.role if first else "rep", 0):
        origin, here, first, second = here, origin, second, first
    person = first or Person(id=origin, name=origin.split(":")[-1])
    identities = (*person.identities, here, *(second.identities if second else ()))
    merged = replace(
        person,
        identities=tuple(dict.fromkeys(i for i in identities if i != origin)),
        manager_id=person.manager_id or (second.manager_id if second else None),
        new_hire=person.new_hire or bool(second and second.new_hire),
        timezone=person.timezone if person.timezone != "UTC" or second is None else second.timezone,
    )
    store.put_person(merged)
    if second is not None:
        store.remove_person(here)
    _move_history(store, here, origin)
    return origin


def _move_history(store: Store, source: str, target: str) -> None:
    """Move one identity's coaching data onto the person it was linked to (history is one)."""
    if source not in store.person_ids():
        return
    data = store.read_person(source)
    with store.person(target) as tx:
        keys = {a.key for a in tx.accounts()}
        ids = {a.id for a in tx.assessments()}
        plans = {p.id for p in tx.plans()}
        modules = {m.module: m for m in tx.onboarding()}
        if tx.get_session() is None and data.session is not None:
            tx.put_session(replace(data.session, person_id=target))
        for answer in data.answers:
            tx.append_answer(replace(answer, person_id=target))
        for assessment in data.assessments:
            if assessment.id not in ids:
                tx.append_assessment(replace(assessment, person_id=target))
        for account in data.accounts:
            if account.key not in keys:
                tx.put_account(replace(account, person_id=target))
        for plan in data.plans:
            if plan.id not in plans:
                tx.put_plan(replace(plan, person_id=target))
        for module in data.onboarding:
            if module.module not in modules or modules[module.module].status != "done":
                tx.put_module_progress(module)
    store.forget_person(source)
