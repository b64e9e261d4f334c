"""The dialog engine: one entry point that takes an incoming message and returns the replies.

Per message: take the person's lock (through the store, so it holds across threads and processes), drop a
re-delivered message, load the session, route global commands, else run the active dialog's step, store
the session and any results in one transaction, and only then return the replies. A person is never told
something was saved that was not.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot import team_admin
from bot.access import can_see, visible_reps
from bot.dialogs import by_command, registry, views
from bot.dialogs.base import (
    Completion,
    Context,
    Dialog,
    Draft,
    InputKind,
    Invalid,
    Parsed,
    Refused,
    Step,
    TeamView,
    View,
    accepted,
    buttons,
    is_number,
    parse_answer,
    question_reply,
    zone_of,
)
from bot.knowledge import KnowledgeBase, shipped_knowledge
from bot.messages import COMMAND_STEP, Choice, Form, FormQuestion, Incoming, Reply, ReplyKind
from storage.base import (
    Account,
    Answer,
    Assessment,
    CallPlan,
    Frame,
    ModuleProgress,
    Person,
    PersonData,
    PersonTransaction,
    Role,
    Session,
    Store,
    utcnow,
)

log = logging.getLogger(__name__)

DEFAULT_EXPIRY = timedelta(days=7)
#: The step id of yes/no buttons on a confirmation (cancel, pause, resume an expired dialog).
CONFIRM_STEP = "confirm"
#: The special answer that skips the rest of a section (``skip step`` in the qualification).
SKIP_SECTION = "skip_section"
#: Longest message read at all; longer ones are refused whole (nothing is cut silently).
MAX_MESSAGE = 8000

GLOBAL_COMMANDS: dict[str, str] = {
    "help": "show what you can do here, then return to where you were",
    "status": "show where you are, your answers so far (numbered) and paused dialogs",
    "back": "go back one question; your new answer replaces the old one",
    "edit": "`/edit N`: answer question N again",
    "skip": "skip the current question if it is optional",
    "cancel": "cancel the current dialog (asks first; nothing of it is kept)",
    "resume": "continue a paused dialog (`/resume N` picks one from /status)",
    "link": "link your Slack and Telegram identities: `/link` here, then `/link CODE` there",
}

# Control characters and invisible marks that can disguise text; the zero-width (non-)joiners U+200C and
# U+200D stay: emoji sequences and Persian, Arabic and Indic scripts need them.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@(\w+))?(?:\s+(.*))?$", re.DOTALL)


def clean_text(text: str) -> str:
    """NFC-normalize, drop control and bidi characters (keep newlines and tabs), trim."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


def _with_person(incoming: Incoming, person_id: str) -> Incoming:
    return Incoming(
        incoming.channel,
        person_id,
        incoming.text,
        incoming.action,
        incoming.form,
        incoming.message_id,
        incoming.at,
        incoming.display_name,
    )


class TeamAccess:
    """Other people's data, as far as ``bot.access`` lets the viewer see it (``TeamReader``)."""

    def __init__(self, store: Store, viewer_id: str, knowledge: KnowledgeBase, now: datetime) -> None:
        self.knowledge = knowledge
        self.now = now
        self._store = store
        # Someone not in the directory is a rep: they see their own data only.
        self._viewer = store.get_person(viewer_id) or Person(id=viewer_id, name=viewer_id.split(":")[-1])
        self._people = store.people()

    def viewer(self) -> Person:
        return self._viewer

    def visible(self) -> list[Person]:
        return visible_reps(self._viewer, self._people)

    def data(self, person_id: str) -> PersonData:
        if not can_see(self._viewer, person_id, self._people):
            raise PermissionError(f"{person_id}'s data is not visible to this viewer")
        return self._store.read_person(person_id)


def _naming(dialog: Dialog, args: str) -> str:
    """'qualification of Beta': a dialog about to start, named with its argument."""
    args = " ".join(args.split())
    return f"{dialog.title.lower()} of {args}" if args else dialog.title.lower()


def _shown(step: Step, answer: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """An answer as a person reads it: a picked choice by its label, not its stored value."""
    if answer is None or not step.choices:
        return answer
    labels = {c.value: c.label for c in step.choices}
    value = answer.get("value")
    return {**answer, "value": labels.get(value, value) if isinstance(value, str) else value}


def _position(steps: Sequence[Step], step: Step) -> int:
    """The index of ``step`` in ``steps``, by id (a dataclass comparison would compare every field)."""
    return [s.id for s in steps].index(step.id)


class _TxContext:
    """The read-only view of the person's data a dialog gets (``bot.dialogs.base.Context``)."""

    def __init__(self, tx: PersonTransaction, store: Store, knowledge: KnowledgeBase, now: datetime) -> None:
        self.person_id = tx.person_id
        self.now = now
        self.knowledge = knowledge
        self._tx = tx
        self._store = store

    def person(self) -> Person | None:
        return self._store.get_person(self.person_id)

    def accounts(self) -> list[Account]:
        return self._tx.accounts()

    def assessments(self, *, kind: str | None = None, account: str | None = None) -> list[Assessment]:
        return self._tx.assessments(kind=kind, account=account)

    def plans(self) -> list[CallPlan]:
        return self._tx.plans()

    def onboarding(self) -> list[ModuleProgress]:
        return self._tx.onboarding()


@dataclass
class _Turn:
    """The mutable state of one turn; the engine stores it at the end."""

    session: Session
    ctx: Context
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    completions: list[tuple[Frame, Completion]] = field(default_factory=list)
    #: Work that reads or changes other people's data: run after the turn, outside this person's lock,
    #: so two people acting on each other can never wait on each other.
    after: list[Callable[[], list[Reply]]] = field(default_factory=list)

    def say(self, template: str, kind: ReplyKind = ReplyKind.MESSAGE, **values: Any) -> None:
        self.replies.append(Reply(f"engine/{template}.txt.j2", values, kind=kind))

    def confirm(self, template: str, **values: Any) -> None:
        """A yes/no question about the conversation itself, with buttons."""
        choices = (Choice("Yes", "yes"), Choice("No", "no"))
        reply = Reply(f"engine/{template}.txt.j2", values, choices, ReplyKind.QUESTION, step=CONFIRM_STEP)
        self.replies.append(reply)

    def error(self, template: str, **values: Any) -> None:
        self.say(template, ReplyKind.ERROR, **values)

    @property
    def pending(self) -> Mapping[str, Any] | None:
        value = self.session.data.get("pending")
        return value if isinstance(value, Mapping) else None

    def set_pending(self, pending: Mapping[str, Any] | None) -> None:
        data = {k: v for k, v in self.session.data.items() if k != "pending"}
        if pending is not None:
            data["pending"] = dict(pending)
        self.session = replace(self.session, data=data)


class Engine:
    """Runs conversations: ``handle(incoming)`` returns the replies, after the state is stored."""

    def __init__(
        self,
        store: Store,
        *,
        knowledge: KnowledgeBase | None = None,
        expiry: timedelta = DEFAULT_EXPIRY,
        dialogs: Mapping[str, Dialog] | None = None,
        read_only: Mapping[str, View] | None = None,
        bot_username: str | None = None,
    ) -> None:
        self.store = store
        self.knowledge = knowledge or shipped_knowledge()
        self.expiry = expiry
        self.dialogs = dict(dialogs) if dialogs is not None else registry()
        self.commands = {d.command: d for d in self.dialogs.values()} if dialogs is not None else by_command()
        self.views = dict(read_only) if read_only is not None else views()
        #: Commands addressed as ``/command@NAME`` are ours only with this name (a Telegram bot's username).
        self.bot_username = bot_username

    # ------------------------------------------------------------------ entry point
    def handle(self, incoming: Incoming) -> list[Reply]:
        """Handle one message; the replies are returned only once everything is stored."""
        now = incoming.at
        canonical = self.store.canonical_id(incoming.person_id)
        if canonical != incoming.person_id:  # a linked identity: one person, one history
            incoming = _with_person(incoming, canonical)
        try:
            with self.store.person(incoming.person_id) as tx:
                key = incoming.dedupe_key
                if key is not None and tx.seen(key):
                    log.info("dropped a re-delivered message %s", key)
                    return []
                stored = tx.get_session()
                session = stored or Session(person_id=incoming.person_id)
                turn = _Turn(session, _TxContext(tx, self.store, self.knowledge, now), now)
                if stored is None:
                    self._first_contact(turn)
                self._route(turn, incoming)
                self._store(tx, turn)
                if key is not None:
                    tx.mark_seen(key, at=now)
            for work in turn.after:
                turn.replies.extend(work())
            return turn.replies
        except Exception:
            log.exception("a turn of %s failed; nothing of it was stored", incoming.person_id)
            return [Reply("engine/internal_error.txt.j2", {}, kind=ReplyKind.ERROR)]

    def opening(self, person_id: str, *, now: datetime | None = None) -> list[Reply]:
        """What to show when a person opens a channel: where they left off, or a welcome. Changes nothing."""
        now = now or utcnow()
        with self.store.person(person_id) as tx:
            session = tx.get_session() or Session(person_id=person_id)
            turn = _Turn(session, _TxContext(tx, self.store, self.knowledge, now), now)
            current = self._current(turn)
            if current is not None:
                turn.say("welcome_back", what=self._describe(current[0]))
                if turn.pending is not None:  # a yes/no question was open: ask it again, not the step
                    self._say_pending(turn, turn.pending)
                else:
                    self._reask(turn)
            elif session.paused:
                turn.say("paused_waiting", paused=self._paused_list(turn))
            else:
                turn.say("help", commands=self._command_list(), first=True)
            return turn.replies

    def home(self, person_id: str, *, max_accounts: int = 15) -> list[Reply]:
        """A person's overview (the Home tab): their accounts, and buttons to start each dialog. Read-only."""
        now = utcnow()
        with self.store.person(person_id) as tx:
            ctx = _TxContext(tx, self.store, self.knowledge, now)
            replies = list(self.views["accounts"].show("", ctx)) if "accounts" in self.views else []
            accounts = sorted(ctx.accounts(), key=lambda a: a.name.casefold())[:max_accounts]
        starts = [d for d in self.dialogs.values() if d.usage == "ACCOUNT"]
        choices = tuple(
            Choice(f"{d.command.title()} {a.name}", f"/{d.command} {a.name}")
            for a in accounts
            for d in starts
        )
        replies.append(
            Reply("engine/home_actions.txt.j2", {"starts": starts, "any": bool(accounts)}, choices)
        )
        return replies

    def form(self, person_id: str, *, max_questions: int = 20) -> Form | None:
        """The unanswered score questions of the current section, to fill in at once; None if not a fit."""
        now = utcnow()
        with self.store.person(person_id) as tx:
            session = tx.get_session() or Session(person_id=person_id)
            turn = _Turn(session, _TxContext(tx, self.store, self.knowledge, now), now)
            current = self._current(turn)
        if current is None or current[1].kind is not InputKind.SCORE:
            return None
        frame, step, steps = current
        answers = frame.draft.get("answers", {})
        chosen = [
            s
            for s in steps
            if s.section == step.section and s.kind is InputKind.SCORE and (s.id not in answers or s is step)
        ][:max_questions]
        if len(chosen) < 2:
            return None
        questions = tuple(
            FormQuestion(
                step=s.id,
                label=s.label,
                text=str(getattr(s.values.get("question"), "text", s.label)),
                options=buttons(s)[0],
            )
            for s in chosen
        )
        return Form(title=step.section or step.label, questions=questions)

    def _first_contact(self, turn: _Turn) -> None:
        """A person's very first message: a new hire is greeted and offered onboarding."""
        person = turn.ctx.person()
        if person is not None and person.new_hire and "onboard" in self.commands:
            turn.replies.append(
                Reply(
                    "engine/welcome_new_hire.txt.j2",
                    {"name": person.name},
                    (Choice("Start onboarding", "/onboard"),),
                    ReplyKind.QUESTION,
                    step=COMMAND_STEP,
                )
            )

    def _store(self, tx: PersonTransaction, turn: _Turn) -> None:
        for frame, completion in turn.completions:
            effects = completion.effects
            draft = frame.draft
            if effects.answers:
                account = draft.get("meta", {}).get("account")
                for step_id, answer in draft.get("answers", {}).items():
                    tx.append_answer(
                        Answer(
                            person_id=tx.person_id,
                            dialog=frame.dialog,
                            run_id=str(draft.get("run")),
                            question=step_id,
                            value=answer.get("special") or answer.get("value"),
                            note=answer.get("note", ""),
                            account=account,
                            at=datetime.fromisoformat(answer["at"]),
                        )
                    )
            for account_record in effects.accounts:
                tx.put_account(account_record)
            for plan in effects.plans:
                tx.put_plan(plan)
            for progress in effects.progress:
                tx.put_module_progress(progress)
            for assessment in effects.assessments:
                tx.append_assessment(assessment)
        tx.put_session(replace(turn.session, updated_at=turn.now))

    # ------------------------------------------------------------------ routing
    def _route(self, turn: _Turn, incoming: Incoming) -> None:
        if incoming.action is not None and incoming.action.step == COMMAND_STEP:
            incoming = Incoming(incoming.channel, incoming.person_id, incoming.action.value, at=incoming.at)
        text = clean_text(incoming.text)
        if len(incoming.text) > MAX_MESSAGE:
            turn.error("too_long", length=len(incoming.text), limit=MAX_MESSAGE)
            self._reask(turn)
            return
        if not self._check_expiry(turn, text):
            return
        command = _COMMAND.match(text) if incoming.action is None else None
        if command and command.group(2) and command.group(2).lower() != (self.bot_username or "").lower():
            # "/qualify@otherbot": meant for another bot in a group chat, not for us.
            turn.error("unknown_command", command=text.split()[0][:60], commands=self._command_list())
            self._reask(turn)
            return
        if turn.pending is not None and not (command and command.group(1).lower() in ("help", "status")):
            self._answer_pending(turn, text, incoming)
            return
        if command:
            self._command(turn, command.group(1).lower(), (command.group(3) or "").strip())
            return
        if text.startswith("/"):
            turn.error("unknown_command", command=text.split()[0][:40], commands=self._command_list())
            self._reask(turn)
            return
        if incoming.form is not None:
            self._answer_form(turn, incoming.form)
            return
        self._answer(turn, text, incoming)

    def _command_list(self) -> list[tuple[str, str]]:
        starts = [(f"/{d.command} {d.usage}".strip(), d.summary) for d in self.dialogs.values()]
        shows = [(f"/{v.command} {v.usage}".strip(), v.summary) for v in self.views.values()]
        return starts + shows + [(f"/{name}", what) for name, what in GLOBAL_COMMANDS.items()]

    def _command(self, turn: _Turn, name: str, args: str) -> None:
        if name in ("help", "start"):
            turn.say("help", commands=self._command_list(), first=name == "start")
            self._reask(turn, again=True)
        elif name == "status":
            self._status(turn)
        elif name == "cancel":
            self._cancel(turn)
        elif name == "back":
            self._back(turn)
        elif name == "edit":
            self._edit(turn, args)
        elif name == "skip":
            self._skip(turn)
        elif name == "resume":
            self._resume(turn, args)
        elif name in self.commands:
            self._start(turn, self.commands[name], args)
        elif name in self.views:
            view = self.views[name]
            if isinstance(view, TeamView):
                person_id, now = turn.ctx.person_id, turn.now

                def show(view: TeamView = view) -> list[Reply]:
                    return list(view.show_team(args, TeamAccess(self.store, person_id, self.knowledge, now)))

                turn.after.append(show)
                return
            turn.replies.extend(view.show(args, turn.ctx))
            self._reask(turn)
        elif name == "link":
            self._link(turn, args)
        elif name == "team":
            self._team(turn, args)
        else:
            turn.error("unknown_command", command=f"/{name}", commands=self._command_list())
            self._reask(turn)

    # ------------------------------------------------------------------ the active dialog
    def _dialog(self, frame: Frame) -> Dialog | None:
        return self.dialogs.get(frame.dialog)

    @staticmethod
    def _draft(frame: Frame) -> Draft:
        return Draft(
            meta=frame.draft.get("meta", {}),
            answers=frame.draft.get("answers", {}),
            started_at=frame.started_at,
        )

    def _applicable(self, frame: Frame, ctx: Context) -> list[Step]:
        dialog = self._dialog(frame)
        if dialog is None:
            return []
        draft = self._draft(frame)
        # A step whose condition is not decided yet still counts, so "question 3 of N" keeps its N.
        return [
            s
            for s in dialog.steps(draft, ctx)
            if s.when is None or s.when.step not in draft.answers or s.applies(draft.answers)
        ]

    def _current(self, turn: _Turn) -> tuple[Frame, Step, list[Step]] | None:
        frame = turn.session.active
        if frame is None:
            return None
        steps = self._applicable(frame, turn.ctx)
        for step in steps:
            if step.id == frame.step:
                return frame, step, steps
        return None

    def _ask(
        self, turn: _Turn, frame: Frame, steps: list[Step], step: Step, *, revisit: str | None = None
    ) -> None:
        """Ask a step; ``revisit`` ("back" or "edit") says first what the earlier answer was."""
        dialog = self._dialog(frame)
        values: dict[str, Any] = {"dialog_title": dialog.title if dialog else frame.dialog}
        if dialog is not None and step.dynamic:
            values.update(dialog.prompt_values(step, self._draft(frame), turn.ctx))
        number = _position(steps, step) + 1
        previous = frame.draft.get("answers", {}).get(step.id)
        if revisit is not None and previous is not None:
            turn.say("going_back", number=number, previous=previous, editing=revisit == "edit")
        turn.replies.append(question_reply(step, number=number, total=len(steps), extra=values))

    def _reask(self, turn: _Turn, *, again: bool = False) -> None:
        """Show the open question again, so the person knows where they are."""
        current = self._current(turn)
        if current is not None:
            frame, step, steps = current
            self._ask(turn, frame, steps, step)
        elif again and turn.session.paused:
            turn.say("paused_waiting", paused=self._paused_list(turn))

    def _set_active(self, turn: _Turn, frame: Frame | None) -> None:
        turn.session = replace(turn.session, active=frame)

    def _advance(self, turn: _Turn, frame: Frame) -> None:
        """Ask the first unanswered step, or complete the dialog when none is left."""
        steps = self._applicable(frame, turn.ctx)
        answers = frame.draft.get("answers", {})
        for step in steps:
            if step.id not in answers and step.applies(answers):
                frame = replace(frame, step=step.id, deadline=turn.now + self.expiry)
                self._set_active(turn, frame)
                self._ask(turn, frame, steps, step)
                return
        self._complete(turn, frame)

    def _complete(self, turn: _Turn, frame: Frame) -> None:
        dialog = self._dialog(frame)
        self._set_active(turn, None)
        if dialog is None:
            return
        completion = dialog.complete(self._draft(frame), turn.ctx)
        turn.replies.extend(completion.replies)
        turn.completions.append((frame, completion))
        if turn.session.paused:
            turn.say("paused_waiting", paused=self._paused_list(turn))

    def _record(self, turn: _Turn, frame: Frame, step: Step, parsed: Parsed) -> Frame:
        answers = dict(frame.draft.get("answers", {}))
        answers.pop(step.id, None)  # re-insert: the draft keeps answers in the order they were last given
        answers[step.id] = {**parsed.to_json(), "at": turn.now.isoformat()}
        return replace(frame, draft={**frame.draft, "answers": answers})

    def _answer(self, turn: _Turn, text: str, incoming: Incoming) -> None:
        current = self._current(turn)
        if current is None:
            if turn.session.paused:
                turn.say("nothing_open", paused=self._paused_list(turn), commands=self._command_list())
            else:
                turn.say("nothing_open", paused=[], commands=self._command_list())
            return
        frame, step, steps = current
        if incoming.action is not None:
            if incoming.action.step != step.id:
                turn.error("stale_button")
                self._ask(turn, frame, steps, step)
                return
            text = clean_text(incoming.action.value)
        if not text:
            turn.error("empty", accepted=accepted(step))
            self._ask(turn, frame, steps, step)
            return
        try:
            parsed = parse_answer(step, text, now=turn.now, tz=self._zone(turn, step))
        except Invalid as exc:
            turn.error("invalid", problem=str(exc), label=step.label)
            self._ask(turn, frame, steps, step)
            return
        if parsed.special == SKIP_SECTION:
            self._skip_section(turn, frame, step, steps)
            return
        frame = self._record(turn, frame, step, parsed)
        dialog = self._dialog(frame)
        if dialog is not None:
            turn.replies.extend(dialog.on_answer(step, parsed, self._draft(frame), turn.ctx))
        self._advance(turn, frame)

    def _skip_section(self, turn: _Turn, frame: Frame, step: Step, steps: list[Step]) -> None:
        """Skip the current step and every unanswered one of its section (e.g. a whole questionnaire step)."""
        answers = frame.draft.get("answers", {})
        skipped = [s for s in steps if s.section == step.section and (s.id not in answers or s is step)]
        for each in skipped:
            frame = self._record(turn, frame, each, Parsed(None, special="skip"))
        turn.say("section_skipped", section=step.section, count=len(skipped))
        self._advance(turn, frame)

    @staticmethod
    def _zone(turn: _Turn, step: Step) -> tzinfo | None:
        """The person's timezone, for dates and times they type (looked up only for such steps)."""
        if step.kind is not InputKind.DATETIME:
            return None
        return zone_of(turn.ctx.person())

    def _answer_form(self, turn: _Turn, form: Mapping[str, str]) -> None:
        """A batch of answers (e.g. a whole questionnaire step as a form): all valid, or nothing changes."""
        frame = turn.session.active
        if frame is None:
            turn.say("nothing_open", paused=self._paused_list(turn), commands=self._command_list())
            return
        steps = {s.id: s for s in self._applicable(frame, turn.ctx)}
        problems: list[tuple[str, str]] = []
        parsed_all: list[tuple[Step, Parsed]] = []
        for step_id, raw in form.items():
            step = steps.get(step_id)
            if step is None:
                problems.append((step_id, "this question is not part of the current dialog"))
                continue
            try:
                parsed = parse_answer(step, clean_text(raw), now=turn.now, tz=self._zone(turn, step))
                if parsed.special == SKIP_SECTION:  # in a form, "skip step" can only mean this question
                    parsed = Parsed(None, special="skip")
                parsed_all.append((step, parsed))
            except Invalid as exc:
                problems.append((step.label, str(exc)))
        if problems:
            turn.error("form_invalid", problems=problems)
            self._reask(turn)
            return
        for step, parsed in parsed_all:
            frame = self._record(turn, frame, step, parsed)
        self._advance(turn, frame)

    # ------------------------------------------------------------------ commands
    def _start(self, turn: _Turn, dialog: Dialog, args: str) -> None:
        started = dialog.start(args, turn.ctx)
        if isinstance(started, Refused):  # refuse before offering to pause anything
            turn.replies.append(started.reply)
            self._reask(turn)
            return
        active = turn.session.active
        if active is not None:
            active_dialog = self._dialog(active)
            turn.set_pending({"kind": "switch", "command": dialog.command, "args": args})
            turn.confirm(
                "confirm_switch",
                current=active_dialog.describe(self._draft(active)) if active_dialog else active.dialog,
                new=_naming(dialog, args),
            )
            return
        frame = Frame(
            dialog=dialog.name,
            draft={"meta": dict(started.meta), "answers": {}, "run": uuid.uuid4().hex},
            started_at=turn.now,
            deadline=turn.now + self.expiry,
        )
        turn.replies.extend(started.intro)
        self._advance(turn, frame)

    def _link(self, turn: _Turn, args: str) -> None:
        person_id, now = turn.ctx.person_id, turn.now
        if not args.strip():
            code = team_admin.new_link_code(self.store, person_id, now)
            turn.say("link_code", code=code, minutes=int(team_admin.LINK_TTL.total_seconds() // 60))
            self._reask(turn)
            return

        def link() -> list[Reply]:  # moves history between people: after the turn, outside the lock
            try:
                primary = team_admin.use_link_code(self.store, person_id, args, now)
            except team_admin.TeamError as exc:
                return [Reply("engine/team_error.txt.j2", {"problem": str(exc)}, kind=ReplyKind.ERROR)]
            return [Reply("engine/linked.txt.j2", {"primary": primary})]

        turn.after.append(link)

    def _team(self, turn: _Turn, args: str) -> None:
        person = turn.ctx.person()
        if person is None or person.role != Role.ADMIN:
            turn.error("team_error", problem="Managing people and teams is for admins; ask yours to do it")
            return
        try:
            turn.say("team_done", text=team_admin.run(self.store, team_admin.parse(args)))
        except team_admin.TeamError as exc:
            turn.error("team_error", problem=str(exc))

    def _cancel(self, turn: _Turn) -> None:
        frame = turn.session.active
        if frame is None:
            turn.say("nothing_to", what="cancel")
            return
        dialog = self._dialog(frame)
        turn.set_pending({"kind": "cancel"})
        turn.confirm(
            "confirm_cancel",
            what=dialog.describe(self._draft(frame)) if dialog else frame.dialog,
            answered=len(frame.draft.get("answers", {})),
        )

    def _back(self, turn: _Turn) -> None:
        current = self._current(turn)
        if current is None:
            turn.say("nothing_to", what="go back in")
            return
        frame, step, steps = current
        answers = frame.draft.get("answers", {})
        earlier = [s for s in steps[: _position(steps, step)] if s.id in answers]
        if not earlier:
            turn.say("at_first")
            self._ask(turn, frame, steps, step)
            return
        target = earlier[-1]
        frame = replace(frame, step=target.id)
        self._set_active(turn, frame)
        self._ask(turn, frame, steps, target, revisit="back")

    def _edit(self, turn: _Turn, args: str) -> None:
        current = self._current(turn)
        if current is None:
            turn.say("nothing_to", what="edit")
            return
        frame, step, steps = current
        answers = frame.draft.get("answers", {})
        answered = [n for n, s in enumerate(steps, start=1) if s.id in answers]
        if not is_number(args) or not 1 <= int(args) <= len(steps):
            turn.error("edit_usage", given=args[:20], total=len(steps), answered=answered)
            self._ask(turn, frame, steps, step)
            return
        target = steps[int(args) - 1]
        if target.id not in answers and target.id != step.id:
            turn.error("edit_not_yet", number=int(args), current=_position(steps, step) + 1)
            self._ask(turn, frame, steps, step)
            return
        frame = replace(frame, step=target.id)
        self._set_active(turn, frame)
        self._ask(turn, frame, steps, target, revisit="edit")

    def _skip(self, turn: _Turn) -> None:
        current = self._current(turn)
        if current is None:
            turn.say("nothing_to", what="skip")
            return
        frame, step, steps = current
        skip = next((s for s in step.specials if s.value == "skip"), None)
        if skip is not None:
            parsed = Parsed(None, special=skip.value)
        elif not step.required or step.kind is InputKind.NEXT:
            parsed = Parsed(None, special="skipped")
        else:
            turn.error("cannot_skip", label=step.label, accepted=accepted(step))
            self._ask(turn, frame, steps, step)
            return
        frame = self._record(turn, frame, step, parsed)
        self._advance(turn, frame)

    def _paused_list(self, turn: _Turn) -> list[dict[str, Any]]:
        listed = []
        for n, frame in enumerate(reversed(turn.session.paused), start=1):
            dialog = self._dialog(frame)
            listed.append(
                {
                    "number": n,
                    "what": dialog.describe(self._draft(frame)) if dialog else frame.dialog,
                    "answered": len(frame.draft.get("answers", {})),
                    "started_at": frame.started_at,
                }
            )
        return listed

    def _resume(self, turn: _Turn, args: str) -> None:
        if turn.session.active is not None:
            turn.say("already_active")
            self._reask(turn)
            return
        paused = list(turn.session.paused)
        if not paused:
            turn.say("nothing_to", what="resume")
            return
        index = len(paused) - 1
        if args.strip():
            if not is_number(args) or not 1 <= int(args) <= len(paused):
                turn.error("resume_usage", given=args[:20], paused=self._paused_list(turn))
                return
            index = len(paused) - int(args)
        frame = paused.pop(index)
        turn.session = replace(turn.session, paused=tuple(paused))
        frame = replace(frame, deadline=turn.now + self.expiry)
        dialog = self._dialog(frame)
        turn.say("resumed", what=dialog.describe(self._draft(frame)) if dialog else frame.dialog)
        self._advance(turn, frame)

    def _status(self, turn: _Turn) -> None:
        current = self._current(turn)
        active = None
        if current is not None:
            frame, step, steps = current
            dialog = self._dialog(frame)
            answers = frame.draft.get("answers", {})
            active = {
                "what": dialog.describe(self._draft(frame)) if dialog else frame.dialog,
                "number": _position(steps, step) + 1,
                "total": len(steps),
                "rows": [
                    {
                        "number": n,
                        "label": s.label,
                        "answer": _shown(s, answers.get(s.id)),
                        "current": s is step,
                    }
                    for n, s in enumerate(steps, start=1)
                ],
                "deadline": frame.deadline,
            }
        progress = {p.module: p for p in turn.ctx.onboarding()}
        modules = self.knowledge.onboarding.modules
        onboarding = [{"title": m.title, "progress": progress.get(m.id)} for m in modules] if progress else []
        turn.say("status", active=active, paused=self._paused_list(turn), onboarding=onboarding)

    # ------------------------------------------------------------------ confirmations and expiry
    def _answer_pending(self, turn: _Turn, text: str, incoming: Incoming) -> None:
        pending = dict(turn.pending or {})
        if incoming.action is not None and incoming.action.step != CONFIRM_STEP:
            turn.error("stale_confirm")
            self._say_pending(turn, pending)
            return
        raw = incoming.action.value if incoming.action is not None else text
        word = " ".join(raw.lower().strip(" .!").split())
        yes, no = word in {"yes", "y", "ok", "sure", "yep"}, word in {"no", "n", "nope"}
        if not (yes or no):
            turn.error("yes_or_no")
            self._say_pending(turn, pending)
            return
        turn.set_pending(None)
        kind = pending.get("kind")
        frame = turn.session.active
        if kind == "cancel" and frame is not None:
            if yes:
                self._set_active(turn, None)
                turn.say("cancelled")
                if turn.session.paused:
                    turn.say("paused_waiting", paused=self._paused_list(turn))
                return
            turn.say("continuing")
            self._reask(turn)
        elif kind == "switch":
            dialog = self.commands.get(str(pending.get("command")))
            if yes and dialog is not None and frame is not None:
                turn.session = replace(turn.session, active=None, paused=(*turn.session.paused, frame))
                turn.say("paused", what=self._describe(frame))
                self._start(turn, dialog, str(pending.get("args", "")))
                return
            turn.say("continuing")
            self._reask(turn)
        elif kind == "expired" and frame is not None:
            if yes:
                frame = replace(frame, deadline=turn.now + self.expiry)
                self._set_active(turn, frame)
                turn.say("resumed", what=self._describe(frame))
                self._advance(turn, frame)
            else:
                self._set_active(turn, None)
                turn.say("dropped", what=self._describe(frame))
        else:
            self._reask(turn)

    def _describe(self, frame: Frame) -> str:
        dialog = self._dialog(frame)
        return dialog.describe(self._draft(frame)) if dialog else frame.dialog

    def _say_pending(self, turn: _Turn, pending: Mapping[str, Any]) -> None:
        frame = turn.session.active
        what = self._describe(frame) if frame is not None else ""
        if pending.get("kind") == "switch":
            dialog = self.commands.get(str(pending.get("command")))
            args = str(pending.get("args", ""))
            turn.confirm("confirm_switch", current=what, new=_naming(dialog, args) if dialog else "")
        elif pending.get("kind") == "expired" and frame is not None:
            turn.confirm("confirm_expired", what=what, started_at=frame.started_at, now=turn.now)
        else:
            answered = len(frame.draft.get("answers", {})) if frame is not None else 0
            turn.confirm("confirm_cancel", what=what, answered=answered)

    def _check_expiry(self, turn: _Turn, text: str) -> bool:
        """Drop expired paused dialogs; offer an expired active one for resume. False: the turn is over."""
        session = turn.session
        kept = tuple(f for f in session.paused if f.deadline is None or f.deadline > turn.now)
        if len(kept) != len(session.paused):
            dropped = [self._describe(f) for f in session.paused if f not in kept]
            turn.session = replace(session, paused=kept)
            turn.say("expired_paused", dropped=dropped, expiry_days=self.expiry.days)
        frame = turn.session.active
        if frame is None or frame.deadline is None or frame.deadline > turn.now or turn.pending is not None:
            return True
        turn.set_pending({"kind": "expired"})
        turn.confirm("confirm_expired", what=self._describe(frame), started_at=frame.started_at, now=turn.now)
        return False


__all__ = ["DEFAULT_EXPIRY", "Engine", "clean_text"]
