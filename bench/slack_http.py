"""Slack over HTTP: acknowledgement latency and turns per second of the Slack app as it ships, under
simulated reps sending signed requests at once.

    .venv/bin/python bench/slack_http.py   # --reps 10,50 --turns 1500 --repeat 3 [--mode dms] [--profile cpu]

The app is `coach serve slack --http` in its own process (waitress, 16 threads, the TinyDB store in a temp
dir), its Web API calls answered by the fake Slack of the tests on 127.0.0.1 in this process. Each simulated
rep is a thread with its own Slack user: `/coach qualify Acme` (a signed slash command), then the 29 answers
of a qualification as button clicks (signed `block_actions`, 4 to Step 1, 3 to Step 2, Yes, 5 to Step 3),
each sent as soon as the reply to the last one was posted; with `--mode dms` the answers are typed DMs
(`message.im` events) instead. A turn is one request whose reply was posted.

- acknowledgement latency: from sending a request to reading the HTTP response (what Slack times: 3 s,
  then it retries or shows the person an error);
- turns per second: messages posted to the fake (counted by it) over the wall time of the run.

Each configuration runs `--repeat` times, interleaved, each on a fresh app process and data dir after one
warm-up qualification; the summary gives the median p50, p99 and turns/s. `--profile` runs the app process
once more under cProfile (every thread) at the highest rep count and prints where its time went.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as `python bench/slack_http.py`, this file's folder comes first on sys.path and bench/storage.py would
# hide the `storage` package: look packages up from the repository root instead.
REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from tests.auxil.cli import COACH  # noqa: E402
from tests.auxil.slack_app import SECRET, TOKEN, Response, SlackRequests, button  # noqa: E402
from tests.auxil.slack_fake import Call, SlackFake  # noqa: E402

#: A qualification's answers as buttons, and as typed lines for --mode dms.
CLICKS = ["4"] * 14 + ["3"] * 8 + ["Yes"] + ["5"] * 6
TYPED = [c.lower() for c in CLICKS]
RESULT = "110/140 (79%)"
TURNS_PER_QUALIFICATION = 1 + len(CLICKS)
REPLY_TIMEOUT = 60.0  # seconds to wait for one reply before the run counts as failed


# --- the app process ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class AppProcess:
    """``coach serve slack --http`` on 127.0.0.1, its Web API pointed at ``api_url``."""

    api_url: str
    data_dir: Path
    profile_to: Path | None = None
    clock: str = "cpu"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self) -> AppProcess:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.api_url,
        }
        env.pop("SLACK_APP_TOKEN", None)
        args = ["serve", "slack", "--http", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--workers", os.environ.get("BENCH_SLACK_WORKERS", "1")]
        args += ["--data-dir", str(self.data_dir)]
        if self.profile_to is None:
            command = [str(COACH), *args]
        else:
            profiled = ["--serve-profiled", str(self.profile_to), self.clock, "--"]
            command = [sys.executable, __file__, *profiled, *args]
        self.log = self.data_dir.with_suffix(".log")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        client = SlackRequests(self.port)
        deadline = time.monotonic() + 30
        while True:  # start-up only: poll until the server answers
            try:
                if client.get("/healthz").status == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """CPU time the app process used so far (user + system; Linux ``/proc``, else NaN)."""
        assert self.process is not None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the simulated reps ------------------------------------------------------------------------------------
def as_message(call: Call) -> dict[str, Any]:
    return {
        "channel": call.args.get("channel"),
        "ts": call.response.get("ts"),
        "text": call.args.get("text", ""),
        "blocks": call.args.get("blocks") or [],
    }


@dataclass
class Rep:
    """One rep: qualifications of Acme, each answer sent as soon as the last reply was posted."""

    client: SlackRequests
    fake: SlackFake
    user: str
    qualifications: int
    mode: str
    latencies: list[float] = field(default_factory=list)
    error: str | None = None

    def run(self, start: threading.Barrier | None = None) -> None:
        channel = f"D{self.user}"
        posted = len(self.fake.wait_posted(channel, 0))
        try:
            if start is not None:
                start.wait()
            for _ in range(self.qualifications):
                self._took(self.client.slash("qualify Acme", user=self.user))
                posted += 1
                last = self.fake.wait_posted(channel, posted, timeout=REPLY_TIMEOUT)[-1]
                for label, typed in zip(CLICKS, TYPED, strict=True):
                    if self.mode == "clicks":
                        message = as_message(last)
                        picked = button(message, label)
                        self._took(self.client.click(picked, message, user=self.user))
                    else:
                        self._took(self.client.dm(typed, user=self.user))
                    posted += 1
                    last = self.fake.wait_posted(channel, posted, timeout=REPLY_TIMEOUT)[-1]
                if RESULT not in str(last.args.get("blocks")):
                    raise AssertionError(f"the qualification ended without {RESULT}: {last.args.get('text')}")
        except Exception as exc:  # reported by the run, which then fails
            self.error = f"{self.user}: {type(exc).__name__}: {exc}"

    def _took(self, response: Response) -> None:
        """Keep the acknowledgement latency of a request (measured by ``SlackRequests.post``)."""
        if response.status != 200:
            raise AssertionError(f"HTTP {response.status}: {response.body[:200]!r}")
        self.latencies.append(response.seconds)


@dataclass
class RunResult:
    reps: int
    latencies: list[float]
    turns: int
    seconds: float
    app_cpu: float  # CPU seconds of the app process during the run
    bench_cpu: float  # CPU seconds of this process (the fake Web API and the reps) during the run

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_once(
    reps: int, turns: int, mode: str, number: int, profile_to: Path | None = None, clock: str = "cpu"
) -> RunResult:
    """Start an app on a fresh data dir, warm it up, then let ``reps`` reps qualify at once."""
    workdir = Path(tempfile.mkdtemp(prefix="slack-bench-"))
    fake = SlackFake().start()
    app = AppProcess(fake.url, workdir / "data", profile_to, clock)
    try:
        app.start()
        client = SlackRequests(app.port)
        warmup = Rep(client, fake, f"UWARM{number}", 1, mode)
        warmup.run()
        if warmup.error:
            raise RuntimeError(f"warm-up failed: {warmup.error}")
        per_rep = max(1, round(turns / (TURNS_PER_QUALIFICATION * reps)))
        team = [Rep(client, fake, f"U{number:02d}R{n:03d}", per_rep, mode) for n in range(reps)]
        start = threading.Barrier(reps + 1)
        threads = [threading.Thread(target=r.run, args=(start,), daemon=True) for r in team]
        for thread in threads:
            thread.start()
        posted_before = fake.posted_count()
        app_cpu, bench_cpu = app.cpu_seconds(), time.process_time()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        app_cpu, bench_cpu = app.cpu_seconds() - app_cpu, time.process_time() - bench_cpu
        posted = fake.posted_count() - posted_before
        errors = [r.error for r in team if r.error]
        if errors:
            raise RuntimeError(f"{len(errors)} rep(s) failed, e.g. {errors[0]}")
        expected = reps * per_rep * TURNS_PER_QUALIFICATION
        if posted != expected:
            raise RuntimeError(f"{posted} messages posted, {expected} expected: a turn posted more or less")
        return RunResult(reps, [t for r in team for t in r.latencies], posted, seconds, app_cpu, bench_cpu)
    finally:
        app.stop()
        fake.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- profiling the app process -----------------------------------------------------------------------------
def serve_profiled(out: str, clock: str, args: list[str]) -> None:
    """In the app process: profile every thread with cProfile; on SIGTERM write the merged stats to ``out``.

    ``clock`` is ``cpu`` (each thread's CPU time: where the work is) or ``wall`` (blocking counts too: where
    a request waits).
    """
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    timer = time.thread_time if clock == "cpu" else time.perf_counter

    def start_thread_profile(*_: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(timer)
        with lock:
            profiles.append(profile)
        profile.enable()

    def dump(*_: Any) -> None:
        sys.setswitchinterval(1000)  # nothing else runs Python while the stats are merged
        main_profile.disable()
        with lock:
            stats = pstats.Stats(main_profile, *profiles)
        stats.dump_stats(out)
        os._exit(0)

    threading.setprofile(start_thread_profile)
    signal.signal(signal.SIGTERM, dump)
    main_profile = cProfile.Profile(timer)
    main_profile.enable()
    from bot.cli import main as coach

    coach(args=args, prog_name="coach")


def print_profile(path: Path, clock: str, wall: float) -> None:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    print(f"\nprofile of the app process ({clock} time, all threads; the run took {wall:.1f} s of wall time)")
    print(f"(the stats are kept in {path}: python -m pstats {path})")
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(25)
    print("top 25 functions by own time:")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()[:1].isdigit()))
    interesting = (
        ("engine.py", "handle"),
        ("slack.py", "_respond"),
        ("slack.py", "_mark_answered"),
        ("slack.py", "_dm"),
        ("slack_blocks.py", "messages"),
        ("rendering.py", "render"),
        ("tinydb_store.py", "_commit"),
        ("tinydb_store.py", "person"),
        ("base_client.py", "api_call"),
        ("app.py", "dispatch"),
        ("request_verification.py", "process"),
        ("signature", "is_valid_request"),
        ("handler.py", "__call__"),
        ("task.py", "service"),
        ("thread_runner.py", "run"),
        ("thread_runner.py", "run_ack_function_asynchronously"),
    )
    print("\ncumulative time of the parts of a turn (calls, seconds, per call):")
    for (filename, _, name), (_, calls, _, cumulative, _) in sorted(raw.items(), key=lambda kv: -kv[1][3]):
        if any(filename.endswith(f) and name == n for f, n in interesting):
            short = "/".join(Path(filename).parts[-2:])
            print(f"  {short}:{name:<32} {calls:>8} {cumulative:>9.2f} s {cumulative / calls * 1e3:>8.3f} ms")


# --- main --------------------------------------------------------------------------------------------------
def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "--serve-profiled":
        serve_profiled(sys.argv[2], sys.argv[3], sys.argv[5:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", default="10,50", help="concurrent reps per configuration (default 10,50)")
    parser.add_argument("--turns", type=int, default=1500, help="turns per run, about (default 1500)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("clicks", "dms"), default="clicks", help="how answers are sent")
    parser.add_argument(
        "--profile",
        choices=("cpu", "wall"),
        help="then profile the app at the highest rep count: CPU time, or wall time (waits included)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.reps.split(",")]

    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"answers as {args.mode}; about {args.turns} turns per run; median of {args.repeat} runs")
    results: dict[int, list[RunResult]] = {n: [] for n in counts}
    for number in range(args.repeat):
        for reps in counts:  # interleaved: the machine's noise spreads over every configuration
            result = run_once(reps, args.turns, args.mode, number * 100 + reps)
            results[reps].append(result)
            print(
                f"  run {number + 1}, {reps:>3} reps: {result.turns} turns in {result.seconds:.2f} s, "
                f"{result.turns_per_second:.0f} turns/s, ack p50 {result.p50 * 1e3:.1f} ms, "
                f"p99 {result.p99 * 1e3:.1f} ms; CPU: app {result.app_cpu / result.seconds:.0%}, "
                f"fake and reps {result.bench_cpu / result.seconds:.0%} of one core"
            )
    print("\n| concurrent reps | ack p50 ms | ack p99 ms | turns/s |\n| ---: | ---: | ---: | ---: |")
    for reps in counts:
        runs = results[reps]
        p50 = statistics.median(r.p50 for r in runs) * 1e3
        p99 = statistics.median(r.p99 for r in runs) * 1e3
        rate = statistics.median(r.turns_per_second for r in runs)
        print(f"| {reps} | {p50:.1f} | {p99:.1f} | {rate:.0f} |")
    top = max(counts)
    runs = results[top]
    p99 = statistics.median(r.p99 for r in runs) * 1e3
    rate = statistics.median(r.turns_per_second for r in runs)
    print(f"\nat {top} reps: ack p99 {p99:.1f} ms (target < 100 ms): {'met' if p99 < 100 else 'MISSED'}")
    print(f"at {top} reps: {rate:.0f} turns/s (target >= 300): {'met' if rate >= 300 else 'MISSED'}")

    if args.profile:
        out = Path(tempfile.mkdtemp(prefix="slack-profile-")) / "app.prof"
        result = run_once(top, args.turns, args.mode, 999, profile_to=out, clock=args.profile)
        print(
            f"\nprofiled run ({top} reps, slowed by the profiler): {result.turns_per_second:.0f} turns/s, "
            f"ack p99 {result.p99 * 1e3:.1f} ms"
        )
        print_profile(out, args.profile, result.seconds)


if __name__ == "__main__":
    main()
