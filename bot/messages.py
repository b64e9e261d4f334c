"""The neutral types every layer speaks: what a person sent, and what the coach answers.

Channels turn platform payloads into ``Incoming`` and ``Reply`` objects into platform messages; the engine
and the dialogs know nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.base import utcnow


class Channel(enum.StrEnum):
    """Where a message came from."""

    TERMINAL = "terminal"
    SLACK = "slack"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class Action:
    """A clicked button or picked option: the step it belongs to and the value it carries."""

    step: str
    value: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from one person: typed text, or a click (``action``), or a filled-in form."""

    channel: Channel
    person_id: str
    text: str = ""
    action: Action | None = None
    form: Mapping[str, str] | None = None
    message_id: str | None = None
    at: datetime = field(default_factory=utcnow)
    display_name: str | None = None

    @property
    def dedupe_key(self) -> str | None:
        """Channel and platform message id: the same key twice means the same message delivered twice."""
        return f"{self.channel}:{self.message_id}" if self.message_id else None


@dataclass(frozen=True, slots=True)
class Choice:
    """One option a channel can show as a button; ``value`` is what picking it sends."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or an image to send with a reply."""

    filename: str
    content: bytes
    mime_type: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class FormQuestion:
    """One question of a form: its step, label, prompt text and the options a select offers."""

    step: str
    label: str
    text: str
    options: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class Form:
    """Several questions of the active dialog to fill in at once (e.g. a questionnaire step as a modal)."""

    title: str
    questions: tuple[FormQuestion, ...]
    notes: bool = True


#: Actions whose ``step`` is this carry a command to run (a Home tab button), not an answer.
COMMAND_STEP = "command"


class ReplyKind(enum.StrEnum):
    """What a reply is, so a channel can present it well (a question gets buttons, a result gets fields)."""

    MESSAGE = "message"
    QUESTION = "question"
    RESULT = "result"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the coach says: a template and its values, rendered by each channel for its own markup.

    ``step`` names the question a reply asks (buttons carry it back, so a click on an old question can be
    told from a click on the current one). ``numbered`` tells a text channel it may number the choices.
    """

    template: str
    values: Mapping[str, Any] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    kind: ReplyKind = ReplyKind.MESSAGE
    step: str | None = None
    numbered: bool = True
    attachments: tuple[Attachment, ...] = ()
    form: Mapping[str, Any] | None = None

    def text(self, fmt: str = "plain") -> str:
        """The reply rendered for a channel's markup (``plain``, ``slack`` or ``telegram``)."""
        from bot.rendering import Format, render

        return render(self.template, fmt if isinstance(fmt, Format) else Format(fmt), **self.values)
