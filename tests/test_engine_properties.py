"""Properties of the engine over random conversations, on a real TinyDB store.

Whatever a person sends, in whatever order: the engine answers every new message, never with an internal
error; a re-delivered message is dropped; everything it said was saved is there after a restart, where the
welcome shows the open question again; and each result shown is one assessment stored.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.engine import CONFIRM_STEP, Engine
from bot.knowledge import shipped_knowledge
from bot.messages import Action, Channel, Incoming, Reply, ReplyKind
from storage.tinydb_store import TinyDBStore

INTERNAL_ERROR = "Something went wrong on my side"
RESULT = "Total: "
FORMATS = ("plain", "slack", "telegram")
STEP_IDS = [q.id for q in shipped_knowledge().qualification.questions] + ["fit", "account", "confirm"]


@dataclass(frozen=True)
class Message:
    """What a person sends, and how its platform message id relates to the earlier ones."""

    text: str = ""
    action: Action | None = None
    delivery: str = "new"  # "new" id, "again": an earlier message's id (a re-delivery), "none": no id
    again: int = 0  # which earlier id, modulo how many there are


# ------------------------------------------------------------------------------------------ strategies

WORDS = [
    "/help", "/status", "/back", "/skip", "/cancel", "/resume", "/start", "/help@coach_bot",
    "yes", "no", "y", "nope", "skip", "not asked", "skip step", "n/a", "next", "",
    "   ", "\u202e", "\x00",
]  # fmt: skip
UNKNOWN_COMMANDS = [
    "/stages",
    "/stages Acme",
    "/qualif",
    "/assess acme",
    "/foo",
    "/",
    "//",
    "/qualify@otherbot?",
]
OTHER_COMMANDS = [
    "/stage Acme",
    "/stage",
    "/plan Acme",
    "/plan",
    "/accounts",
    "/history",
    "/history Acme",
    "/plans",
]
ACCOUNTS = ["Acme", "acme", "Acme Corp", "ACME ", "Acmee", "Globex", "Zoë & Søn", "株式会社アクメ"]
NOTES = ["ok", "they want a 20% cost cut", "<b>yes</b> <!channel>", "👩\u200d💻 team", "- soon", "/ 5"]
VALUES = ["1", "2", "3", "4", "5", "0", "9", "yes", "no", "skip", "not_asked", "skip_section", "existing"]

#: Text with the characters that trip parsers: controls, bidi overrides, joiners, digits of other scripts.
TRICKY = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("\x00\x07\x1b\x7f\u202e\u2066\u200d\u200b\ufeff\n\t /@4²①٣")),
    ),
    max_size=40,
)

texts = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(UNKNOWN_COMMANDS),
    st.sampled_from(OTHER_COMMANDS),
    st.builds(lambda name: f"/qualify {name}", st.sampled_from(ACCOUNTS) | st.text(max_size=90)),
    st.builds(lambda n: f"/edit {n}", st.integers(-2, 40)),
    st.builds(lambda n: f"/resume {n}", st.integers(-1, 4)),
    st.integers(-3, 9).map(str),
    st.integers(-3, 9).map(str),  # scores are what a person sends most
    st.builds(lambda n, note: f"{n} {note}", st.integers(-3, 9), st.sampled_from(NOTES)),
    TRICKY,
)
buttons = st.builds(Action, st.sampled_from([*STEP_IDS, "no_such_step"]), st.sampled_from(VALUES) | TRICKY)
deliveries = st.sampled_from(["new"] * 8 + ["again", "none"])

messages = st.one_of(
    st.builds(Message, text=texts, delivery=deliveries, again=st.integers(0, 30)),
    st.builds(Message, action=buttons, delivery=deliveries, again=st.integers(0, 30)),
    st.sampled_from([Message("/qualify Acme"), Message("skip step"), Message("yes"), Message("no")]),
)
#: "skip step" twice and a fit decision finish a qualification: such runs make results happen often.
runs = st.builds(
    lambda start, fit: [*start, Message("skip step"), Message("skip step"), Message(fit)],
    st.sampled_from([[], [Message("/qualify Acme")], [Message("/qualify Globex")]]),
    st.sampled_from(["yes", "no"]),
)
conversations = st.lists(st.one_of(messages.map(lambda m: [m]), runs), max_size=20).map(
    lambda chunks: [m for chunk in chunks for m in chunk][:25]
)

FINISH = [Message("/qualify Acme"), Message("skip step"), Message("skip step"), Message("no")]


def rendered(replies: list[Reply]) -> list[str]:
    """Every reply as each channel renders it (a template error would only show here)."""
    return [reply.text(fmt) for reply in replies for fmt in FORMATS]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation=conversations, person=st.sampled_from(["ana", "slack:U1", "Zoë"]))
@example(conversation=FINISH, person="ana")
@example(conversation=[*FINISH, *FINISH, Message("/status")], person="ana")
@example(conversation=[*FINISH[:3], Message("yes"), Message("/qualify acmee"), Message("1")], person="ana")
@example(conversation=[Message("/qualify Acme"), Message("/cancel"), Message("4")], person="ana")
def test_every_message_is_answered_and_everything_said_saved_is_there_after_a_restart(
    conversation: list[Message], person: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        store = TinyDBStore(root)
        engine = Engine(store)
        ids: list[str] = []
        results = 0
        for n, message in enumerate(conversation):
            redelivered = message.delivery == "again" and bool(ids)
            if redelivered:
                message_id: str | None = ids[message.again % len(ids)]
            elif message.delivery == "none":
                message_id = None
            else:
                message_id = f"m{n}"
                ids.append(message_id)
            incoming = Incoming(
                channel=Channel.TELEGRAM,
                person_id=person,
                text=message.text,
                action=message.action,
                message_id=message_id,
            )
            replies = engine.handle(incoming)
            if redelivered:
                assert replies == [], f"a re-delivered message was answered again: {message}"
                continue
            assert replies, f"no reply to {message}"
            for text in rendered(replies):
                assert INTERNAL_ERROR not in text, message
                assert "Traceback" not in text, message
            results += sum(RESULT in reply.text() for reply in replies)

        before_restart = store.read_person(person)
        reopened = TinyDBStore(root)
        after = reopened.read_person(person)
        assert after.to_json() == before_restart.to_json()

        completed = [a for a in after.assessments if a.kind == "qualification"]
        assert len(completed) == results
        event(f"messages: {len(conversation) // 10 * 10}+")
        event(f"qualifications completed: {min(results, 2)}{'+' if results > 2 else ''}")

        session = after.session
        if session is not None and session.active is not None:
            event("a dialog is open at the end")
            welcome = Engine(reopened).opening(person)
            # The open question again, or the yes/no confirmation that was open when the person left.
            expected = CONFIRM_STEP if session.data.get("pending") else session.active.step
            assert any(r.kind is ReplyKind.QUESTION and r.step == expected for r in welcome)
            for text in rendered(welcome):
                assert INTERNAL_ERROR not in text
