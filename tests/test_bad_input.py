"""Bad input, as people really send it, through a real engine on a real TinyDB store.

For every kind of bad message, with no dialog open and in the middle of a ``/qualify Acme`` dialog: the
person gets a reply that says what was wrong and what to do (and, in a dialog, the open question again),
never an internal error, and nothing stored changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.engine import MAX_MESSAGE, Engine
from bot.messages import Action, Channel, Incoming, Reply, ReplyKind
from storage.tinydb_store import TinyDBStore

PERSON = "ana"
INTERNAL_ERROR = "Something went wrong on my side"
#: What the qualification accepts for a score, as every reprompt says it.
SCALE = "a whole number from 1 to 5"
#: Where the dialog context stands: question 2 of 29, after "4 budget approved" for question 1.
FIRST_STEP, CURRENT_STEP, FIT_STEP = "s1_prompted", "s1_expectations", "fit"
TOTAL = 29


@dataclass
class Chat:
    """One person talking to the engine, each message with a new platform message id."""

    store: TinyDBStore
    engine: Engine
    person_id: str = PERSON
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, text: str = "", action: Action | None = None) -> list[Reply]:
        return self.engine.handle(
            Incoming(
                channel=Channel.TERMINAL,
                person_id=self.person_id,
                text=text,
                action=action,
                message_id=f"m{next(self.ids)}",
            )
        )

    def state(self) -> dict[str, Any]:
        """Everything stored for the person, without the session's last-change time."""
        data = self.store.read_person(self.person_id).to_json()
        if data["session"] is not None:
            data["session"] = {k: v for k, v in data["session"].items() if k != "updated_at"}
        return data


def texts(replies: list[Reply], fmt: str = "plain") -> str:
    return "\n\n".join(reply.text(fmt) for reply in replies)


@pytest.fixture
def chat(tmp_path: Path) -> Chat:
    store = TinyDBStore(tmp_path / "data")
    return Chat(store, Engine(store))


def idle(chat: Chat) -> Chat:
    """A person who has talked to the coach before but has no dialog open."""
    chat.send("/help")
    assert chat.state()["session"]["active"] is None
    return chat


def in_dialog(chat: Chat) -> Chat:
    """A person at question 2 of a qualification of Acme, with question 1 answered."""
    chat.send("/qualify Acme")
    replies = chat.send("4 budget approved")
    assert replies[-1].step == CURRENT_STEP
    return chat


def at_fit(chat: Chat) -> Chat:
    """A person at the yes/no fit decision of a qualification of Acme."""
    chat.send("/qualify Acme")
    chat.send("skip step")
    replies = chat.send("skip step")
    assert replies[-1].step == FIT_STEP
    return chat


def refused(chat: Chat, text: str = "", action: Action | None = None) -> str:
    """Send a bad message; check the reply is sane and nothing stored changed; return the reply text."""
    before = chat.state()
    replies = chat.send(text, action)
    said = texts(replies)
    assert replies, f"no reply to {text!r}"
    assert "Traceback" not in said
    assert INTERNAL_ERROR not in said
    assert chat.state() == before
    return said


def asks_again(chat: Chat, replies_text: str, step: str) -> None:
    """In a dialog, the open question is shown again (its header), so the person knows where they are."""
    assert "Qualification · " in replies_text
    assert chat.state()["session"]["active"]["step"] == step


# ---------------------------------------------------------------------------------------------------------
# Empty, whitespace-only and invisible messages

BLANK = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="spaces"),
    pytest.param(" \t\n\r\n ", id="tabs-newlines"),
    pytest.param("\u00a0\u3000", id="unicode-spaces"),
    pytest.param("\x00\x01\x07\x1b\x7f", id="control-chars"),
    pytest.param("\u202e\u202d\u2066\u2069\u200f", id="bidi-overrides"),
    pytest.param("\u200b\ufeff", id="zero-width"),
]


@pytest.mark.parametrize("text", BLANK)
def test_a_blank_message_with_no_dialog_open_says_nothing_is_open_and_what_to_start(
    chat: Chat, text: str
) -> None:
    said = refused(idle(chat), text)
    assert "There is no question open right now, so I did not save that." in said
    assert "/qualify ACCOUNT" in said


@pytest.mark.parametrize("text", BLANK)
def test_a_blank_message_in_a_dialog_says_it_was_empty_and_asks_again(chat: Chat, text: str) -> None:
    said = refused(in_dialog(chat), text)
    assert "That message was empty, so nothing was changed." in said
    assert f"Answer with {SCALE}" in said
    asks_again(chat, said, CURRENT_STEP)


def test_a_bidi_override_around_garbage_is_treated_as_the_garbage(chat: Chat) -> None:
    said = refused(in_dialog(chat), "\u202egreat\u202c")
    assert f"Please answer with {SCALE}" in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


def test_bidi_overrides_and_control_characters_are_dropped_from_a_note(chat: Chat) -> None:
    in_dialog(chat)
    chat.send("3 \u202ethey\u202c want\x07 it\u2066 soon")
    answer = chat.state()["session"]["active"]["draft"]["answers"][CURRENT_STEP]
    assert answer["value"] == 3
    assert answer["note"] == "they want it soon"


# ---------------------------------------------------------------------------------------------------------
# Too long


def test_a_10000_character_message_with_no_dialog_open_is_refused_whole(chat: Chat) -> None:
    said = refused(idle(chat), "4 " + "x" * 9_998)
    assert f"That message has 10,000 characters; I read messages of up to {MAX_MESSAGE:,}." in said
    assert "Please shorten it and send it again." in said


def test_a_10000_character_answer_in_a_dialog_is_refused_whole_and_the_question_asked_again(
    chat: Chat,
) -> None:
    said = refused(in_dialog(chat), "4 " + "x" * 9_998)
    assert f"That message has 10,000 characters; I read messages of up to {MAX_MESSAGE:,}." in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


def test_a_readable_message_with_a_note_too_long_to_keep_says_how_long_notes_may_be(chat: Chat) -> None:
    said = refused(in_dialog(chat), "4 " + "y" * (MAX_MESSAGE - 2))
    assert "That is 7,998 characters; I keep answers of up to 2,000." in said
    assert "Please shorten it and send it again." in said
    asks_again(chat, said, CURRENT_STEP)


# ---------------------------------------------------------------------------------------------------------
# Emoji only, and emoji kept intact in a note

EMOJI = [
    pytest.param("🎉", id="one"),
    pytest.param("👍🏽👍🏽", id="skin-tone"),
    pytest.param("👩\u200d💻", id="zwj"),
]


@pytest.mark.parametrize("text", EMOJI)
def test_emoji_only_with_no_dialog_open_says_nothing_is_open(chat: Chat, text: str) -> None:
    said = refused(idle(chat), text)
    assert "There is no question open right now" in said
    assert "/qualify ACCOUNT" in said


@pytest.mark.parametrize("text", EMOJI)
def test_emoji_only_in_a_dialog_asks_for_a_score(chat: Chat, text: str) -> None:
    said = refused(in_dialog(chat), text)
    assert f"Please answer with {SCALE}" in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("the 👩\u200d💻 team loves it", id="emoji-zwj-sequence"),
        pytest.param("👨\u200d👩\u200d👧 family plan", id="emoji-family"),
        pytest.param("می\u200cخواهم", id="persian-zwnj"),
    ],
)
def test_a_note_with_joiners_is_kept_as_typed(chat: Chat, note: str) -> None:
    # U+200D (zero-width joiner) holds emoji sequences together; U+200C (zero-width non-joiner) is part of
    # Persian spelling. Neither is a control or bidi character: dropping them changes what was typed.
    in_dialog(chat)
    chat.send(f"4 {note}")
    answer = chat.state()["session"]["active"]["draft"]["answers"][CURRENT_STEP]
    assert answer["note"] == note


# ---------------------------------------------------------------------------------------------------------
# Unknown commands

UNKNOWN = [
    pytest.param("/foo", "/foo", id="foo"),
    pytest.param("/foo bar baz", "/foo", id="foo-with-args"),
    pytest.param("/stages Acme", "/stages", id="near-miss"),
    pytest.param("/", "/", id="slash"),
    pytest.param("//", "//", id="double-slash"),
    pytest.param("/qualify@otherbot?", "/qualify@otherbot?", id="other-bot-question-mark"),
]


@pytest.mark.parametrize(("text", "named"), UNKNOWN)
def test_an_unknown_command_with_no_dialog_open_is_named_and_the_commands_listed(
    chat: Chat, text: str, named: str
) -> None:
    said = refused(idle(chat), text)
    assert f"I don't know the command {named}. Nothing was changed." in said
    assert "/qualify ACCOUNT" in said
    assert "/help" in said


@pytest.mark.parametrize(("text", "named"), UNKNOWN)
def test_an_unknown_command_in_a_dialog_is_named_and_the_question_asked_again(
    chat: Chat, text: str, named: str
) -> None:
    said = refused(in_dialog(chat), text)
    assert f"I don't know the command {named}. Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


@pytest.mark.parametrize("context", [idle, in_dialog], ids=["idle", "in-dialog"])
def test_a_command_addressed_to_another_bot_is_not_taken_as_ours(
    chat: Chat, context: Callable[[Chat], Chat]
) -> None:
    # In a group, "/qualify@otherbot" is meant for another bot (Telegram's own CommandHandler ignores it).
    # Taking it as ours starts our dialog, or in a dialog asks to pause it for a new one.
    said = refused(context(chat), "/qualify@otherbot")
    assert "/qualify@otherbot" in said
    assert "Nothing was changed." in said
    assert "Pause it and start" not in said


# ---------------------------------------------------------------------------------------------------------
# A start command that cannot start: no account, or a name too long

NO_START = [
    pytest.param("/qualify", "Which account do you want to qualify? Send /qualify ACCOUNT", id="no-account"),
    pytest.param("/qualify   \t", "Which account do you want to qualify?", id="blank-account"),
    pytest.param(
        "/qualify " + "A" * 81,
        "That account name has 81 characters; names of up to 80 are kept.",
        id="name-too-long",
    ),
]


@pytest.mark.parametrize(("text", "says"), NO_START)
def test_a_start_without_a_usable_account_says_what_is_needed(chat: Chat, text: str, says: str) -> None:
    said = refused(idle(chat), text)
    assert says in said


@pytest.mark.parametrize(("text", "says"), NO_START)
def test_a_start_without_a_usable_account_in_a_dialog_leaves_that_dialog_open(
    chat: Chat, text: str, says: str
) -> None:
    # Whether or not the coach first asks to pause the open dialog: once the person says yes, a dialog that
    # cannot start must not leave them with the old one paused and nothing open.
    in_dialog(chat)
    before = chat.state()
    said = texts(chat.send(text))
    if "(yes/no)" in said:
        said = texts(chat.send("yes"))
    assert says in said
    assert INTERNAL_ERROR not in said
    after = chat.state()
    assert after["session"]["active"] == before["session"]["active"]
    assert after["session"]["paused"] == []


# ---------------------------------------------------------------------------------------------------------
# Numbers out of range, and text where a score is expected

OFF_SCALE = ["0", "6", "7", "-1", "4.5"]
NOT_A_SCORE = ["1e9", "great", "four", "maybe 3?", "yes", "%", "3/"]


@pytest.mark.parametrize("text", OFF_SCALE + NOT_A_SCORE)
def test_a_number_or_word_with_no_dialog_open_says_nothing_is_open(chat: Chat, text: str) -> None:
    said = refused(idle(chat), text)
    assert "There is no question open right now, so I did not save that." in said
    assert "/qualify ACCOUNT" in said


@pytest.mark.parametrize("text", OFF_SCALE)
def test_a_number_off_the_scale_is_named_and_the_scale_given(chat: Chat, text: str) -> None:
    said = refused(in_dialog(chat), text)
    assert f"{text} is not on the scale. Please answer with {SCALE}" in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


@pytest.mark.parametrize("text", NOT_A_SCORE)
def test_text_where_a_score_is_expected_gets_the_scale_and_the_special_answers(chat: Chat, text: str) -> None:
    said = refused(in_dialog(chat), text)
    assert f"Please answer with {SCALE}" in said
    assert "`skip` (does not apply)" in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


@pytest.mark.parametrize("text", ["maybe", "6", "4 good fit", "🎉", "yes and no"])
def test_anything_but_yes_or_no_at_the_fit_decision_asks_for_yes_or_no(chat: Chat, text: str) -> None:
    said = refused(at_fit(chat), text)
    assert "Please answer yes or no. Nothing was changed." in said
    asks_again(chat, said, FIT_STEP)
    assert chat.state()["assessments"] == []


# ---------------------------------------------------------------------------------------------------------
# /edit with garbage

EDIT_GARBAGE = [
    pytest.param("abc", id="word"),
    pytest.param("0", id="zero"),
    pytest.param(str(TOTAL + 1), id="past-the-end"),
    pytest.param("-1", id="negative"),
    pytest.param("1.5", id="fraction"),
    pytest.param("1e3", id="exponent"),
    pytest.param("1 2", id="two-numbers"),
    pytest.param("99999999999999999999999", id="huge"),
    pytest.param("²", id="superscript-two"),
    pytest.param("①", id="circled-one"),
]


@pytest.mark.parametrize("args", [pytest.param("", id="no-number"), *EDIT_GARBAGE])
def test_edit_with_garbage_and_no_dialog_open_says_there_is_nothing_to_edit(chat: Chat, args: str) -> None:
    said = refused(idle(chat), f"/edit {args}")
    assert "There is nothing to edit: no dialog is open." in said
    assert "/help" in said


def test_edit_without_a_number_in_a_dialog_asks_which_question(chat: Chat) -> None:
    said = refused(in_dialog(chat), "/edit")
    assert f"Which question? Send /edit N with N from 1 to {TOTAL}" in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


@pytest.mark.parametrize("args", EDIT_GARBAGE)
def test_edit_with_garbage_in_a_dialog_names_it_and_gives_the_range(chat: Chat, args: str) -> None:
    said = refused(in_dialog(chat), f"/edit {args}")
    assert f"{args[:20]} is not a question number. Send /edit N with N from 1 to {TOTAL}" in said
    assert "(answered so far: 1)" in said
    assert "Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


def test_edit_of_a_question_not_asked_yet_says_where_the_person_is(chat: Chat) -> None:
    said = refused(in_dialog(chat), "/edit 3")
    assert "Question 3 has not been asked yet; you are at question 2. Nothing was changed." in said
    asks_again(chat, said, CURRENT_STEP)


# ---------------------------------------------------------------------------------------------------------
# An answer when no question is open, and stale buttons


@pytest.mark.parametrize(
    ("text", "action"),
    [
        pytest.param("4", None, id="score"),
        pytest.param("4 they want a 20% cost cut", None, id="score-with-note"),
        pytest.param("yes", None, id="yes"),
        pytest.param("skip", None, id="skip"),
        pytest.param("skip step", None, id="skip-step"),
        pytest.param("", Action(FIRST_STEP, "4"), id="button"),
        pytest.param("", Action(FIT_STEP, "yes"), id="fit-button"),
    ],
)
def test_an_answer_with_no_question_open_is_not_saved_and_says_what_to_start(
    chat: Chat, text: str, action: Action | None
) -> None:
    said = refused(idle(chat), text, action)
    assert "There is no question open right now, so I did not save that." in said
    assert "/qualify ACCOUNT" in said


def test_an_answer_after_the_dialog_was_cancelled_is_not_saved(chat: Chat) -> None:
    in_dialog(chat)
    chat.send("/cancel")
    chat.send("yes")
    said = refused(chat, "5 great")
    assert "There is no question open right now, so I did not save that." in said


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(Action(FIRST_STEP, "5"), id="earlier-question"),
        pytest.param(Action(FIT_STEP, "yes"), id="later-question"),
        pytest.param(Action("no_such_step", "4"), id="unknown-step"),
    ],
)
def test_a_button_of_another_question_is_not_used_and_the_current_one_asked_again(
    chat: Chat, action: Action
) -> None:
    said = refused(in_dialog(chat), "", action)
    assert "That button belongs to an earlier question, so I did not use it." in said
    asks_again(chat, said, CURRENT_STEP)


def test_a_button_of_the_current_question_with_a_value_off_the_scale_is_refused(chat: Chat) -> None:
    said = refused(in_dialog(chat), "", Action(CURRENT_STEP, "9"))
    assert f"9 is not on the scale. Please answer with {SCALE}" in said
    asks_again(chat, said, CURRENT_STEP)


# ---------------------------------------------------------------------------------------------------------
# Markup in a note: stored verbatim, shown verbatim

MARKUP_NOTE = "<!channel> said <b>yes</b> & *maybe* `soon`"


def test_markup_in_a_note_is_stored_verbatim_and_shown_verbatim_in_plain_text(chat: Chat) -> None:
    chat.send("/qualify Acme")
    chat.send(f"4 {MARKUP_NOTE}")
    draft = chat.state()["session"]["active"]["draft"]["answers"][FIRST_STEP]
    assert (draft["value"], draft["note"]) == (4, MARKUP_NOTE)

    assert f"4 ({MARKUP_NOTE})" in texts(chat.send("/status"))
    assert f"Your answer was: 4 ({MARKUP_NOTE})." in texts(chat.send("/back"))

    chat.send(f"4 {MARKUP_NOTE}")  # /back went to question 1: the same answer again, then on to question 2
    chat.send("skip step")
    chat.send("skip step")
    result = chat.send("no")
    assert any(r.kind is ReplyKind.RESULT for r in result)
    stored = chat.state()
    [answer] = [a for a in stored["answers"] if a["question"] == FIRST_STEP]
    assert (answer["value"], answer["note"]) == (4, MARKUP_NOTE)
    [assessment] = stored["assessments"]
    assert assessment["answers"][FIRST_STEP]["note"] == MARKUP_NOTE


@pytest.mark.parametrize("command", ["/status", "/back"])
@pytest.mark.parametrize("fmt", ["slack", "telegram"])
def test_markup_in_a_note_is_escaped_once_for_slack_and_telegram(chat: Chat, command: str, fmt: str) -> None:
    # Escaped once, the person sees their note as typed; escaped twice, they see "&lt;!channel&gt;".
    chat.send("/qualify Acme")
    chat.send(f"4 {MARKUP_NOTE}")
    shown = texts(chat.send(command), fmt)
    assert "4 (&lt;!channel&gt; said &lt;b&gt;yes&lt;/b&gt; &amp; " in shown
    assert "<!channel>" not in shown
    assert "<b>yes</b>" not in shown


def test_markup_in_an_account_name_is_shown_verbatim_in_plain_text(chat: Chat) -> None:
    replies = chat.send("/qualify <b>Acme</b> <!here>")
    assert "Qualification · " in texts(replies)
    assert "qualification of <b>Acme</b> <!here>" in texts(chat.send("/status"))


# ---------------------------------------------------------------------------------------------------------
# A confirmation waiting for yes or no


def test_a_score_while_a_cancel_waits_for_yes_or_no_repeats_the_confirmation(chat: Chat) -> None:
    in_dialog(chat)
    chat.send("/cancel")
    said = refused(chat, "4")
    assert "Please answer yes or no." in said
    assert "Cancel the qualification of Acme? Your 1 answer so far will be discarded" in said


def test_the_welcome_back_shows_a_confirmation_that_waits_not_the_question_behind_it(
    chat: Chat, tmp_path: Path
) -> None:
    # Otherwise the person answers the question shown and is told "Please answer yes or no."
    in_dialog(chat)
    chat.send("/cancel")
    reopened = TinyDBStore(tmp_path / "data")
    shown = texts(Engine(reopened).opening(PERSON))
    assert "Cancel the qualification of Acme?" in shown
    assert "(yes/no)" in shown
