"""The managers' weekly digest at scale: 100 managers with 10 reps each, 20 accounts per rep and a year of
history, built in memory; the time to build all 100 digests (no charts), to render their text, and to draw
one chart; optionally the time to load one team from a TinyDB store and build its digest from there.

    .venv/bin/python bench/digest.py [--managers 100] [--reps 10] [--accounts 20] [--months 12]
                                     [--repeat 3] [--tinydb-teams 1]

How the data is built (``build_company``), deterministic for a seed: the digest ends on a Monday 07:00 UTC
and history starts a year before. Each rep has ``--accounts`` accounts, opened in the first month. Every
account gets, each month, one qualification and one relationship-stage assessment; the stage walks up or
down one step at random, so the stored movement ("up", "down", "same", "first") and previous stage are
real. Every account has a call plan each quarter; one account in four has a call in the coming week, every
other one of them only noted with ``/call`` (no plan). One account in ten went quiet two months before the
end (inactive). The first rep of each team is a new hire, half-way through onboarding.

The records are the ones the bot stores (``storage.base`` dataclasses in ``PersonData``, as
``Store.read_person`` returns them). Their ``result`` is computed by the real scoring code
(``score_qualification``, ``assess_stage``) for a few score patterns and each stage, and shared between the
records that have the same one (read-only mappings): the digest reads them exactly as it reads stored ones,
and the whole company fits in a few hundred MB.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as `python bench/digest.py`, this file's folder comes first on sys.path and bench/storage.py would hide
# the `storage` package: look it up from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from bot.coaching.digest import Digest, build_digest, stage_chart  # noqa: E402
from bot.coaching.scoring import score_qualification  # noqa: E402
from bot.coaching.stages import assess_stage, movement  # noqa: E402
from bot.dialogs.team import digest_replies  # noqa: E402
from bot.engine import TeamAccess  # noqa: E402
from bot.knowledge import KnowledgeBase, shipped_knowledge  # noqa: E402
from bot.rendering import render  # noqa: E402
from storage.base import (  # noqa: E402
    Account,
    Assessment,
    CallPlan,
    ModuleProgress,
    Person,
    PersonData,
    Role,
)
from storage.tinydb_store import TinyDBStore  # noqa: E402

END = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # a Monday
YEAR_AGO = END - timedelta(days=365)
#: Score patterns of qualifications: the answer to every question of Steps 1, 2 and 3, and the fit.
PATTERNS: tuple[tuple[tuple[int, int, int], bool], ...] = (
    ((4, 3, 5), True),
    ((3, 3, 4), True),
    ((5, 4, 4), True),
    ((2, 2, 3), False),
    ((3, 2, 2), True),
)


@dataclass(frozen=True)
class Shared:
    """Results computed once by the real scoring code, shared by the records that have them."""

    qualifications: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]  # (answers, result)
    stages: dict[tuple[int, int | None], tuple[Mapping[str, Any], Mapping[str, Any]]]  # (order, previous)
    plan: Mapping[str, Any]


def shared_results(kb: KnowledgeBase) -> Shared:
    qualifications = []
    for scores, fit in PATTERNS:
        answers: dict[str, Any] = {}
        for step, value in zip(kb.qualification.steps, scores, strict=True):
            for question in step.questions:
                answers[question.id] = {"value": value, "note": "", "special": None}
        qualifications.append((answers, score_qualification(kb.qualification, answers, fit=fit).to_json()))
    rs = kb.relationship_stages
    names = {s.order: s.name for s in rs.stages}
    stages: dict[tuple[int, int | None], tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
    for order in names:
        answers_by_id = {
            i.id: ("agree" if s.order <= order else "disagree") for s in rs.stages for i in s.indicators
        }
        base = assess_stage(rs, answers_by_id).to_json()
        stored_answers = {k: {"value": v} for k, v in answers_by_id.items()}
        for previous in (None, *names):
            result = {
                **base,
                "movement": movement(previous, order),
                "previous_stage": names[previous] if previous else None,
            }
            stages[(order, previous)] = (stored_answers, result)
    plan = {
        "our_objective": "agree a pilot with 20 users",
        "their_objective": "cut support costs by 20%",
        "stakeholders": [{"name": "Dana Lee", "role_label": "Decision maker"}],
        "questions": [{"text": "What prompted you to look into this?"}],
        "readiness": 65,
    }
    return Shared(tuple(qualifications), stages, plan)


def build_rep(
    person: Person, *, accounts: int, months: int, shared: Shared, rng: random.Random, modules: list[str]
) -> PersonData:
    pid = person.id
    records: list[Assessment] = []
    plans: list[CallPlan] = []
    opened: list[Account] = []
    n = 0
    for a in range(accounts):
        name = f"Account {pid}-{a:02d}"
        key = name.casefold()
        created = YEAR_AGO + timedelta(days=rng.randrange(28), hours=rng.randrange(24))
        opened.append(Account(person_id=pid, key=key, name=name, created_at=created))
        quiet = a % 10 == 9  # nothing in the last two months
        order: int | None = None
        for month in range(months):
            at = created + timedelta(days=30 * month + rng.randrange(25), hours=rng.randrange(8))
            if at >= END or (quiet and at >= END - timedelta(days=60)):
                break
            answers, result = shared.qualifications[rng.randrange(len(shared.qualifications))]
            records.append(
                Assessment(
                    f"{pid}-{n}", pid, "qualification", key, answers, result, at - timedelta(minutes=20), at
                )
            )
            n += 1
            nxt = max(1, min(4, (order or rng.randint(1, 2)) + rng.choice((-1, 0, 0, 1))))
            answers, result = shared.stages[(nxt, order)]
            stage_at = at + timedelta(hours=2)
            records.append(
                Assessment(
                    f"{pid}-{n}",
                    pid,
                    "stage",
                    key,
                    answers,
                    result,
                    stage_at - timedelta(minutes=10),
                    stage_at,
                )
            )
            n += 1
            order = nxt
            if month % 3 == 0:
                plans.append(
                    CallPlan(
                        f"{pid}-p{n}", pid, key, at + timedelta(days=3), shared.plan, at + timedelta(hours=3)
                    )
                )
        if a % 4 == 0 and not quiet:  # a call in the coming week; every other one only noted with /call
            call_at = END + timedelta(days=rng.randrange(7), hours=rng.randrange(9, 17))
            plan = shared.plan if a % 8 == 0 else {}
            plans.append(
                CallPlan(f"{pid}-c{a}", pid, key, call_at, plan, END - timedelta(days=rng.randrange(1, 6)))
            )
    progress = (
        tuple(
            ModuleProgress(
                m, "done" if i < len(modules) // 2 else "started", updated_at=END - timedelta(days=20)
            )
            for i, m in enumerate(modules[: len(modules) // 2 + 1])
        )
        if person.new_hire
        else ()
    )
    records.sort(key=lambda r: r.completed_at)
    return PersonData(pid, None, (), tuple(records), tuple(opened), tuple(plans), progress)


Team = list[tuple[Person, PersonData]]


def build_company(
    kb: KnowledgeBase, *, managers: int, reps: int, accounts: int, months: int, seed: int = 7
) -> list[tuple[Person, Team]]:
    rng = random.Random(seed)
    shared = shared_results(kb)
    modules = [m.id for m in kb.onboarding.modules]
    company = []
    for m in range(managers):
        manager = Person(
            id=f"slack:UM{m:04d}", name=f"Manager {m}", role=Role.MANAGER.value, created_at=YEAR_AGO
        )
        team: Team = []
        for r in range(reps):
            rep = Person(
                id=f"slack:UR{m:04d}{r:02d}",
                name=f"Rep {m}.{r}",
                manager_id=manager.id,
                new_hire=r == 0,
                created_at=YEAR_AGO,
            )
            team.append(
                (
                    rep,
                    build_rep(rep, accounts=accounts, months=months, shared=shared, rng=rng, modules=modules),
                )
            )
        company.append((manager, team))
    return company


def timed(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``repeat`` runs (CPU time is less moved by neighbours on a
    shared machine; the work is single-threaded, so on a quiet machine the two agree)."""
    return interleaved({"": work}, repeat)[""]


def interleaved(works: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float]]:
    """``timed`` for several pieces of work, run in turn ``repeat`` times, so a noisy stretch of a shared
    machine hits them all alike."""
    wall: dict[str, list[float]] = {name: [] for name in works}
    cpu: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeat):
        for name, work in works.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            work()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in works}


def fill_tinydb(root: Path, company: list[tuple[Person, Team]]) -> TinyDBStore:
    """The teams' people and records written through the store's own API, one transaction per person."""
    store = TinyDBStore(root)
    for manager, team in company:
        store.put_person(manager)
        for rep, data in team:
            store.put_person(rep)
            with store.person(rep.id) as tx:
                for account in data.accounts:
                    tx.put_account(account)
                for assessment in data.assessments:
                    tx.append_assessment(assessment)
                for plan in data.plans:
                    tx.put_plan(plan)
                for progress in data.onboarding:
                    tx.put_module_progress(progress)
    store.close()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, default=100)
    parser.add_argument("--reps", type=int, default=10, help="reps per manager")
    parser.add_argument("--accounts", type=int, default=20, help="accounts per rep")
    parser.add_argument("--months", type=int, default=12, help="months of history")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    parser.add_argument(
        "--tinydb-teams",
        type=int,
        default=1,
        help="teams written to a TinyDB store to time loading (0: skip)",
    )
    args = parser.parse_args()

    python = platform.python_version()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    kb = shipped_knowledge()
    start = time.perf_counter()
    company = build_company(
        kb, managers=args.managers, reps=args.reps, accounts=args.accounts, months=args.months
    )
    built = time.perf_counter() - start
    # Half a million records stay alive for the whole run: move them out of the cyclic GC's way, or every full
    # collection triggered by the measured work would walk them (the bot never holds them all at once).
    gc.collect()
    gc.freeze()
    data = [d for _, team in company for _, d in team]
    assessments = sum(len(d.assessments) for d in data)
    plans = sum(len(d.plans) for d in data)
    print(
        f"data: {len(company)} managers, {len(data)} reps, {sum(len(d.accounts) for d in data):,} accounts, "
        f"{assessments:,} assessments, {plans:,} plans; built in memory in {built:.1f} s"
    )
    print(f"median of {args.repeat} runs")

    digests: list[Digest] = []

    def all_digests() -> None:
        digests.clear()
        digests.extend(build_digest(manager, team, kb, end=END) for manager, team in company)

    def all_texts() -> None:
        for digest in digests:
            render("digest/digest.txt.j2", digest=digest)

    rows: list[tuple[str, tuple[float, float], str]] = []
    build = timed(all_digests, args.repeat)
    rows.append((f"build {len(company)} digests, no charts", build, "target <= 2 s"))
    rows.append((f"render {len(company)} digests as text", timed(all_texts, args.repeat), ""))
    rows.append(
        ("one chart, first in the process", timed(lambda: stage_chart(digests[0]), 1), "imports matplotlib")
    )
    chart = timed(lambda: stage_chart(digests[0]), args.repeat)
    rows.append((f"one chart (PNG), {args.reps} reps", chart, "target <= 300 ms"))

    if args.tinydb_teams:
        teams = company[: args.tinydb_teams]
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
            start = time.perf_counter()
            fill_tinydb(Path(tmp), teams)
            filled = time.perf_counter() - start
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
            print(
                f"tinydb: {len(teams)} team(s), {sum(len(t) for _, t in teams)} reps, {size / 1e6:.0f} MB on "
                f"disk, written through the store in {filled:.1f} s"
            )
            manager = teams[0][0]
            rep_ids = [rep.id for rep, _ in teams[0][1]]

            def load_team() -> None:
                store = TinyDBStore(Path(tmp))  # a new store object: nothing cached in memory
                for rep_id in rep_ids:
                    store.read_person(rep_id)
                store.close()

            def from_store(chart: bool) -> Callable[[], None]:
                def run() -> None:
                    store = TinyDBStore(Path(tmp))
                    digest_replies(TeamAccess(store, manager.id, kb, END), chart=chart)
                    store.close()

                return run

            results = interleaved(
                {"load": load_team, "digest": from_store(False), "chart": from_store(True)}, args.repeat
            )
            load = results["load"]
            note = f"x{args.managers} teams: {load[0] * args.managers:.0f} s"
            rows.append((f"load one team ({len(rep_ids)} reps) from TinyDB", load, note))
            rows.append(("load + build one digest from TinyDB", results["digest"], ""))
            rows.append(("load + build + chart (the scheduler's)", results["chart"], ""))
    else:
        print("tinydb: skipped (--tinydb-teams 0)")

    print(f"{'what':<46}{'wall ms':>10}{'cpu ms':>10}  note")
    for label, (wall, cpu), note in rows:
        print(f"{label:<46}{wall * 1e3:>10.1f}{cpu * 1e3:>10.1f}  {note}")
    print(
        f"100 digests: {build[0]:.2f} s wall, {build[1]:.2f} s cpu (target <= 2 s); "
        f"one chart: {chart[0] * 1e3:.0f} ms wall, {chart[1] * 1e3:.0f} ms cpu (target <= 300 ms)"
    )


if __name__ == "__main__":
    main()
