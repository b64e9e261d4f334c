"""How a dialog is declared: steps with an input kind, validation and conditions, and a completion.

A dialog is data plus pure functions. It never does I/O: what it needs to know (the person's accounts, the
previous assessments, the time) comes through a read-only ``Context``; what it wants stored comes back as
``Effects`` for the engine to write. Steps may be generated from a knowledge file.
"""

from __future__ import annotations

import abc
import enum
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, ClassVar, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.knowledge import KnowledgeBase
from bot.messages import Choice, Reply, ReplyKind
from storage.base import Account, Assessment, CallPlan, ModuleProgress, Person, PersonData

#: Longest free-text answer kept (a person pasting a whole e-mail gets told, not truncated silently).
MAX_TEXT = 2000


class InputKind(enum.StrEnum):
    """What a step accepts."""

    SCORE = "score"  # a whole number on a scale, optionally followed by a note
    CHOICE = "choice"  # one of the step's choices, by number or label
    YES_NO = "yes_no"
    TEXT = "text"
    NUMBER = "number"
    DATETIME = "datetime"
    NEXT = "next"  # a message to read, then Next


@dataclass(frozen=True, slots=True)
class Condition:
    """Ask a step only when an earlier step's answer has a given value (declarative, so it can be drawn)."""

    step: str
    equals: Any
    label: str
    negate: bool = False  # ask when the answer is anything but ``equals``

    def holds(self, answers: Mapping[str, Mapping[str, Any]]) -> bool:
        """True if the earlier step was answered with the value (or, negated, with another one)."""
        answer = answers.get(self.step)
        if answer is None:
            return False
        return bool((answer.get("value") == self.equals) != self.negate)


@dataclass(frozen=True, slots=True)
class Special:
    """A word accepted instead of a regular answer, e.g. ``skip`` (does not apply) or ``not asked``."""

    value: str
    words: tuple[str, ...]
    label: str  # the button
    meaning: str = ""  # what it means, in the list of what a step accepts


@dataclass(frozen=True, slots=True)
class Step:
    """One question of a dialog."""

    id: str
    prompt: str  # template name
    kind: InputKind
    label: str
    values: Mapping[str, Any] = field(default_factory=dict)
    required: bool = True
    choices: tuple[Choice, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    scale_labels: Mapping[int, str] = field(default_factory=dict)
    allow_note: bool = False
    specials: tuple[Special, ...] = ()
    when: Condition | None = None
    section: str = ""
    dynamic: bool = False  # the prompt needs values computed from earlier answers (Dialog.prompt_values)

    def applies(self, answers: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether this step is asked, given the answers so far."""
        return self.when is None or self.when.holds(answers)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A valid answer: its value, an optional note, or a special value (then ``value`` is None)."""

    value: Any
    note: str = ""
    special: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The answer as stored in the dialog's draft."""
        return {"value": self.value, "note": self.note, "special": self.special}


class Invalid(ValueError):
    """An answer that does not fit the step; the message says what is accepted."""


_SCORE = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)(?:\s*/\s*\d+)?(?:(?:\s*[-:,;.–—]\s*|\s+)(.*))?$", re.DOTALL)
_YES = {"yes", "y", "yeah", "yep", "sure", "ok", "okay", "true"}
_NO = {"no", "n", "nope", "false"}


def is_number(text: str) -> bool:
    """A plain whole number in ASCII digits (``isdigit`` also accepts ``²``, which ``int`` refuses)."""
    text = text.strip()
    return text.isascii() and text.isdigit()


def normalize_word(text: str) -> str:
    """Lower-case, single-spaced, without surrounding punctuation: how a typed word is compared."""
    return " ".join(re.sub(r"[^\w\s'/-]", " ", text.lower()).split())


def _special(step: Step, text: str) -> Special | None:
    word = normalize_word(text)
    for special in step.specials:
        if word in special.words or word == special.value:
            return special
    return None


def parse_answer(step: Step, text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> Parsed:
    """Validate typed or clicked input for a step; raise ``Invalid`` saying what is accepted."""
    special = _special(step, text)
    if special is not None:
        return Parsed(None, special=special.value)
    if step.kind is InputKind.SCORE:
        return _parse_score(step, text)
    if step.kind is InputKind.CHOICE:
        return _parse_choice(step, text)
    if step.kind is InputKind.YES_NO:
        word = normalize_word(text)
        if word in _YES:
            return Parsed(True)
        if word in _NO:
            return Parsed(False)
        raise Invalid("Please answer yes or no.")
    if step.kind is InputKind.TEXT:
        return Parsed(_parse_text(text))
    if step.kind is InputKind.NUMBER:
        return _parse_number(step, text)
    if step.kind is InputKind.DATETIME:
        return Parsed(parse_when(text, now=now, tz=tz).isoformat())
    if step.kind is InputKind.NEXT:
        return Parsed(True)
    raise Invalid(f"this step has an unknown kind {step.kind!r}")  # pragma: no cover


_ACCEPTED: dict[int, tuple[Step, str]] = {}


def accepted(step: Step) -> str:
    """A sentence saying what a step accepts, for reprompts and help (memoized: steps are immutable)."""
    memo = _ACCEPTED.get(id(step))
    if memo is not None and memo[0] is step:
        return memo[1]
    text = _accepted(step)
    if len(_ACCEPTED) > 4096:
        _ACCEPTED.clear()
    _ACCEPTED[id(step)] = (step, text)
    return text


def _accepted(step: Step) -> str:
    extras = "".join(f", or `{s.words[0]}` ({s.meaning or s.label})" for s in step.specials)
    if step.kind is InputKind.SCORE:
        lo, hi = int(step.minimum or 1), int(step.maximum or 5)
        ends = ""
        if step.scale_labels:
            ends = f" ({lo} = {step.scale_labels.get(lo, lo)}, {hi} = {step.scale_labels.get(hi, hi)})"
        note = ", optionally followed by a note, e.g. `4 they want a 20% cost cut`" if step.allow_note else ""
        return f"a whole number from {lo} to {hi}{ends}{note}{extras}"
    if step.kind is InputKind.CHOICE:
        options = "; ".join(f"{n}. {c.label}" for n, c in enumerate(step.choices, start=1))
        return f"one of: {options} (the number or the name){extras}"
    if step.kind is InputKind.YES_NO:
        return f"yes or no{extras}"
    if step.kind is InputKind.TEXT:
        return f"a short text (up to {MAX_TEXT:,} characters){extras}"
    if step.kind is InputKind.NUMBER:
        return f"a number from {step.minimum:g} to {step.maximum:g}{extras}"
    if step.kind is InputKind.DATETIME:
        return f"a date and time, e.g. `2026-12-03 14:30`, `tomorrow 9:00` or `fri 15:00`{extras}"
    return "anything (send `next` to go on)"


def _parse_score(step: Step, text: str) -> Parsed:
    lo, hi = int(step.minimum or 1), int(step.maximum or 5)
    match = _SCORE.match(text)
    if match is None:
        raise Invalid(f"Please answer with {accepted(step)}.")
    number, note = match.group(1).replace(",", "."), (match.group(2) or "").strip()
    try:
        value = float(number)
    except ValueError:  # pragma: no cover - the pattern only lets numbers through
        raise Invalid(f"Please answer with {accepted(step)}.") from None
    if value != int(value) or not lo <= value <= hi:
        raise Invalid(f"{number} is not on the scale. Please answer with {accepted(step)}.")
    if note and not step.allow_note:
        raise Invalid(f"Please answer with {accepted(step)}, without a note.")
    return Parsed(int(value), note=_parse_text(note) if note else "")


def _parse_choice(step: Step, text: str) -> Parsed:
    if step.allow_note:  # "known they grow 10% a year": a choice, then a note
        head, _, rest = text.strip().partition(" ")
        if rest.strip():
            try:
                picked = _parse_choice(replace(step, allow_note=False), head)
            except Invalid:
                pass
            else:
                return Parsed(picked.value, note=_parse_text(rest))
    word = normalize_word(text)
    if is_number(word) and 1 <= int(word) <= len(step.choices):
        return Parsed(step.choices[int(word) - 1].value)
    for choice in step.choices:
        if word in (normalize_word(choice.label), normalize_word(choice.value)):
            return Parsed(choice.value)
    starts = [c for c in step.choices if word and normalize_word(c.label).startswith(word)]
    if len(starts) == 1:
        return Parsed(starts[0].value)
    raise Invalid(f"Please pick {accepted(step)}.")


def _parse_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise Invalid("That was empty. Please type your answer.")
    if len(text) > MAX_TEXT:
        raise Invalid(
            f"That is {len(text):,} characters; I keep answers of up to {MAX_TEXT:,}. "
            "Please shorten it and send it again."
        )
    return text


def _parse_number(step: Step, text: str) -> Parsed:
    try:
        value = float(normalize_word(text).replace(",", "."))
    except ValueError:
        raise Invalid(f"Please answer with {accepted(step)}.") from None
    lo = step.minimum if step.minimum is not None else float("-inf")
    hi = step.maximum if step.maximum is not None else float("inf")
    if not lo <= value <= hi:
        raise Invalid(f"{value:g} is out of range. Please answer with {accepted(step)}.")
    return Parsed(int(value) if value == int(value) else value)


_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WHEN = re.compile(
    r"^(?:(?P<date>\d{4}-\d{2}-\d{2})|(?P<rel>today|tomorrow)|(?P<wd>mon|tue|wed|thu|fri|sat|sun)[a-z]*)"
    r"(?:[ t]+(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?)?$"
)


def parse_when(text: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """Parse ``2026-12-03 14:30``, ``tomorrow 9:00``, ``fri 15:00`` (next such day) in the person's zone."""
    now = now or datetime.now(tz)
    tz = tz or now.tzinfo
    local_now = now.astimezone(tz)
    match = _WHEN.match(" ".join(text.lower().split()))
    if match is None:
        raise Invalid(
            f"I could not read {text.strip()[:40]!r} as a date and time. Please send one like "
            "`2026-12-03 14:30`, `tomorrow 9:00` or `fri 15:00`."
        )
    if match["date"]:
        try:
            day = date.fromisoformat(match["date"])
        except ValueError:
            raise Invalid(f"{match['date']} is not a date of the calendar. Please check it.") from None
    elif match["rel"]:
        day = local_now.date() + timedelta(days=1 if match["rel"] == "tomorrow" else 0)
    else:
        ahead = (_WEEKDAYS.index(match["wd"]) - local_now.weekday()) % 7 or 7
        day = local_now.date() + timedelta(days=ahead)
    hour, minute = int(match["h"] or 9), int(match["m"] or 0)
    if match["ampm"] == "pm" and hour < 12:
        hour += 12
    if match["ampm"] == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise Invalid(f"{match['h']}:{match['m'] or '00'} is not a time of day. Please check it.")
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def zone_of(person: Person | None) -> ZoneInfo:
    """A person's timezone from their directory entry; UTC when there is none or it is unknown."""
    try:
        return ZoneInfo(person.timezone if person is not None else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class Context(Protocol):
    """What a dialog may read about the person, without doing I/O itself."""

    person_id: str
    now: datetime
    knowledge: KnowledgeBase

    def person(self) -> Person | None:
        """The person's directory entry (role, timezone...), if any."""

    def accounts(self) -> list[Account]:
        """The person's accounts."""

    def assessments(self, *, kind: str | None = None, account: str | None = None) -> list[Assessment]:
        """The person's completed assessments, oldest first."""

    def plans(self) -> list[CallPlan]:
        """The person's call plans."""

    def onboarding(self) -> list[ModuleProgress]:
        """The person's onboarding progress."""


@dataclass(frozen=True, slots=True)
class Effects:
    """What a dialog wants stored: the engine writes it in the same transaction as the session."""

    assessments: tuple[Assessment, ...] = ()
    accounts: tuple[Account, ...] = ()
    plans: tuple[CallPlan, ...] = ()
    progress: tuple[ModuleProgress, ...] = ()
    answers: bool = True  # append the run's final answers to the answers log


@dataclass(frozen=True, slots=True)
class Completion:
    """The end of a dialog: what to say, and what to store."""

    replies: tuple[Reply, ...]
    effects: Effects = Effects()


@dataclass(frozen=True, slots=True)
class Started:
    """A dialog accepted its start: the draft's first metadata (e.g. the account) and an intro."""

    meta: Mapping[str, Any] = field(default_factory=dict)
    intro: tuple[Reply, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    """A dialog could not start (e.g. no account given): the reply says why and what to do."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class Draft:
    """A dialog in progress, as a dialog sees it: metadata and answers by step id."""

    meta: Mapping[str, Any]
    answers: Mapping[str, Mapping[str, Any]]
    started_at: datetime | None = None


class Dialog(abc.ABC):
    """A conversation: its steps (possibly depending on earlier answers) and its completion."""

    #: the name used in sessions and diagrams, e.g. ``qualification``.
    name: ClassVar[str]
    #: the command that starts it, e.g. ``qualify`` for ``/qualify ACCOUNT``.
    command: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    usage: ClassVar[str] = ""

    def start(self, args: str, ctx: Context) -> Started | Refused:
        """Accept or refuse a start with the command's arguments."""
        return Started()

    @abc.abstractmethod
    def steps(self, draft: Draft, ctx: Context) -> Sequence[Step]:
        """Every step, in order; conditions decide which are asked."""

    @abc.abstractmethod
    def complete(self, draft: Draft, ctx: Context) -> Completion:
        """Compute the result once every applicable step is answered."""

    def describe(self, draft: Draft) -> str:
        """A few words naming this run, e.g. 'qualification of Acme'."""
        account = draft.meta.get("account_name")
        return f"{self.title.lower()} of {account}" if account else self.title.lower()

    def prompt_values(self, step: Step, draft: Draft, ctx: Context) -> Mapping[str, Any]:
        """Values a step's prompt needs that depend on earlier answers (e.g. a subtotal); none by default."""
        return {}

    def on_answer(self, step: Step, parsed: Parsed, draft: Draft, ctx: Context) -> tuple[Reply, ...]:
        """Replies to show right after an answer (e.g. quiz feedback); none by default."""
        return ()


class View(abc.ABC):
    """A read-only command (``/accounts``, ``/history ACCOUNT``): shows data, changes nothing."""

    command: ClassVar[str]
    summary: ClassVar[str]
    usage: ClassVar[str] = ""

    @abc.abstractmethod
    def show(self, args: str, ctx: Context) -> tuple[Reply, ...]:
        """The replies for ``/command ARGS``."""


_BUTTONS: dict[int, tuple[Step, tuple[Choice, ...], bool]] = {}


def buttons(step: Step) -> tuple[tuple[Choice, ...], bool]:
    """A step's buttons and whether a text channel may number them (memoized: steps are immutable)."""
    memo = _BUTTONS.get(id(step))
    if memo is not None and memo[0] is step:
        return memo[1], memo[2]
    choices, numbered = _buttons(step)
    if len(_BUTTONS) > 4096:
        _BUTTONS.clear()
    _BUTTONS[id(step)] = (step, choices, numbered)
    return choices, numbered


class TeamReader(Protocol):
    """Read access to other people's data, limited to what the viewer's role allows (``bot.access``)."""

    knowledge: KnowledgeBase
    now: datetime

    def viewer(self) -> Person | None:
        """Who is asking."""

    def visible(self) -> list[Person]:
        """The other people whose data the viewer may read."""

    def data(self, person_id: str) -> PersonData:
        """One visible person's data; PermissionError for anyone else."""


class TeamView(View):
    """A read-only command over other people's data (the digest); it runs outside the viewer's lock."""

    def show(self, args: str, ctx: Context) -> tuple[Reply, ...]:
        return ()

    @abc.abstractmethod
    def show_team(self, args: str, team: TeamReader) -> tuple[Reply, ...]:
        """The replies, built from what ``team`` lets the viewer read."""


_D = TypeVar("_D")
_K = TypeVar("_K")


def per_knowledge(build: Callable[[_D, _K], Sequence[Step]]) -> Callable[[_D, _K], tuple[Step, ...]]:
    """Build a dialog's steps once per knowledge object: steps are immutable and knowledge is loaded once,
    so a turn does not rebuild dozens of steps."""
    memo: dict[int, tuple[object, tuple[Step, ...]]] = {}

    @functools.wraps(build)
    def cached(self: _D, source: _K) -> tuple[Step, ...]:
        hit = memo.get(id(source))
        if hit is not None and hit[0] is source:
            return hit[1]
        steps = tuple(build(self, source))
        memo[id(source)] = (source, steps)
        return steps

    return cached


def question_reply(step: Step, *, number: int, total: int, extra: Mapping[str, Any] | None = None) -> Reply:
    """The reply that asks a step, with its choices as buttons."""
    choices, numbered = buttons(step)
    values = {**step.values, **(extra or {}), "step": step, "number": number, "total": total}
    title = str(values.get("dialog_title", ""))
    parts = (
        (title, step.section, f"question {number} of {total}")
        if step.section
        else (title, f"question {number} of {total}")
    )
    values["header"] = " · ".join(parts)
    values["accepted"] = accepted(step)
    return Reply(
        step.prompt, values, choices=choices, kind=ReplyKind.QUESTION, step=step.id, numbered=numbered
    )


def _buttons(step: Step) -> tuple[tuple[Choice, ...], bool]:
    choices = step.choices
    numbered = True
    if step.kind is InputKind.SCORE:
        lo, hi = int(step.minimum or 1), int(step.maximum or 5)
        choices = tuple(Choice(str(n), str(n)) for n in range(lo, hi + 1))
        numbered = False
    elif step.kind is InputKind.YES_NO:
        choices = (Choice("Yes", "yes"), Choice("No", "no"))
    elif step.kind is InputKind.NEXT:
        choices = (Choice("Next", "next"),)
        numbered = False
    choices += tuple(Choice(s.label, s.value) for s in step.specials)
    return choices, numbered
