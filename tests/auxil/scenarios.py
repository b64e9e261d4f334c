"""Conversation scripts (``tests/scenarios/*.yaml``) and the drivers that play them on a channel.

A script says what a person sends and what the coach must answer::

    description: what this shows
    user: ana
    opening: {expect: ["Hello!"]}        # optional: the greeting of the first start
    turns:
      - send: /qualify Acme
        expect: ["question 1 of 29"]     # substrings that must all appear in the replies (plain text)
        expect_re: []                    # regexes that must all match
        reject: []                       # substrings that must not appear
        expect_text: ["1) Yes   2) No"]  # only where choices are text (console): numbered choices
        expect_buttons: ["Yes", "No"]    # only where choices are buttons (Slack): the labels offered
      - restart: true                    # the process / engine ends; a new one starts on the same data
        expect: ["Welcome back"]         # checked against the opening shown on the restart

The turns between two restarts form a segment. A driver plays one segment: it starts the channel for the
user on the data directory, shows the opening, sends each line, and returns the opening text and the reply
text of each line (``SegmentResult``). Each channel brings its own driver (``DRIVERS``): the engine through
the console's translation in-process, the real ``coach chat`` command in a subprocess, the Slack app over
HTTP with the fake Web API. A channel that shows no greeting (Slack) returns no opening, and the opening
checks are skipped for it; a channel with buttons returns their labels, checked by ``expect_buttons``.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.channels.console import Console
from bot.engine import Engine
from bot.rendering import escape_slack
from storage.tinydb_store import TinyDBStore
from tests.auxil.cli import COACH
from tests.auxil.slack_app import SlackApp, button, buttons, message_text, plain
from tests.auxil.telegram_app import telegram_driver

SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
#: What no reply may ever contain: a crash, or the engine's apology for one.
ALWAYS_REJECTED = ("Traceback", "Something went wrong on my side")
#: The console's last line when the input ends.
FAREWELL = "Bye for now."
ECHO = "you> "
#: How a Slack transcript shows a line sent as a click on the button with that label.
CLICKED = "you clicked> "


@dataclass(frozen=True, slots=True)
class Check:
    """What the replies to one message (or an opening) must and must not contain."""

    expect: tuple[str, ...] = ()
    expect_re: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    expect_text: tuple[str, ...] = ()  # checked where choices are text
    expect_buttons: tuple[str, ...] = ()  # checked where choices are buttons

    @classmethod
    def from_yaml(cls, data: Mapping[str, Any], where: str) -> Check:
        """Read the ``expect``, ``expect_re``, ``reject``, ``expect_text`` and ``expect_buttons`` keys (each a
        string or a list of them)."""

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key) or []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}: {key} must be a string or a list of strings")
            return tuple(value)

        check = cls(
            strings("expect"),
            strings("expect_re"),
            strings("reject"),
            strings("expect_text"),
            strings("expect_buttons"),
        )
        for pattern in check.expect_re:
            re.compile(pattern)
        return check

    def problems(self, text: str, buttons: Sequence[str] | None = None) -> list[str]:
        """What is wrong with ``text`` (and the button labels offered, on a channel with buttons)."""
        found = [f"missing {s!r}" for s in self.expect if s not in text]
        found += [f"no match for /{p}/" for p in self.expect_re if re.search(p, text) is None]
        found += [f"unwanted {s!r}" for s in (*self.reject, *ALWAYS_REJECTED) if s in text]
        if buttons is None:
            found += [f"missing {s!r}" for s in self.expect_text if s not in text]
        else:
            found += [
                f"no button {s!r} (buttons: {list(buttons)})" for s in self.expect_buttons if s not in buttons
            ]
        return found


@dataclass(frozen=True, slots=True)
class Segment:
    """The lines sent between two starts of the channel, with what each start and reply must show."""

    opening: Check
    lines: tuple[str, ...]
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Script:
    """One conversation script."""

    name: str
    description: str
    user: str
    segments: tuple[Segment, ...]


_SCRIPT_KEYS = {"description", "user", "opening", "turns"}
_TURN_KEYS = {"send", "restart", "expect", "expect_re", "reject", "expect_text", "expect_buttons"}


def load_script(path: Path) -> Script:
    """Read and validate a script; a typo in a key is an error, not a silently empty check."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    if not isinstance(data, dict) or set(data) - _SCRIPT_KEYS:
        raise ValueError(f"{where}: a mapping with the keys {sorted(_SCRIPT_KEYS)} is expected")
    if not isinstance(data.get("description"), str) or not isinstance(data.get("user"), str):
        raise ValueError(f"{where}: description and user are required strings")
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ValueError(f"{where}: turns must be a non-empty list")
    segments: list[Segment] = []
    opening = Check.from_yaml(data.get("opening") or {}, f"{where} opening")
    lines: list[str] = []
    checks: list[Check] = []
    for n, turn in enumerate(turns, start=1):
        at = f"{where} turn {n}"
        if not isinstance(turn, dict) or set(turn) - _TURN_KEYS:
            raise ValueError(f"{at}: unknown keys {sorted(set(turn) - _TURN_KEYS)}")
        if ("send" in turn) == bool(turn.get("restart")):
            raise ValueError(f"{at}: a turn either sends a line or restarts")
        check = Check.from_yaml(turn, at)
        if turn.get("restart"):
            segments.append(Segment(opening, tuple(lines), tuple(checks)))
            opening, lines, checks = check, [], []
        else:
            line = turn["send"]
            if not isinstance(line, str) or "\n" in line:
                raise ValueError(f"{at}: send must be one line of text")
            lines.append(line)
            checks.append(check)
    segments.append(Segment(opening, tuple(lines), tuple(checks)))
    return Script(path.stem, data["description"], data["user"], tuple(segments))


def all_scripts() -> list[Path]:
    """Every script in ``tests/scenarios``."""
    return sorted(SCENARIOS_DIR.glob("*.yaml"))


# --- drivers ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SegmentResult:
    """What one start of a channel showed: the opening, then the replies to each line sent."""

    opening: str | None  # None: the channel shows nothing at a start (Slack), so opening checks are skipped
    replies: list[str]
    transcript: str = ""  # the whole output, for failure messages
    errors: list[str] = field(default_factory=list)  # problems of the channel itself (exit code, stderr)
    buttons: list[list[str]] | None = None  # per reply, the labels of its buttons; None: choices are text


#: Plays one segment: (user, lines) -> what the channel showed.
Driver = Callable[[str, Sequence[str]], SegmentResult]
#: Makes a driver working on one data directory.
DriverFactory = Callable[[Path], Driver]


def split_transcript(output: str, lines: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """Split a console transcript at the echoed ``you> LINE`` lines.

    Returns the opening (before the first echo), the replies to each line, and problems (an echo not
    found, no farewell at the end of input).
    """
    out = output.splitlines()
    errors: list[str] = []
    if out and out[-1].startswith(FAREWELL):
        out = out[:-1]
    else:
        errors.append(f"the console did not end with {FAREWELL!r}")
    positions: list[int] = []
    start = 0
    for line in lines:
        echo = f"{ECHO}{line.rstrip()}"
        try:
            start = out.index(echo, start)
        except ValueError:
            errors.append(f"the echo {echo!r} is missing from the transcript")
            break
        positions.append(start)
        start += 1
    bounds = [*positions, len(out)]
    opening = "\n".join(out[: bounds[0]]).strip()
    replies = ["\n".join(out[a + 1 : b]).strip() for a, b in itertools.pairwise(bounds)]
    replies += [""] * (len(lines) - len(replies))
    return opening, replies, errors


def engine_driver(data_dir: Path) -> Driver:
    """The engine in-process, through the console's translation (numbered choices act as in a terminal).

    Each segment builds a new store and engine on the data directory, as a restarted process would.
    """

    def play(user: str, lines: Sequence[str]) -> SegmentResult:
        output: list[str] = []
        store = TinyDBStore(data_dir)
        crashed: list[str] = []
        try:
            console = Console(Engine(store), user=user, write=output.append)
            console.run([f"{line}\n" for line in lines], echo=True)
        except Exception as exc:  # a crash of the channel is a finding, reported with the transcript
            crashed.append(f"the console crashed (Traceback): {exc!r}\n{traceback.format_exc()}")
        finally:
            store.close()
        transcript = "\n".join(output)
        opening, replies, errors = split_transcript(transcript, lines)
        return SegmentResult(opening, replies, transcript, crashed + errors)

    return play


def terminal_driver(data_dir: Path, *, timeout: float = 60) -> Driver:
    """``coach chat --user USER --data-dir DIR`` in a subprocess, the segment's lines piped on stdin."""

    def play(user: str, lines: Sequence[str]) -> SegmentResult:
        result = subprocess.run(
            [str(COACH), "chat", "--user", user, "--data-dir", str(data_dir)],
            input="".join(f"{line}\n" for line in lines),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        opening, replies, errors = split_transcript(result.stdout, lines)
        if result.returncode != 0:
            errors.append(f"coach chat exited with {result.returncode}")
        if "Traceback" in result.stderr:
            errors.append("coach chat printed a traceback")
        if errors and result.stderr:
            errors.append(f"stderr:\n{result.stderr}")
        return SegmentResult(opening, replies, result.stdout, errors)

    return play


def slack_driver(data_dir: Path) -> Driver:
    """The Slack app over HTTP on 127.0.0.1 with the fake Web API; each line a DM (``message.im``).

    When the last reply offered a button labelled exactly like the next line, the line is a click on it
    instead, as a person would pick a choice in Slack. A reply is the plain text of the messages posted after
    the line (mrkdwn markers and escapes undone), then each message's buttons as ``[label]``, then the files
    uploaded. Slack shows no greeting: the opening is None. Each segment starts a new app on the data
    directory, as a restarted server would.
    """

    def play(user: str, lines: Sequence[str]) -> SegmentResult:
        store = TinyDBStore(data_dir)
        app = SlackApp(store).start()
        slack_user = f"U{user.upper()}"
        replies: list[str] = []
        offered: list[list[str]] = []
        transcript: list[str] = []
        errors: list[str] = []
        last: list[dict[str, Any]] = []
        try:
            for line in lines:
                posts, calls = len(app.posted()), len(app.fake.calls)
                target = next(
                    (m for m in reversed(last) if any(b["text"]["text"] == line for b in buttons(m))), None
                )
                if target is not None:
                    response = app.click(button(target, line), target, user=slack_user)
                else:  # typed text reaches the app as Slack escapes it: &, < and > as entities
                    response = app.dm(escape_slack(line), user=slack_user)
                if response.status != 200:
                    errors.append(f"{line!r} was answered with HTTP {response.status}")
                app.settle()
                last = app.posted()[posts:]
                labels = [b["text"]["text"] for m in last for b in buttons(m)]
                files = [
                    f"File: {c.args.get('filename')}"
                    for c in app.fake.calls[calls:]
                    if c.method == "files.getUploadURLExternal"
                ]
                parts = []
                for message in last:
                    parts.append(plain(message_text(message)))
                    row = "   ".join(f"[{b['text']['text']}]" for b in buttons(message))
                    if row:
                        parts.append(f"   {row}")
                text = "\n".join(parts + files)
                replies.append(text)
                offered.append(labels)
                transcript.append(f"{CLICKED if target is not None else ECHO}{line}\n{text}")
        except Exception as exc:  # a crash of the channel is a finding, reported with the transcript
            errors.append(f"the Slack app crashed (Traceback): {exc!r}\n{traceback.format_exc()}")
        finally:
            app.stop()
            store.close()
        replies += [""] * (len(lines) - len(replies))
        offered += [[]] * (len(lines) - len(offered))
        return SegmentResult(None, replies, "\n".join(transcript), errors, offered)

    return play


DRIVERS: dict[str, DriverFactory] = {
    "engine": engine_driver,
    "terminal": terminal_driver,
    "slack": slack_driver,
    "telegram": telegram_driver,
}


# --- running ---------------------------------------------------------------------------------------------
def _shown(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines()) or "    | (nothing)"


def run_script(script: Script, driver: Driver) -> None:
    """Play every segment of a script on a driver; raise AssertionError listing every failed check."""
    failures: list[str] = []
    for number, segment in enumerate(script.segments, start=1):
        result = driver(script.user, segment.lines)
        where = f"{script.name}, segment {number}"
        failures += [f"{where}: {e}" for e in result.errors]
        if result.opening is not None:
            problems = segment.opening.problems(result.opening)
            if problems:
                failures.append(f"{where}, opening: {'; '.join(problems)}\n{_shown(result.opening)}")
        offered: list[list[str] | None] = list(result.buttons or [None] * len(segment.lines))
        for line, check, reply, labels in zip(
            segment.lines, segment.checks, result.replies, offered, strict=True
        ):
            problems = check.problems(reply, labels)
            if problems:
                failures.append(f"{where}, after {line!r}: {'; '.join(problems)}\n{_shown(reply)}")
    if failures:
        raise AssertionError(f"{script.description.strip()}\n" + "\n".join(failures))


def _script(script: Script | Path) -> Script:
    return script if isinstance(script, Script) else load_script(script)


def run_on_engine(script: Script | Path, data_dir: Path) -> None:
    """Play a script on a fresh engine (per segment) over a TinyDB store in ``data_dir``."""
    run_script(_script(script), engine_driver(data_dir))


def run_on_terminal(script: Script | Path, data_dir: Path) -> None:
    """Play a script through ``coach chat``, one process per segment, on ``data_dir``."""
    run_script(_script(script), terminal_driver(data_dir))
