"""A separate process that takes turns on a data directory, for the crash and multi-process tests.

    python -m tests.auxil.storage_worker crash DATA_DIR RUN PEOPLE COMPACT_BYTES
        store answers in a loop and print "RUN PERSON I" as soon as each is committed, until killed;
    python -m tests.auxil.storage_worker turns DATA_DIR WORKER TURNS PEOPLE
        wait for a line on stdin, take TURNS turns round the PEOPLE, print "done";
    python -m tests.auxil.storage_worker pgturns URL WORKER TURNS PEOPLE
        the same on PostgreSQL, TURNS turns for each of the PEOPLE, printing each acknowledged one.

Each turn reads the person's session counter, writes it back plus one and appends one answer, all in
one transaction, so a lost update or a torn turn shows up as a counter that disagrees with the answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import storage.tinydb_store as tinydb_store
from storage.base import Answer, Session, Store
from storage.tinydb_store import TinyDBStore


def turn(store: Store, person_id: str, run: str, i: int) -> None:
    """One turn: bump the session counter and append an answer, atomically."""
    with store.person(person_id) as tx:
        session = tx.get_session() or Session(person_id=person_id)
        count = int(session.data.get("count", 0)) + 1
        tx.put_session(Session(person_id=person_id, data={"count": count}))
        tx.append_answer(
            Answer(person_id=person_id, dialog="test", run_id=run, question=str(i), value=i % 5 + 1)
        )


def main(argv: list[str]) -> None:
    mode, data_dir, run = argv[0], Path(argv[1]), argv[2]
    if mode == "crash":
        people, compact_bytes = int(argv[3]), int(argv[4])
        tinydb_store.COMPACT_MIN_BYTES = compact_bytes  # compact often, so kills land inside compactions too
        store = TinyDBStore(data_dir)
        for i in range(1_000_000):
            person_id = f"p{i % people}"
            turn(store, person_id, run, i)
            print(run, person_id, i, flush=True)
    elif mode == "pgturns":  # DATA_DIR is a PostgreSQL URL here
        from storage.postgres_store import PostgresStore

        turns, people = int(argv[3]), int(argv[4])
        pg = PostgresStore(str(argv[1]), migrate=False, max_size=2)
        sys.stdin.readline()
        for i in range(turns * people):
            turn(pg, f"p{i % people}", run, i)
            print(run, f"p{i % people}", i, flush=True)  # acknowledged: committed before this line
        print("done", flush=True)
    elif mode == "turns":
        turns, people = int(argv[3]), int(argv[4])
        store = TinyDBStore(data_dir)
        sys.stdin.readline()  # start together with the other workers
        for i in range(turns):
            turn(store, f"p{i % people}", run, i)
        print("done", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
