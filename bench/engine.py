"""One engine turn without storage (MemoryStore), beside python-telegram-bot's ConversationHandler
dispatching a 3-state conversation in memory, in the same run.

    .venv/bin/python bench/engine.py [--turns 20000] [--repeat 3] [--profile]

A turn is what the engine does per message once the channel has turned it into an ``Incoming``: route it,
validate the answer, change the session, store it (in memory here) and render the replies as plain text.
The person answers the score questions of ``/qualify Acme`` in a loop (scores 1-5, every fourth with a
note), says yes to the fit decision, and starts a new qualification when one completes.

The baseline is the dispatch of one Telegram update by PTB's ``Application.process_update`` to a
``ConversationHandler`` (entry command, three states each taking a text message whose callback checks a
score and keeps it in ``user_data``, the third ending the conversation). It renders and stores nothing.
No network: the bot's ``getMe`` at ``initialize()`` is answered by an in-process request object, which
refuses every other call, so a dispatch that tried to send anything would fail loudly.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as `python bench/engine.py`, this file's folder comes first on sys.path and bench/storage.py would hide
# the `storage` package: look it up from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from telegram import Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData  # noqa: E402

from bot.dialogs.base import Draft, parse_answer  # noqa: E402
from bot.engine import Engine, clean_text  # noqa: E402
from bot.knowledge import KnowledgeBase  # noqa: E402
from bot.messages import Channel, Incoming, Reply, ReplyKind  # noqa: E402
from storage.memory_store import MemoryStore  # noqa: E402

PERSON = "telegram:42"
WARMUP = 2_000
#: Completed dialogs after which the person's history is cleared (outside the timed region), so every
#: turn runs on a person with 0 to 10 past qualifications: a plausible rep, not an ever-growing one.
RESET_EVERY = 10
NOTE = "they want a 20% cost cut"
TARGET_P50_US = 100.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------------------------------- ours


class Person:
    """A rep answering qualification questions in a loop: what they send next depends on the last reply."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.engine = Engine(self.store)
        self.count = 0
        self.completed = 0
        self.next_text = "/qualify Acme"

    def incoming(self) -> Incoming:
        self.count += 1
        return Incoming(
            channel=Channel.TELEGRAM, person_id=PERSON, text=self.next_text, message_id=str(self.count)
        )

    def read(self, replies: list[Reply]) -> str:
        """Decide the next message from the replies; returns what kind of turn this one was."""
        question = next((r for r in reversed(replies) if r.kind is ReplyKind.QUESTION), None)
        if any(r.kind is ReplyKind.RESULT for r in replies):
            self.completed += 1
            if self.completed % RESET_EVERY == 0:
                self.store.forget_person(PERSON)
            self.next_text = "/qualify Acme"
            return "complete"
        if question is None:
            raise RuntimeError(f"no question after {self.next_text!r}: {[r.text() for r in replies]}")
        kind = "start" if self.next_text.startswith("/") else "answer"
        if question.step == "fit":
            self.next_text = "yes"
        else:
            score = self.count % 5 + 1
            self.next_text = f"{score} {NOTE}" if self.count % 4 == 0 else str(score)
        return kind


def bench_ours(turns: int) -> dict[str, list[float]]:
    """Seconds per turn: handle + render (the turn), handle alone, render alone; and per kind of turn."""
    person = Person()
    names = ("turn", "handle", "render", "answer", "answer handle", "complete")
    samples: dict[str, list[float]] = {name: [] for name in names}
    perf = time.perf_counter
    for n in range(turns + WARMUP):
        incoming = person.incoming()
        t0 = perf()
        replies = person.engine.handle(incoming)
        t1 = perf()
        for reply in replies:
            reply.text("plain")
        t2 = perf()
        kind = person.read(replies)
        if n >= WARMUP:
            samples["turn"].append(t2 - t0)
            samples["handle"].append(t1 - t0)
            samples["render"].append(t2 - t1)
            if kind in samples:
                samples[kind].append(t2 - t0)
            if kind == "answer":
                samples["answer handle"].append(t1 - t0)
    return samples


def per_call(fn: Callable[[], object], *, calls: int = 1_000, batches: int = 30) -> float:
    """Median seconds per call over batches (one call is too short to time on its own)."""
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def phases() -> dict[str, float]:
    """Parts of an answer turn, each timed on its own: the storage transaction, validation, rendering."""
    person = Person()
    for _ in range(3):  # start the dialog and answer twice: now at question 3
        person.read(replies := person.engine.handle(person.incoming()))
    store, engine = person.store, person.engine
    question = next(r for r in replies if r.kind is ReplyKind.QUESTION)
    knows = _Knows(engine.knowledge)
    steps = engine.dialogs["qualification"].steps(Draft(meta={}, answers={}), knows)  # type: ignore[arg-type]
    step = next(s for s in steps if s.id == question.step)

    def transaction() -> None:
        with store.person(PERSON) as tx:
            session = tx.get_session()
            tx.seen("telegram:x")
            assert session is not None
            tx.put_session(session)
            tx.mark_seen("telegram:x")

    return {
        "storage": per_call(transaction),
        "validation": per_call(lambda: parse_answer(step, clean_text("4"))),
        "render": per_call(lambda: question.text("plain")),
    }


@dataclass
class _Knows:
    """All a dialog's ``steps`` reads of its context: the knowledge base."""

    knowledge: KnowledgeBase


# ---------------------------------------------------------------------------------------------- PTB

BOT_USER = {"id": 123, "is_bot": True, "first_name": "Coach", "username": "coach_bot"}
CHAT = {"id": 42, "type": "private"}
USER = {"id": 42, "is_bot": False, "first_name": "Ana"}
ASK_1, ASK_2, ASK_3 = range(3)


class OfflineRequest(BaseRequest):
    """Answers ``getMe`` from memory and refuses everything else: no network, and none attempted."""

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if url.endswith("/getMe"):
            return 200, json.dumps({"ok": True, "result": BOT_USER}).encode()
        raise RuntimeError(f"the benchmark must not call the Bot API: {url}")


#: How many times each callback ran: the check that every update was dispatched where it should go.
CALLS: Counter[str] = Counter()


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert context.user_data is not None
    context.user_data["account"] = " ".join(context.args or ())
    CALLS["start"] += 1
    return ASK_1


def _score(next_state: int) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Any]:
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        assert update.message.text is not None
        assert context.user_data is not None
        text = update.message.text.strip()
        if not text.isdigit() or not 1 <= int(text) <= 5:
            return next_state - 1 if next_state != ConversationHandler.END else ASK_3
        context.user_data[next_state] = int(text)
        CALLS[f"score {next_state}"] += 1
        return next_state

    return callback


async def _cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    return ConversationHandler.END


def build_application() -> Application[Any, Any, Any, Any, Any, Any]:
    application = (
        ApplicationBuilder()
        .token("123:ABC")
        .request(OfflineRequest())
        .get_updates_request(OfflineRequest())
        .updater(None)
        .build()
    )
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("qualify", _start)],
            states={
                ASK_1: [MessageHandler(text, _score(ASK_2))],
                ASK_2: [MessageHandler(text, _score(ASK_3))],
                ASK_3: [MessageHandler(text, _score(ConversationHandler.END))],
            },
            fallbacks=[CommandHandler("cancel", _cancel)],
        )
    )
    return application


def updates(application: Application[Any, Any, Any, Any, Any, Any]) -> Iterator[Update]:
    """The conversation, over and over: /qualify Acme, then three scores."""
    messages = [
        ("/qualify Acme", [{"type": "bot_command", "offset": 0, "length": 8}]),
        ("4", []),
        ("5", []),
        ("3", []),
    ]
    built = []
    for n, (text, entities) in enumerate(messages, start=1):
        data = {
            "update_id": n,
            "message": {"message_id": n, "date": 1_764_000_000, "chat": CHAT, "from": USER, "text": text},
        }
        if entities:
            data["message"]["entities"] = entities
        built.append(Update.de_json(data, application.bot))
    while True:
        yield from built


async def _bench_ptb(dispatches: int) -> list[float]:
    CALLS.clear()
    application = build_application()
    await application.initialize()
    samples = []
    perf = time.perf_counter
    source = updates(application)
    try:
        for n in range(dispatches + WARMUP):
            update = next(source)
            t0 = perf()
            await application.process_update(update)
            t1 = perf()
            if n >= WARMUP:
                samples.append(t1 - t0)
        # Each cycle of 4 updates starts the conversation, takes three scores and ends it.
        total = dispatches + WARMUP
        expected = {
            "start": -(-total // 4),
            f"score {ASK_2}": -(-(total - 1) // 4),
            f"score {ASK_3}": -(-(total - 2) // 4),
            f"score {ConversationHandler.END}": total // 4,
        }
        assert dict(CALLS) == expected, f"the conversation did not run as intended: {dict(CALLS)}"
    finally:
        await application.shutdown()
    return samples


def bench_ptb(dispatches: int) -> list[float]:
    return asyncio.run(_bench_ptb(dispatches))


# ---------------------------------------------------------------------------------------------- main


def profile(turns: int) -> None:
    """The top costs of our turns, by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    bench_ours(turns)
    profiler.disable()
    # Full paths tell bot/engine.py from this file; shortened to the repository and the site-packages.
    prefixes = [str(Path(__file__).resolve().parents[1]) + os.sep, *(p + os.sep for p in sys.path if p)]
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(20)
        text = out.getvalue()
        for prefix in sorted(set(prefixes), key=len, reverse=True):
            text = text.replace(prefix, "")
        print(f"--- profile of {turns + WARMUP:,} turns, by {order}")
        print("\n".join(line for line in text.splitlines() if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20_000, help="timed turns and dispatches per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of our turns")
    args = parser.parse_args()

    python = platform.python_version()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    print(f"{args.turns:,} timed turns / dispatches per run after {WARMUP:,} warm-up", end="")
    print(f", median of {args.repeat} runs")
    runs: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.repeat):  # interleaved, so one noisy stretch of a shared machine does not decide
        for name, samples in bench_ours(args.turns).items():
            runs.setdefault(name, []).append((percentile(samples, 0.5), percentile(samples, 0.99)))
        samples = bench_ptb(args.turns)
        runs.setdefault("ptb", []).append((percentile(samples, 0.5), percentile(samples, 0.99)))
    results = {
        name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
        for name, rs in runs.items()
    }
    labels = {
        "turn": "ours: one turn (handle + render plain)",
        "handle": "  of which Engine.handle",
        "render": "  of which rendering the replies",
        "answer": "ours: turns answering a question",
        "answer handle": "  of which Engine.handle",
        "complete": "ours: turns completing a qualification",
        "ptb": "PTB ConversationHandler: one dispatch",
    }
    print(f"{'what':<48}{'p50 us':>10}{'p99 us':>10}")
    for name, label in labels.items():
        p50, p99 = results[name]
        print(f"{label:<48}{p50 * 1e6:>10.1f}{p99 * 1e6:>10.1f}")

    parts = phases()
    handle = results["answer handle"][0]
    rest = handle - parts["storage"] - parts["validation"]
    print("an answer turn's Engine.handle, in parts (each part timed on its own, median per call):")
    print(f"  {'storage: MemoryStore transaction':<46}{parts['storage'] * 1e6:>10.1f} us")
    print(f"  {'validation: clean_text + parse_answer':<46}{parts['validation'] * 1e6:>10.1f} us")
    print(f"  {'the rest: routing, state change, next question':<46}{rest * 1e6:>10.1f} us")
    print(f"and rendering the next question (plain): {parts['render'] * 1e6:.1f} us")
    ours, ptb = results["turn"][0], results["ptb"][0]
    print(
        f"ours p50 / PTB p50: {ours / ptb:.1f}x (turn with rendering), "
        f"{results['handle'][0] / ptb:.1f}x (handle alone)"
    )
    verdict = "meets" if ours * 1e6 <= TARGET_P50_US else "misses"
    print(f"our p50 {ours * 1e6:.1f} us {verdict} the target of at most {TARGET_P50_US:.0f} us")
    if args.profile:
        profile(min(args.turns, 5_000))


if __name__ == "__main__":
    main()
