"""Turns per second with 1, 2 and 4 worker processes on PostgreSQL, beside one process on TinyDB.

    .venv/bin/python bench/scale_out.py [--turns 400] [--people 50] [--url postgresql://...]

Each worker process runs the engine on its own store connection and answers score questions of a
qualification for its own share of the people (a person's turns are serialized by the store's per-person
lock in any case). All workers start together; turns per second = all turns / wall time of the slowest.
The PostgreSQL runs use a fresh schema each, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = os.environ.get("COACH_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")

WORKER = """
import sys, time
from bot.engine import Engine
from bot.messages import Channel, Incoming
from storage import open_store
kind, where, worker, turns, people = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
store = open_store(url=where) if kind == "pg" else open_store(data_dir=where)
engine = Engine(store)
names = [f"w{worker}p{i}" for i in range(people)]
for n, name in enumerate(names):
    engine.handle(Incoming(Channel.TERMINAL, name, "/qualify Acme", message_id=f"s{n}"))
sys.stdin.readline()
start = time.perf_counter()
for i in range(turns):
    name = names[i % people]
    engine.handle(Incoming(Channel.TERMINAL, name, str(i % 5 + 1), message_id=f"t{i}"))
    if i % 20 == 19:
        engine.handle(Incoming(Channel.TERMINAL, name, "/back", message_id=f"b{i}"))
print(time.perf_counter() - start, flush=True)
"""


def run(kind: str, where: str, workers: int, turns: int, people: int) -> float:
    """Turns per second of ``workers`` processes, each taking ``turns`` turns."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, kind, where, str(n), str(turns), str(people)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    for p in procs:  # everyone set up; now start together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    start = time.perf_counter()
    for p in procs:
        p.communicate(timeout=600)
    wall = time.perf_counter() - start
    return workers * turns * (1 + 1 / 20) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400, help="turns per worker")
    parser.add_argument("--people", type=int, default=50, help="people per worker")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import psycopg

    print(f"machine: {os.cpu_count()} cores; {args.turns} turns per worker over {args.people} people each")
    rows: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            rows.setdefault("TinyDB, 1 process", []).append(run("tiny", tmp, 1, args.turns, args.people))
        for workers in (1, 2, 4):
            schema = f"coach_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
            try:
                from storage.postgres_store import PostgresStore

                PostgresStore(url).close()
                rows.setdefault(f"PostgreSQL, {workers} process(es)", []).append(
                    run("pg", url, workers, args.turns, args.people)
                )
            finally:
                with psycopg.connect(args.url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"{'what':<32}{'turns/s (median of ' + str(args.repeat) + ')':>28}")
    for name, values in rows.items():
        print(f"{name:<32}{statistics.median(values):>28.0f}")


if __name__ == "__main__":
    main()
