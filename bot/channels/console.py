"""The terminal channel: lines in, plain text out. Interactive with a TTY, scriptable through a pipe."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from bot.dialogs.base import is_number
from bot.engine import Engine
from bot.messages import Action, Attachment, Channel, Choice, Incoming, Reply
from bot.rendering import Format

QUIT = {"/quit", "/exit"}


def format_choices(reply: Reply) -> str:
    """Choices as a text channel shows them: numbered (``1) Yes``) or, for scores, as they are typed."""
    if not reply.choices:
        return ""
    if reply.numbered:
        return "   ".join(f"{n}) {c.label}" for n, c in enumerate(reply.choices, start=1))
    return "   ".join(f"[{c.label}]" for c in reply.choices)


class Console:
    """Talks to the engine for one terminal user."""

    def __init__(
        self, engine: Engine, *, user: str, write: Callable[[str], None], files: Path | None = None
    ) -> None:
        self.engine = engine
        self.user = user
        self.write = write
        self.files = files or Path("coach-exports")
        self._session = uuid.uuid4().hex[:12]
        self._count = 0
        self._choices: tuple[Choice, ...] = ()
        self._numbered = False
        self._step: str | None = None

    def to_incoming(self, line: str) -> Incoming:
        """A typed line; a number or label picking one of the last question's choices becomes a click."""
        self._count += 1
        text = line.rstrip("\n")
        action = None
        typed = text.strip().lower()
        if self._step is not None and self._choices:
            if self._numbered and is_number(typed) and 1 <= int(typed) <= len(self._choices):
                action = Action(self._step, self._choices[int(typed) - 1].value)
            else:
                for choice in self._choices:
                    if typed and typed == choice.label.lower():
                        action = Action(self._step, choice.value)
        return Incoming(
            channel=Channel.TERMINAL,
            person_id=self.user,
            text=text,
            action=action,
            message_id=f"{self._session}:{self._count}",
        )

    def show(self, replies: Iterable[Reply]) -> None:
        """Print replies; remember the last question's choices for the next line."""
        for reply in replies:
            self.write(reply.text(Format.PLAIN))
            for attachment in reply.attachments:
                self.write(f"   Saved {attachment.title or attachment.filename}: {self.save(attachment)}")
            choices = format_choices(reply)
            if choices:
                self.write(f"   {choices}")
            self.write("")
            if reply.step is not None:
                self._choices, self._numbered, self._step = reply.choices, reply.numbered, reply.step

    def save(self, attachment: Attachment) -> Path:
        """Write an attachment (a call plan, a chart) to the files folder; returns its path."""
        self.files.mkdir(parents=True, exist_ok=True)
        path = self.files / attachment.filename
        path.write_bytes(attachment.content)
        return path.resolve()

    def send(self, line: str) -> None:
        """Handle one typed line."""
        incoming = self.to_incoming(line)
        self._choices, self._step = (), None
        self.show(self.engine.handle(incoming))

    def run(self, lines: Iterable[str], *, echo: bool = False) -> None:
        """Greet, then handle each line until the input ends or the person types /quit.

        With ``echo`` (input from a pipe) each line is printed before its replies, so the output reads as
        a transcript.
        """
        self.show(self.engine.opening(self.user))
        for line in lines:
            if echo:
                self.write(f"you> {line.rstrip()}")
            if line.strip().lower() in QUIT:
                break
            self.send(line)
        self.write("Bye for now. Everything you answered is saved; `coach chat` picks up where you left off.")


def read_lines(stream: TextIO, *, interactive: bool, prompt: str = "you> ") -> Iterable[str]:
    """Lines from a pipe, or from an interactive prompt until Ctrl-D / Ctrl-C."""
    if not interactive:
        yield from stream
        return
    while True:
        try:
            yield input(prompt)
        except (EOFError, KeyboardInterrupt):
            print()
            return
