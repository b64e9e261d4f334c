"""The scheduler on a real TinyDB store with a clock the test sets (no sleeping): each manager's digest at
their local weekday and time across daylight-saving changes, exactly once per week whatever the number of
workers or restarts, missed digests caught up, failed deliveries retried, and the pre-call nudges."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.messages import Reply
from bot.scheduler import Scheduler, last_digest_due
from storage.base import Person, Role
from storage.tinydb_store import TinyDBStore
from tests.team_data import Chat, plain

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Clock:
    """What the scheduler takes for now; the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Outbox:
    """A delivery function that keeps what it was given. ``failures`` deliveries fail first, by raising or
    by returning False as a channel does for someone it cannot reach."""

    clock: Clock
    failures: int = 0
    raises: bool = True
    sent: list[tuple[datetime, str, str]] = field(default_factory=list)  # (when, to whom, text)
    attempts: int = 0

    def __call__(self, person: Person, replies: Sequence[Reply]) -> bool:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            if self.raises:
                raise ConnectionError("the platform is down")
            return False
        self.sent.append((self.clock.now, person.id, plain(replies)))
        return True

    def to(self, person_id: str, kind: str = "") -> list[tuple[datetime, str]]:
        """(when, text) of what reached one person; ``kind`` "digest" or "nudge" picks one sort."""
        return [
            (at, text)
            for at, who, text in self.sent
            if who == person_id and (not kind or text.startswith("Weekly digest") == (kind == "digest"))
        ]


def everyone(person: Person) -> bool:
    return True


def a_manager(person_id: str = "maria", *, joined: datetime, tz: str = BERLIN) -> Person:
    return Person(
        id=person_id,
        name=person_id.split(":")[-1].title(),
        role=Role.MANAGER.value,
        timezone=tz,
        digest_weekday=0,
        digest_time="08:00",
        created_at=joined,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> TinyDBStore:
    return TinyDBStore(data_dir)


def worker(
    store: TinyDBStore, clock: Clock, outbox: Outbox, reachable: Callable[[Person], bool] = everyone
) -> Scheduler:
    return Scheduler(Engine(store), deliver=outbox, reachable=reachable, clock=clock)


def run_ticks(scheduler: Scheduler, clock: Clock, times: Sequence[datetime]) -> list[int]:
    """Tick at each time; returns how many digests each tick sent."""
    counts = []
    for at in times:
        clock.now = at
        counts.append(scheduler.tick()["digests"])
    return counts


# --- when a digest is due -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("joined", "ticks"),
    [
        pytest.param(
            utc(2026, 10, 14, 12),  # a Wednesday
            [
                (utc(2026, 10, 19, 5, 59), 0),  # Monday 07:59 in Berlin (summer time, UTC+2)
                (utc(2026, 10, 19, 6, 0), 1),  # 08:00
                (utc(2026, 10, 19, 6, 1), 0),
                (utc(2026, 10, 19, 18, 0), 0),
                (utc(2026, 10, 25, 1, 30), 0),  # Sunday: the clocks go back at 03:00 local
                (utc(2026, 10, 26, 6, 0), 0),  # Monday 07:00 local now (winter time, UTC+1)
                (utc(2026, 10, 26, 6, 59), 0),
                (utc(2026, 10, 26, 7, 0), 1),  # 08:00 local
                (utc(2026, 10, 26, 7, 1), 0),
            ],
            id="autumn",
        ),
        pytest.param(
            utc(2026, 3, 18, 12),
            [
                (utc(2026, 3, 23, 6, 59), 0),  # Monday 07:59 in Berlin (winter time, UTC+1)
                (utc(2026, 3, 23, 7, 0), 1),
                (utc(2026, 3, 23, 7, 30), 0),
                (utc(2026, 3, 29, 1, 30), 0),  # Sunday: the clocks go forward at 02:00 local
                (utc(2026, 3, 30, 5, 59), 0),  # Monday 07:59 local (summer time, UTC+2)
                (utc(2026, 3, 30, 6, 0), 1),
                (utc(2026, 3, 30, 7, 0), 0),  # the hour it used to be sent at: not again
            ],
            id="spring",
        ),
    ],
)
def test_digest_goes_out_at_08_00_berlin_time_across_daylight_saving(
    store: TinyDBStore, joined: datetime, ticks: list[tuple[datetime, int]]
) -> None:
    store.put_person(a_manager(joined=joined))
    store.put_person(Person(id="ana", name="Ana", manager_id="maria", created_at=joined))
    clock = Clock(joined)
    outbox = Outbox(clock)

    counts = run_ticks(worker(store, clock, outbox), clock, [at for at, _ in ticks])

    assert counts == [expected for _, expected in ticks]
    sent = outbox.to("maria", "digest")
    assert [at for at, _ in sent] == [at for at, expected in ticks if expected]
    assert all("Weekly digest for Maria's team" in text and "Ana" in text for _, text in sent)


def test_last_digest_due_is_the_local_weekday_and_time_in_utc() -> None:
    maria = a_manager(joined=utc(2026, 1, 1))
    assert last_digest_due(maria, utc(2026, 10, 22, 12)) == utc(2026, 10, 19, 6)
    assert last_digest_due(maria, utc(2026, 10, 26, 6, 59)) == utc(2026, 10, 19, 6)
    assert last_digest_due(maria, utc(2026, 10, 26, 7)) == utc(2026, 10, 26, 7)
    assert last_digest_due(maria, utc(2026, 3, 30, 6)) == utc(2026, 3, 30, 6)
    friday = Person(id="f", name="F", timezone="America/New_York", digest_weekday=4, digest_time="17:30")
    assert last_digest_due(friday, utc(2026, 11, 7, 0)) == utc(2026, 11, 6, 22, 30)  # EST, UTC-5


# --- once, whatever happens ---------------------------------------------------------------------------------
def test_two_workers_and_a_restart_send_one_digest_a_week(data_dir: Path, store: TinyDBStore) -> None:
    store.put_person(a_manager(joined=utc(2026, 10, 14)))
    clock = Clock(utc(2026, 10, 19, 5, 0))
    outboxes = [Outbox(clock), Outbox(clock)]
    # Two workers, each with its own store object on the data directory, as two processes would have.
    workers = [worker(TinyDBStore(data_dir), clock, outbox) for outbox in outboxes]
    for each in workers:
        each.tick()  # 07:00 local: nothing yet, and nothing sent for the week before joining

    clock.now = utc(2026, 10, 19, 6, 0)
    start = threading.Barrier(len(workers))
    results: list[dict[str, int]] = []

    def tick(scheduler: Scheduler) -> None:
        start.wait(timeout=10)
        results.append(scheduler.tick())

    threads = [threading.Thread(target=tick, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(r["digests"] for r in results) == [0, 1]
    clock.now = utc(2026, 10, 19, 6, 5)
    assert [w.tick()["digests"] for w in workers] == [0, 0]

    restarted = worker(TinyDBStore(data_dir), clock, outboxes[0])  # a new process on the same data
    assert run_ticks(restarted, clock, [utc(2026, 10, 19, 6, 10), utc(2026, 10, 22, 9, 0)]) == [0, 0]
    assert sum(len(o.to("maria", "digest")) for o in outboxes) == 1

    assert run_ticks(restarted, clock, [utc(2026, 10, 26, 7, 0)]) == [1]


def test_a_digest_missed_while_down_is_sent_once_at_the_next_tick(store: TinyDBStore) -> None:
    store.put_person(a_manager(joined=utc(2026, 9, 1)))
    clock = Clock(utc(2026, 11, 2, 7, 0))  # Monday 08:00 in Berlin (winter time)
    outbox = Outbox(clock)
    scheduler = worker(store, clock, outbox)
    assert run_ticks(scheduler, clock, [utc(2026, 11, 2, 7, 0), utc(2026, 11, 8, 20, 0)]) == [1, 0]

    # Down from Sunday evening to Wednesday morning: Monday's digest was never sent.
    counts = run_ticks(
        scheduler,
        clock,
        [utc(2026, 11, 11, 9, 0), utc(2026, 11, 11, 9, 1), utc(2026, 11, 12, 9, 0), utc(2026, 11, 16, 7, 0)],
    )

    assert counts == [1, 0, 0, 1]
    assert [at for at, _ in outbox.to("maria", "digest")] == [
        utc(2026, 11, 2, 7, 0),
        utc(2026, 11, 11, 9, 0),
        utc(2026, 11, 16, 7, 0),
    ]


def test_a_manager_added_after_the_last_due_time_waits_for_the_next_one(store: TinyDBStore) -> None:
    store.put_person(a_manager(joined=utc(2026, 11, 3, 10, 0)))  # a Tuesday
    clock = Clock(utc(2026, 11, 3, 10, 0))
    outbox = Outbox(clock)

    counts = run_ticks(
        worker(store, clock, outbox),
        clock,
        [utc(2026, 11, 3, 10, 1), utc(2026, 11, 8, 23, 0), utc(2026, 11, 9, 6, 59), utc(2026, 11, 9, 7, 0)],
    )

    assert counts == [0, 0, 0, 1]


@pytest.mark.parametrize("raises", [True, False], ids=["deliver-raises", "deliver-returns-false"])
def test_a_failed_delivery_is_retried_at_the_next_tick(store: TinyDBStore, raises: bool) -> None:
    store.put_person(a_manager(joined=utc(2026, 9, 1)))
    clock = Clock(utc(2026, 11, 9, 7, 0))
    outbox = Outbox(clock, failures=1, raises=raises)

    counts = run_ticks(
        worker(store, clock, outbox),
        clock,
        [utc(2026, 11, 9, 7, 0), utc(2026, 11, 9, 7, 1), utc(2026, 11, 9, 7, 2)],
    )

    assert counts == [0, 1, 0]
    assert outbox.attempts == 2
    assert [at for at, _ in outbox.to("maria", "digest")] == [utc(2026, 11, 9, 7, 1)]


def test_a_failed_delivery_does_not_resend_another_managers_digest(store: TinyDBStore) -> None:
    """Giving a claim back must touch that claim only: "digest:maria" is also the start of
    "digest:mariana"."""
    store.put_person(a_manager("mariana", joined=utc(2026, 9, 1)))
    store.put_person(a_manager("maria", joined=utc(2026, 9, 1)))
    clock = Clock(utc(2026, 11, 9, 7, 0))
    failing = {"maria": 2}

    def deliver(person: Person, replies: Sequence[Reply]) -> bool:
        if failing.get(person.id):
            failing[person.id] -= 1
            return False
        return outbox(person, replies)

    outbox = Outbox(clock)
    scheduler = Scheduler(Engine(store), deliver=deliver, reachable=everyone, clock=clock)
    run_ticks(scheduler, clock, [utc(2026, 11, 9, 7, minute) for minute in range(4)])

    assert len(outbox.to("maria", "digest")) == 1
    assert len(outbox.to("mariana", "digest")) == 1, [at for at, _ in outbox.to("mariana")]


def test_people_this_worker_cannot_reach_are_never_claimed(data_dir: Path, store: TinyDBStore) -> None:
    store.put_person(a_manager("slack:U0MARIA01", joined=utc(2026, 9, 1)))
    store.put_person(a_manager("telegram:4567", joined=utc(2026, 9, 1)))
    ana = Chat(Engine(store), "telegram:777", utc(2026, 11, 9, 6, 0))
    ana.send("/call Globex 2026-11-09 08:00")
    clock = Clock(utc(2026, 11, 9, 7, 0))
    nobody = Outbox(clock)

    def unreachable(person: Person) -> bool:
        return False

    sent = worker(store, clock, nobody, unreachable).tick()

    assert sent == {"digests": 0, "nudges": 0}
    assert nobody.attempts == 0
    assert store.marks("digest:") == {}
    assert store.marks("nudge:") == {}

    # A Slack worker and a Telegram worker: each sends what it can reach, once.
    slack, telegram = Outbox(clock), Outbox(clock)
    workers = [
        worker(TinyDBStore(data_dir), clock, slack, lambda p: p.id.startswith("slack:")),
        worker(TinyDBStore(data_dir), clock, telegram, lambda p: p.id.startswith("telegram:")),
    ]
    for _ in range(2):
        for each in workers:
            each.tick()

    assert [who for _, who, _ in slack.sent] == ["slack:U0MARIA01"]
    assert sorted(who for _, who, _ in telegram.sent) == ["telegram:4567", "telegram:777"]
    assert len(telegram.to("telegram:777", "nudge")) == 1


# --- pre-call nudges ----------------------------------------------------------------------------------------
def nudges(scheduler: Scheduler, clock: Clock, times: Sequence[datetime]) -> list[int]:
    counts = []
    for at in times:
        clock.now = at
        counts.append(scheduler.tick()["nudges"])
    return counts


def test_a_planned_call_is_nudged_an_hour_before_once_with_its_plan(store: TinyDBStore) -> None:
    ana = Chat(Engine(store), "ana", utc(2026, 6, 8, 9, 0))
    ana.qualify("Globex", ("not asked", "skip step", "3", "2 data still missing", "skip step", "no"))
    assert "Call plan: Globex" in ana.plan("Globex", "2026-06-10 10:00")
    clock = Clock(utc(2026, 6, 10, 8, 0))
    outbox = Outbox(clock)

    counts = nudges(
        worker(store, clock, outbox),
        clock,
        [utc(2026, 6, 10, 8, 59), utc(2026, 6, 10, 9, 0), utc(2026, 6, 10, 9, 1), utc(2026, 6, 10, 9, 59)],
    )

    assert counts == [0, 1, 0, 0]
    ((at, text),) = outbox.to("ana", "nudge")
    assert at == utc(2026, 6, 10, 9, 0)
    assert text.startswith("Your call with Globex is at 10:00 (UTC)")
    assert "What you want: agree a pilot with 20 users" in text
    assert "What they want: cut support costs by 20%" in text
    assert "With: Dana Lee (Decision maker), Sam Roy (Champion)" in text
    assert "Questions still open:\n  1. What prompted you/ your company to look into this?" in text
    assert nudges(worker(store, clock, outbox), clock, [utc(2026, 6, 10, 10, 0)]) == [
        0
    ]  # nor after a restart


def test_a_call_noted_without_a_plan_gets_the_plan_it_nudge(store: TinyDBStore) -> None:
    store.put_person(Person(id="ana", name="Ana", nudge_lead_minutes=30))
    ana = Chat(Engine(store), "ana", utc(2026, 6, 8, 9, 0))
    assert ana.send("/call Acme 2026-06-10 15:00").startswith(
        "Noted: a call with Acme on Wed 2026-06-10 15:00."
    )
    clock = Clock(utc(2026, 6, 10, 14, 0))
    outbox = Outbox(clock)

    counts = nudges(worker(store, clock, outbox), clock, [utc(2026, 6, 10, 14, 29), utc(2026, 6, 10, 14, 30)])

    assert counts == [0, 1]
    ((_, text),) = outbox.to("ana", "nudge")
    assert text.startswith("Your call with Acme is at 15:00 (UTC), and there is no plan for it yet.")
    assert "/plan Acme" in text


def test_a_call_time_typed_by_a_rep_in_berlin_is_berlin_time(store: TinyDBStore) -> None:
    """A rep whose timezone is Europe/Berlin types 10:00 meaning 10:00 in Berlin: the nudge comes at 09:00
    Berlin time (07:00 UTC in summer) and says 10:00."""
    store.put_person(Person(id="ana", name="Ana", timezone=BERLIN))
    ana = Chat(Engine(store), "ana", utc(2026, 6, 8, 9, 0))
    ana.send("/call Acme 2026-06-10 10:00")
    clock = Clock(utc(2026, 6, 10, 7, 0))
    outbox = Outbox(clock)

    nudges(worker(store, clock, outbox), clock, [utc(2026, 6, 10, 7, 0), utc(2026, 6, 10, 9, 0)])

    ((at, text),) = outbox.to("ana", "nudge")
    assert text.startswith("Your call with Acme is at 10:00 (CEST)")
    assert at == utc(2026, 6, 10, 7, 0)


def test_a_failed_nudge_is_retried_while_the_call_is_still_ahead(store: TinyDBStore) -> None:
    ana = Chat(Engine(store), "ana", utc(2026, 6, 8, 9, 0))
    ana.send("/call Acme 2026-06-10 15:00")
    clock = Clock(utc(2026, 6, 10, 14, 0))
    outbox = Outbox(clock, failures=1)

    counts = nudges(worker(store, clock, outbox), clock, [utc(2026, 6, 10, 14, 0), utc(2026, 6, 10, 14, 1)])

    assert counts == [0, 1]
    assert len(outbox.to("ana", "nudge")) == 1
