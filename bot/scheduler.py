"""Scheduled messages: each manager's weekly digest at their local time, and reps' pre-call nudges.

The schedule is computed from stored data on every tick, never held in memory: a digest is due at the
manager's digest weekday and time in their timezone (``zoneinfo`` handles daylight saving); a nudge is due
``nudge_lead_minutes`` before a planned call. Each is claimed in storage (``claim_mark``) before it is sent,
so it goes out once whatever the number of workers or restarts, and a digest missed while the bot was down
is sent on the next tick after start. A failed delivery gives the claim back so the next tick retries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta

from bot.dialogs.base import zone_of
from bot.dialogs.team import DIGEST_DAYS, digest_replies
from bot.engine import Engine, TeamAccess
from bot.messages import Reply
from storage.base import CallPlan, Person, Role, utcnow

log = logging.getLogger(__name__)

#: Sends replies to a person; returns False if this worker cannot reach them (another platform).
Deliver = Callable[[Person, Sequence[Reply]], bool]
#: Whether this worker can reach a person at all (checked before claiming, so it never claims in vain).
Reachable = Callable[[Person], bool]


def last_digest_due(person: Person, now: datetime) -> datetime:
    """The most recent digest time at or before ``now``, in UTC (the weekday and time are local)."""
    tz = zone_of(person)
    local = now.astimezone(tz)
    hour, minute = (int(x) for x in person.digest_time.split(":"))
    day = local.date() - timedelta(days=(local.weekday() - person.digest_weekday) % 7)
    due = datetime.combine(day, time(hour, minute), tzinfo=tz)
    if due > local:
        due = datetime.combine(day - timedelta(days=7), time(hour, minute), tzinfo=tz)
    return due.astimezone(UTC)


class Scheduler:
    """Sends what is due; ``tick()`` is one pass, ``run()`` ticks every ``interval`` seconds until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        deliver: Deliver,
        reachable: Reachable,
        clock: Callable[[], datetime] = utcnow,
        digest_days: int = DIGEST_DAYS,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.deliver = deliver
        self.reachable = reachable
        self.clock = clock
        self.digest_days = digest_days

    def tick(self) -> dict[str, int]:
        """Send every digest and nudge that is due now; returns how many of each went out."""
        now = self.clock()
        sent = {"digests": 0, "nudges": 0}
        people = {p.id: p for p in self.store.people()}
        for person in people.values():
            if person.role in (Role.MANAGER, Role.ADMIN) and self.reachable(person):
                sent["digests"] += self._digest(person, now)
        for person_id in self.store.person_ids():
            person = people.get(person_id) or Person(id=person_id, name=person_id.split(":")[-1])
            if self.reachable(person):
                sent["nudges"] += self._nudges(person, now)
        return sent

    def _claim(self, key: str, *, due: datetime, now: datetime, person: Person) -> datetime | bool | None:
        before = self.store.get_mark(key)
        if not self.store.claim_mark(key, due=due, at=now, person_id=person.id):
            return False
        return before

    def _send(self, key: str, before: datetime | None, person: Person, replies: Sequence[Reply]) -> bool:
        try:
            if self.deliver(person, replies):
                return True
        except Exception:
            log.exception("could not deliver %s to %s; it will be retried", key.split(":")[0], person.id)
        if before is None:  # give the claim back, so the next tick retries
            self.store.delete_mark(key)
        else:
            self.store.set_mark(key, before, person_id=person.id)
        return False

    def _digest(self, manager: Person, now: datetime) -> int:
        due = last_digest_due(manager, now)
        key = f"digest:{manager.id}"
        if manager.created_at > due and self.store.get_mark(key) is None:
            self.store.set_mark(key, due, person_id=manager.id)  # no digest for the week before they joined
            return 0
        before = self._claim(key, due=due, now=now, person=manager)
        if before is False:
            return 0
        reader = TeamAccess(self.store, manager.id, self.engine.knowledge, now)
        replies = digest_replies(reader, days=self.digest_days)
        return int(self._send(key, before if isinstance(before, datetime) else None, manager, replies))

    def _nudges(self, person: Person, now: datetime) -> int:
        lead = timedelta(minutes=person.nudge_lead_minutes)
        with self.store.person(person.id) as tx:
            plans = [p for p in tx.plans() if p.call_at is not None and p.call_at - lead <= now < p.call_at]
            names = {a.key: a.name for a in tx.accounts()}
        sent = 0
        for plan in plans:
            assert plan.call_at is not None
            key = f"nudge:{plan.id}"
            before = self._claim(key, due=plan.call_at - lead, now=now, person=person)
            if before is False:
                continue
            reply = nudge(plan, names.get(plan.account, plan.account), person)
            sent += int(self._send(key, before if isinstance(before, datetime) else None, person, [reply]))
        return sent

    def run(self, stop: threading.Event, *, interval: float = 60.0) -> None:
        """Tick until ``stop`` is set (a failed tick is logged and the next one tries again)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("a scheduler tick failed")
            stop.wait(interval)


def nudge(plan: CallPlan, account: str, person: Person) -> Reply:
    """The pre-call reminder: the plan's objective, stakeholders and open questions, or a nudge to plan."""
    call_at = plan.call_at.astimezone(zone_of(person)) if plan.call_at else None
    values = {"plan": plan.plan, "account": account, "call_at": call_at}
    template = "digest/nudge.txt.j2" if plan.plan else "digest/nudge_no_plan.txt.j2"
    return Reply(template, values)
