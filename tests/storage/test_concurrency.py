"""Nothing acknowledged is lost: not under SIGKILL, not across threads, not across processes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from storage.base import Store
from storage.tinydb_store import TinyDBStore
from tests.auxil.storage_worker import turn

REPO = Path(__file__).resolve().parents[2]


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.auxil.storage_worker", *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stored_answers(data_dir: Path) -> Counter[tuple[str, str, str]]:
    """(run, person, i) of every stored answer, counted, as a freshly started process sees them."""
    store = TinyDBStore(data_dir)
    found: Counter[tuple[str, str, str]] = Counter()
    for person_id in store.person_ids():
        for answer in store.read_person(person_id).answers:
            found[(answer.run_id, person_id, answer.question)] += 1
    return found


def assert_counters_match_answers(store: Store) -> None:
    """Each turn wrote a counter and an answer together: a torn or lost turn would break equality."""
    for person_id in store.person_ids():
        data = store.read_person(person_id)
        assert data.session is not None
        assert data.session.data["count"] == len(data.answers), person_id


def test_sigkill_at_random_moments_loses_no_acknowledged_answer(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    acknowledged: set[tuple[str, str, str]] = set()
    for run in range(50):
        proc = worker("crash", str(tmp_path), f"r{run}", "3", str(rng.choice([2048, 8192, 1 << 20])))
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 40)):
            line = proc.stdout.readline()
            assert line, "the worker died before it was killed"
            acknowledged.add(tuple(line.split()))  # type: ignore[arg-type]
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        acknowledged.update(tuple(line.split()) for line in rest.splitlines())  # type: ignore[misc]
        assert proc.returncode == -signal.SIGKILL

        found = stored_answers(tmp_path)
        missing = acknowledged - set(found)
        assert not missing, f"after kill {run + 1}: acknowledged but lost: {sorted(missing)[:5]}"
        assert max(found.values()) == 1, "an answer was stored twice"
        assert_counters_match_answers(TinyDBStore(tmp_path))
    assert len(acknowledged) >= 50


def test_twenty_threads_lose_no_update(tmp_path: Path) -> None:
    stores = [TinyDBStore(tmp_path), TinyDBStore(tmp_path)]  # two instances: two workers in one process
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(50):
                turn(stores[t % 2], f"p{(t + i) % 10}", f"t{t}", i)
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=work, args=(t,)) for t in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    found = stored_answers(tmp_path)
    assert sum(found.values()) == 1000
    assert set(found) == {(f"t{t}", f"p{(t + i) % 10}", str(i)) for t in range(20) for i in range(50)}
    assert_counters_match_answers(TinyDBStore(tmp_path))
    assert [stores[0].read_person(f"p{n}").session.data["count"] for n in range(10)] == [100] * 10  # type: ignore[union-attr]


def test_two_processes_interleaving_turns_for_the_same_people(tmp_path: Path) -> None:
    TinyDBStore(tmp_path)  # create the layout once, so both workers start from the same state
    procs = [worker("turns", str(tmp_path), f"w{n}", "300", "5") for n in range(2)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        assert out.strip() == "done"
    found = stored_answers(tmp_path)
    assert sum(found.values()) == 600
    assert max(found.values()) == 1
    store = TinyDBStore(tmp_path)
    assert_counters_match_answers(store)
    assert sorted(store.read_person(f"p{n}").session.data["count"] for n in range(5)) == [120] * 5  # type: ignore[union-attr]
