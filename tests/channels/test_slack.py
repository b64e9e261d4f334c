"""The Slack app as Slack sees it: signed requests over real HTTP to the app (waitress on 127.0.0.1), its Web
API calls answered and recorded by a fake Slack on 127.0.0.1, the real TinyDB store in a temp dir.

Each test starts a fresh app. Bolt acknowledges first and runs the listener afterwards on its pool;
``app.settle()`` waits (on a condition variable) until every listener started so far has finished, so a test
can also show that nothing was posted.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels import slack_blocks as kit
from bot.config import RedactSecrets, setup_logging
from bot.knowledge import shipped_knowledge
from bot.messages import Choice, Reply, ReplyKind
from storage.base import Frame
from storage.tinydb_store import TinyDBStore
from tests.auxil.slack_app import (
    SECRET,
    TOKEN,
    SlackApp,
    button,
    buttons,
    message_text,
    sign,
)
from tests.auxil.slack_fake import BOT_ID, BOT_USER, Call

USER = "W111"
PERSON = f"slack:{USER}"
TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
STEP_1 = [q.id for q in shipped_knowledge().qualification.steps[0].questions]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SlackApp]:
    running = SlackApp(TinyDBStore(tmp_path / "data")).start()
    yield running
    running.stop()


# --- helpers ---------------------------------------------------------------------------------------------
def dm(app: SlackApp, text: str, *, user: str = USER) -> list[dict[str, Any]]:
    """Write in the DM; returns the messages the app posted in reply."""
    before = len(app.posted())
    assert app.dm(text, user=user).status == 200
    app.settle()
    return app.posted()[before:]


def click(app: SlackApp, label: str, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Click the button ``label`` of ``message`` (the last one posted); returns the messages posted after."""
    message = message or app.posted()[-1]
    before = len(app.posted())
    assert app.click(button(message, label), message).status == 200
    app.settle()
    return app.posted()[before:]


def shown(messages: list[dict[str, Any]]) -> str:
    return "\n".join(message_text(m) for m in messages)


def texts_of(call: Call) -> list[str]:
    """Every text a person can see in a chat.postMessage or chat.update: the fallback and each block."""
    found = [str(call.args.get("text", ""))]
    for block in call.args.get("blocks") or []:
        if block.get("type") == "section":
            found.append(block["text"]["text"])
        elif block.get("type") == "context":
            found += [e.get("text", "") for e in block["elements"]]
        elif block.get("type") == "actions":
            found += [e["text"]["text"] for e in block["elements"]]
    return found


def draft_answers(app: SlackApp) -> dict[str, Any]:
    session = app.store.read_person(PERSON).session
    assert session is not None
    assert session.active is not None
    return dict(session.active.draft.get("answers", {}))


def active(app: SlackApp) -> Frame:
    session = app.store.read_person(PERSON).session
    assert session is not None
    assert session.active is not None
    return session.active


def finish_quickly(app: SlackApp, account: str = "Acme") -> None:
    """A qualification ended at the fit decision: both steps skipped, then no."""
    dm(app, f"/qualify {account}")
    dm(app, "skip step")
    dm(app, "skip step")
    assert "Fit decision: no." in shown(dm(app, "no"))


# --- a qualification by clicking -------------------------------------------------------------------------
def test_a_slash_command_then_only_clicks_complete_a_qualification(app: SlackApp) -> None:
    ack = app.slash("qualify Acme")
    assert ack.status == 200
    assert json.loads(ack.body) == {
        "response_type": "ephemeral",
        "text": "On it: I'm answering in our direct messages.",
    }
    app.settle()
    assert "question 1 of 29" in shown(app.posted())

    labels = ["4"] * 14 + ["3"] * 8 + ["Yes"] + ["5"] * 6
    for n, label in enumerate(labels, start=1):
        question = app.posted()[-1]
        replies = click(app, label, question)
        assert replies, f"no reply to click {n} ({label})"
        update = app.fake.of("chat.update")[-1]
        assert len(app.fake.of("chat.update")) == n
        assert (update.args["channel"], update.args["ts"]) == (question["channel"], question["ts"])
        assert f"You answered: *{label}*" in "\n".join(texts_of(update))
        assert [b for b in update.args["blocks"] if b["type"] == "actions"] == []  # no buttons left
        assert message_text(question) in "\n".join(texts_of(update))  # the question is still there

    result = shown(app.posted()[-1:])
    for figure in ("Step 1 (Discovery): 56/70", "24/40", "30/30", "Total: 110/140 (79%)"):
        assert figure in result
    assert buttons(app.posted()[-1]) == []
    data = app.store.read_person(PERSON)
    assert [a.kind for a in data.assessments] == ["qualification"]
    assert len(data.answers) == 29
    assert data.session is not None
    assert data.session.active is None


def test_the_conversation_happens_in_the_dm_that_conversations_open_returns(app: SlackApp) -> None:
    app.slash("qualify Acme")
    app.settle()
    [opened] = app.fake.of("conversations.open")
    assert opened.args["users"] == USER
    dm_channel = opened.response["channel"]["id"]
    dm(app, "4")
    click(app, "3")
    assert {m["channel"] for m in app.posted()} == {dm_channel}
    assert len(app.fake.of("conversations.open")) == 1  # the DM is remembered, not opened per message


def test_dms_and_mentions_reach_the_same_conversation(app: SlackApp) -> None:
    assert "question 1 of 29" in shown(dm(app, "/qualify Acme"))
    before = len(app.posted())
    assert app.mention(f"<@{BOT_USER}> 4 they want a 20% cost cut").status == 200
    app.settle()
    assert "question 2 of 29" in shown(app.posted()[before:])
    status = shown(dm(app, "/status"))
    assert "1. What prompted the search: 4 (they want a 20% cost cut)" in status
    assert "Now: qualification of Acme*, question 2 of 29" in status


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"user": BOT_USER, "bot_id": BOT_ID, "app_id": "A111"}, id="our-own-message"),
        pytest.param(
            {"user": None, "bot_id": "B999", "subtype": "bot_message", "username": "other"}, id="bot-message"
        ),
        pytest.param({"user": "U999", "bot_id": "B999"}, id="another-apps-bot-user"),
        pytest.param({"user": USER, "subtype": "message_changed"}, id="an-edit"),
    ],
)
def test_messages_from_bots_are_not_turns(app: SlackApp, event: dict[str, Any]) -> None:
    fields = {"text": "/qualify Acme", "channel": f"D{USER}", **event}
    assert app.event(fields).status == 200
    app.settle()
    assert app.posted() == []
    assert app.store.person_ids() == []
    assert "question 1 of 29" in shown(dm(app, "/qualify Acme"))  # a person's message still is one


# --- security --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sign_args",
    [
        pytest.param({"secret": "not-the-signing-secret-0000000000"}, id="bad-signature"),
        pytest.param({"timestamp": int(time.time()) - 6 * 60}, id="six-minutes-old"),
    ],
)
def test_a_request_not_signed_now_by_slack_is_refused(app: SlackApp, sign_args: dict[str, Any]) -> None:
    assert app.dm("/qualify Acme", **sign_args).status == 401
    assert app.slash("qualify Acme", **sign_args).status == 401
    app.settle()
    assert app.posted() == []
    assert app.store.person_ids() == []


def _signed(body: bytes, ctype: str) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": ctype, **sign(body)}


MALFORMED = {
    "signed-garbage-json": _signed(b'{"type": "event_callback", "event": {', "application/json"),
    "signed-json-list": _signed(b"[1, 2, 3]", "application/json"),
    "signed-not-utf8": _signed(b"\xff\xfe\x00{", "application/json"),
    "signed-form-without-payload": _signed(b"foo=bar&user_id=W111", "application/x-www-form-urlencoded"),
    "signed-payload-not-json": _signed(b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
    "signed-payload-a-list": _signed(b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
    "signed-event-without-event": _signed(b'{"type": "event_callback"}', "application/json"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_body_gets_an_answer_not_a_server_error(app: SlackApp, name: str) -> None:
    body, headers = MALFORMED[name]
    response = app.post(body, headers)
    assert response.status < 500, f"{response.status} {response.body[:120]!r}"
    app.settle()
    assert app.posted() == []
    assert app.store.person_ids() == []
    assert app.get("/healthz").status == 200  # still serving


def test_an_unsigned_malformed_body_is_refused_as_unsigned(app: SlackApp) -> None:
    # Nobody but Slack gets further than the signature check, whatever the body.
    response = app.post(b'{"event": ', {"Content-Type": "application/json"})
    assert response.status == 401


def test_an_unknown_action_is_acknowledged_and_changes_nothing(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    question = app.posted()[-1]
    foreign = {**button(question, "4"), "action_id": "another_feature:1"}
    before = len(app.fake.calls)
    response = app.click(foreign, question)
    app.settle()
    assert response.status == 200, f"Slack shows the person an error for {response.status}"
    assert [c.method for c in app.fake.calls[before:]] == []
    assert draft_answers(app) == {}


def test_a_redelivered_event_is_answered_once(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    before = len(app.posted())
    stamp = "1700000100.000100"
    first = app.dm("4", ts=stamp)
    retry = app.dm("4", ts=stamp, extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert (first.status, retry.status) == (200, 200)
    app.settle()
    replies = app.posted()[before:]
    assert len(replies) == 1
    assert "question 2 of 29" in shown(replies)
    answers = draft_answers(app)
    assert list(answers) == ["s1_prompted"]
    assert answers["s1_prompted"]["value"] == 4
    assert active(app).step == "s1_expectations"


def test_mentions_and_links_a_person_typed_reach_slack_escaped(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    dm(app, "4 <!channel> read <https://evil.example|click> now")
    [status] = dm(app, "/status")
    section = message_text(status)
    assert "&lt;!channel&gt; read &lt;https://evil.example|click&gt; now" in section
    assert "&lt;!channel&gt;" in status["text"]  # the notification text echoes it too, escaped
    for call in app.fake.of("chat.postMessage") + app.fake.of("chat.update"):
        for text in texts_of(call):
            assert "<!channel>" not in text
            assert "<https://evil.example" not in text


def test_text_slack_escaped_on_the_way_in_is_kept_as_the_person_typed_it(app: SlackApp) -> None:
    # A rep types `4 cost < 20% & fast`; the Events API delivers it as Slack's formatting escapes it.
    dm(app, "/qualify Acme")
    dm(app, "4 cost &lt; 20% &amp; fast")
    assert draft_answers(app)["s1_prompted"]["note"] == "cost < 20% & fast"
    [status] = dm(app, "/status")
    assert "4 (cost &lt; 20% &amp; fast)" in message_text(status)  # shown by Slack as typed


# --- the step as a modal form ----------------------------------------------------------------------------
def open_form(app: SlackApp) -> dict[str, Any]:
    """Start a qualification, answer question 1 with a click, open the form on question 2."""
    dm(app, "/qualify Acme")
    click(app, "4")
    assert click(app, "Fill in as a form") == []
    [opened] = app.fake.of("views.open")
    view: dict[str, Any] = opened.response["view"]
    return view


def selects(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in view["blocks"] if b["type"] == "input" and b["element"]["type"] == "static_select"]


def picked(value: str) -> dict[str, Any]:
    return {
        "answer": {
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
        }
    }


def test_a_step_can_be_filled_in_as_a_modal_form(app: SlackApp) -> None:
    view = open_form(app)
    assert view["type"] == "modal"
    assert view["callback_id"] == "coach_form"
    assert [b["block_id"] for b in selects(view)] == STEP_1[1:]  # the unanswered questions of the step
    for block in selects(view):
        assert [o["value"] for o in block["element"]["options"]][:5] == ["1", "2", "3", "4", "5"]
    values: dict[str, Any] = {step: picked("4") for step in STEP_1[1:]}
    values["s1_expectations__note"] = {
        "note": {"type": "plain_text_input", "value": "they want a 20% cost cut"}
    }
    before = len(app.posted())
    response = app.submit_view(view, values)
    assert (response.status, response.body) == (200, b"")  # an empty 200 closes the modal
    app.settle()
    assert "Step 2: Timeline, budget, decision and concerns · question 15 of 29" in shown(
        app.posted()[before:]
    )
    answers = draft_answers(app)
    assert [answers[s]["value"] for s in STEP_1] == [4] * 14
    assert answers["s1_expectations"]["note"] == "they want a 20% cost cut"


def test_an_invalid_value_in_a_form_changes_nothing_and_says_so(app: SlackApp) -> None:
    view = open_form(app)
    values = {step: picked("4") for step in STEP_1[1:]}
    values["s1_accomplished"] = picked("9")
    before = len(app.posted())
    assert app.submit_view(view, values).status == 200
    app.settle()
    said = shown(app.posted()[before:])
    assert "I could not take the form: nothing of it was saved" in said
    assert "Desired outcome" in said  # names the question
    assert "question 2 of 29" in said  # and asks the current question again
    assert list(draft_answers(app)) == ["s1_prompted"]
    assert active(app).step == "s1_expectations"


def test_an_empty_form_changes_nothing_and_says_so(app: SlackApp) -> None:
    view = open_form(app)
    before = len(app.posted())
    assert (
        app.submit_view(view, {step: {"answer": {"selected_option": None}} for step in STEP_1[1:]}).status
        == 200
    )
    app.settle()
    assert "The form was empty, so nothing changed." in shown(app.posted()[before:])
    assert list(draft_answers(app)) == ["s1_prompted"]


def test_skip_step_picked_in_the_form_reads_as_a_skip_not_none(app: SlackApp) -> None:
    view = open_form(app)
    values = {step: picked("4") for step in STEP_1[1:]}
    values["s1_see_happening"] = picked("skip_section")  # the option labelled "Skip step"
    assert app.submit_view(view, values).status == 200
    app.settle()
    status = shown(dm(app, "/status"))
    assert "4. How they see it happening: None" not in status
    assert re.search(r"4\. How they see it happening: (skipped|4)", status), status


def test_the_form_button_of_a_finished_dialog_says_there_is_nothing_to_fill_in(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    question = app.posted()[-1]
    dm(app, "/cancel")
    dm(app, "yes")
    assert click(app, "Fill in as a form", question) == []
    [note] = app.fake.of("chat.postEphemeral")
    assert note.args["user"] == USER
    assert note.args["text"] == "There is no step to fill in as a form right now."
    assert app.fake.of("views.open") == []


def test_a_click_on_an_earlier_question_is_not_shown_as_answered(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    first = app.posted()[-1]
    dm(app, "4")  # answered by typing: question 1 keeps its buttons
    replies = click(app, "2", first)
    assert "That button belongs to an earlier question, so I did not use it" in shown(replies)
    assert draft_answers(app)["s1_prompted"]["value"] == 4
    for update in app.fake.of("chat.update"):
        assert "You answered: *2*" not in "\n".join(texts_of(update)), "the old question claims answer 2"


# --- App Home --------------------------------------------------------------------------------------------
def test_home_lists_the_reps_accounts_with_a_button_per_dialog(app: SlackApp) -> None:
    finish_quickly(app, "Acme")
    finish_quickly(app, "Beta")
    assert app.home_opened().status == 200
    app.settle()
    [published] = app.fake.of("views.publish")
    assert published.args["user_id"] == USER
    view = published.args["view"]
    assert view["type"] == "home"
    home = {"blocks": view["blocks"]}
    assert "Acme" in message_text(home)
    assert "Beta" in message_text(home)
    labels = [b["text"]["text"] for b in buttons(home)]
    for account in ("Acme", "Beta"):
        assert {f"Qualify {account}", f"Stage {account}", f"Plan {account}"} <= set(labels)


def test_home_before_any_account_explains_how_to_start(app: SlackApp) -> None:
    app.home_opened()
    app.settle()
    [published] = app.fake.of("views.publish")
    home = {"blocks": published.args["view"]["blocks"]}
    assert "You have no accounts yet" in message_text(home)
    assert buttons(home) == []
    assert app.store.person_ids() == []  # opening Home stores nothing


def test_qualify_on_home_starts_the_dialog_in_the_dm(app: SlackApp) -> None:
    finish_quickly(app, "Acme")
    app.home_opened()
    app.settle()
    view = app.fake.of("views.publish")[-1].response["view"]
    before = len(app.posted())
    assert app.click_in_view(button({"blocks": view["blocks"]}, "Qualify Acme"), view).status == 200
    app.settle()
    started = app.posted()[before:]
    assert "question 1 of 29" in shown(started)
    assert {m["channel"] for m in started} == {f"D{USER}"}
    assert "Now: qualification of Acme*" in shown(dm(app, "/status"))


# --- Block Kit limits ------------------------------------------------------------------------------------
def words(n: int, tag: str) -> str:
    """About ``n`` characters of distinct words."""
    out: list[str] = []
    i = 0
    while sum(len(w) + 1 for w in out) < n:
        out.append(f"{tag}{i:04d}")
        i += 1
    return " ".join(out)[:n].rstrip()


def test_a_long_status_is_split_into_sections_and_messages_within_slacks_limits(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    notes = [words(1990, f"n{q}w") for q in range(8)]
    for note in notes:
        dm(app, f"4 {note}")
    status = dm(app, "/status")
    sections = [b for m in status for b in m["blocks"] if b["type"] == "section"]
    assert len(sections) >= 6
    for message in status:
        assert len(message["blocks"]) <= kit.BLOCKS_PER_MESSAGE
    for block in sections:
        assert 0 < len(block["text"]["text"]) <= kit.SECTION_LIMIT
    flat = " ".join(shown(status).split())
    for note in notes:
        assert note in flat  # nothing was cut away


def test_a_message_over_the_length_limit_is_refused_whole(app: SlackApp) -> None:
    dm(app, "/qualify Acme")
    said = dm(app, "4 " + words(9998, "x"))
    assert (
        "That message has 10,000 characters; I read messages of up to 8,000. Nothing was changed."
        in shown(said)
    )
    assert draft_answers(app) == {}
    for block in (b for m in said for b in m["blocks"] if b["type"] == "section"):
        assert len(block["text"]["text"]) <= kit.SECTION_LIMIT


def test_split_text_cuts_at_line_breaks_then_at_spaces_then_anywhere() -> None:
    lines = "\n".join(words(700, f"l{n}w") for n in range(10))
    pieces = kit.split_text(lines)
    assert all(len(p) <= kit.SECTION_LIMIT for p in pieces)
    assert "\n".join(pieces) == lines  # cut only at line breaks
    one_line = words(10_000, "w")
    pieces = kit.split_text(one_line)
    assert all(len(p) <= kit.SECTION_LIMIT for p in pieces)
    assert " ".join(pieces).split() == one_line.split()  # cut between words
    unbroken = "x" * 7000
    assert [len(p) for p in kit.split_text(unbroken)] == [3000, 3000, 1000]
    assert kit.split_text("") == [" "]  # a section may not be empty
    assert kit.split_text("short\ntext") == ["short\ntext"]


def test_a_huge_reply_becomes_several_messages_of_at_most_50_blocks() -> None:
    problem = "\n".join(words(2900, f"p{n}w") for n in range(120))
    messages = kit.messages([Reply("engine/invalid.txt.j2", {"problem": problem})])
    assert len(messages) == 3  # 120 sections and more: 50 + 50 + the rest
    for fallback, blocks in messages:
        assert 0 < len(blocks) <= kit.BLOCKS_PER_MESSAGE
        assert 0 < len(fallback) <= kit.FALLBACK_LIMIT
        assert all(len(b["text"]["text"]) <= kit.SECTION_LIMIT for b in blocks)
    text = "\n".join(b["text"]["text"] for _, blocks in messages for b in blocks)
    assert text.split() == f"{problem} Nothing was changed.".split()


def test_a_question_ends_a_message_and_carries_its_buttons() -> None:
    question = Reply(
        "engine/yes_or_no.txt.j2",
        {},
        (Choice("Yes", "yes"), Choice("No", "no")),
        ReplyKind.QUESTION,
        step="confirm",
    )
    said = Reply("engine/continuing.txt.j2", {})
    messages = kit.messages([said, question, said])
    assert len(messages) == 2
    first = {"blocks": messages[0][1]}
    assert [(b["text"]["text"], b["value"]) for b in buttons(first)] == [
        ("Yes", "confirm|yes"),
        ("No", "confirm|no"),
    ]
    assert buttons({"blocks": messages[1][1]}) == []


def test_many_choices_are_spread_over_actions_blocks_of_at_most_25() -> None:
    choices = tuple(Choice(f"Option {n}", str(n)) for n in range(60))
    reply = Reply("engine/yes_or_no.txt.j2", {}, choices, ReplyKind.QUESTION, step="pick")
    blocks = kit.reply_blocks(reply)
    rows = [b for b in blocks if b["type"] == "actions"]
    assert [len(r["elements"]) for r in rows] == [25, 25, 10]
    assert len({r["block_id"] for r in rows}) == 3
    assert [e["value"] for r in rows for e in r["elements"]] == [f"pick|{n}" for n in range(60)]
    assert len(kit.actions([kit.button("x", action_id="a", value="v")] * 26, "q")) == 2


def test_button_text_is_cut_at_75_characters_and_values_at_2000() -> None:
    long = kit.button("L" * 100, action_id="a", value="v" * 3000)
    assert len(long["text"]["text"]) == kit.BUTTON_TEXT_LIMIT
    assert long["text"]["text"].endswith("…")
    assert len(long["value"]) == 2000
    exact = kit.button("L" * 75, action_id="a", value="v")
    assert exact["text"]["text"] == "L" * 75


def test_an_answered_question_keeps_its_text_and_shows_the_answer_escaped() -> None:
    blocks = [kit.section("*Question*"), *kit.actions([kit.button("4", action_id="a", value="s|4")], "q")]
    after = kit.answered(blocks, "<b>4</b>")
    assert after[0] == blocks[0]
    assert [b["type"] for b in after] == ["section", "context"]
    assert after[-1]["elements"][0]["text"] == "✅ You answered: *&lt;b&gt;4&lt;/b&gt;*"


# --- operations ------------------------------------------------------------------------------------------
def test_healthz_answers_200_with_json(app: SlackApp) -> None:
    response = app.get("/healthz")
    assert response.status == 200
    assert json.loads(response.body) == {"ok": True, "store": app.store.location}


def test_the_token_and_signing_secret_never_reach_the_logs(
    app: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app.slash("qualify Acme")
    app.settle()
    click(app, "4")
    dm(app, "4 a note")
    app.dm("forged", secret="not-the-signing-secret-0000000000")
    app.home_opened()
    app.settle()
    assert len(caplog.records) > 10  # Bolt and the Web API client did log at DEBUG
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in caplog.records:
        line = formatter.format(record)
        assert TOKEN not in line, record.name
        assert SECRET not in line, record.name


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_redact_secrets_hides_slack_tokens_and_the_configured_secrets() -> None:
    redact = RedactSecrets((SECRET, "short"))
    line = (
        f"bot xoxb-1111-2222-abcdefABCDEF app xapp-1-A111-222-0123abcdef user xoxp-33-44 "
        f"telegram {TELEGRAM} secret {SECRET} short"
    )
    redacted = redact.redact(line)
    for secret in ("xoxb-1111", "xapp-1-A111", "xoxp-33", TELEGRAM, SECRET):
        assert secret not in redacted
    assert redacted.count("[redacted]") == 5
    assert redacted.endswith(" short")  # too short to be a secret: not replaced everywhere it appears

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s in %s", (TOKEN, "args"), None)
    assert redact.filter(record) is True  # never drops a record
    assert record.getMessage() == "token [redacted] in args"


def test_redact_secrets_hides_a_telegram_token_in_a_bot_api_url() -> None:
    # Where a Telegram token shows up in logs: the URL of every Bot API call (httpx logs each request).
    redacted = RedactSecrets().redact(f"HTTP Request: POST https://api.telegram.org/bot{TELEGRAM}/getUpdates")
    assert TELEGRAM.split(":")[1] not in redacted


def test_tokens_in_a_logged_traceback_are_redacted(root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", secrets=(TOKEN, SECRET))
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        raise ConnectionError(f"the Web API refused the token {TOKEN}")
    except ConnectionError:
        logging.getLogger("bot.channels").exception("a request failed for %s", TOKEN)
    output = stream.getvalue()
    assert "a request failed for [redacted]" in output  # the message is redacted...
    assert "ConnectionError: the Web API refused the token" in output
    assert TOKEN not in output  # ...and so must be the traceback under it
