"""The Telegram bot as a person sees it: updates built from the documented payloads, delivered to our webhook
(waitress on 127.0.0.1, the secret header) or fetched by long polling, the Bot API played by a fake on
127.0.0.1 that records each call and answers as Telegram does (HTML parsed into text and entities; what the
real API refuses, refused). The real TinyDB store in a temp dir.

Each test starts a fresh bot. ``app.settle()`` waits until every update delivered so far was handled to
the end (the application's update queue joined), so a test can also show that nothing was sent.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram import CALLBACK_LIMIT, split_message
from bot.config import ConfigError, TelegramSettings
from bot.messages import Choice, Reply, ReplyKind
from storage.base import Account, PersonData
from tests.auxil.cli import COACH, run_coach
from tests.auxil.telegram_app import (
    BOT_USERNAME,
    GROUP_ID,
    SECRET,
    TOKEN,
    USER_ID,
    PollingApp,
    TelegramApp,
    WebhookApp,
    buttons,
    fixture,
    labels,
    last_question,
    markup,
    sends,
    shown,
)
from tests.auxil.telegram_fake import Call, TelegramFake, parse_html

PERSON = f"telegram:{USER_ID}"
POLITE = "I can only read text messages. Please type your answer, or send /help to see what I can do."
#: The qualification's answers by button: 4 to each of Step 1's 14 questions, 3 to Step 2's 8, yes to the
#: fit question, 5 to Step 3's 6.
QUALIFICATION = [*["4"] * 14, *["3"] * 8, "Yes", *["5"] * 6]


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[WebhookApp]:
    app = WebhookApp(tmp_path / "data").start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(params=["webhook", "polling"])
def any_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelegramApp]:
    """The bot receiving updates on its webhook, then by long polling."""
    kind = WebhookApp if request.param == "webhook" else PollingApp
    app = kind(tmp_path / "data").start()
    try:
        yield app
    finally:
        app.stop()


def stored(app: TelegramApp, person: str = PERSON) -> PersonData:
    assert app.store is not None
    return app.store.read_person(person)


def draft_answers(app: TelegramApp) -> dict[str, Any]:
    session = stored(app).session
    assert session is not None
    assert session.active is not None
    return dict(session.active.draft.get("answers", {}))


def only_send(calls: list[Call]) -> Call:
    sent = sends(calls)
    assert len(sent) == 1, [(c.method, shown(c)[:60]) for c in sent]
    return sent[0]


def status_text(app: TelegramApp) -> str:
    return "\n".join(shown(c) for c in sends(app.text("/status")))


def bold_spans(call: Call) -> list[str]:
    result = call.result
    units = result["text"].encode("utf-16-le")
    return [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in result.get("entities", [])
        if e["type"] == "bold"
    ]


# --- start-up -------------------------------------------------------------------------------------------
def test_at_start_the_bot_checks_its_token_and_publishes_the_command_menu(any_app: TelegramApp) -> None:
    methods = [c.method for c in any_app.fake.calls]
    assert methods[0] == "getMe"
    assert methods.index("setMyCommands") > methods.index("getMe")
    (menu,) = any_app.fake.of("setMyCommands")
    commands = {c["command"]: c["description"] for c in menu.args["commands"]}
    assert len(commands) == len(menu.args["commands"]), "a command is listed twice"
    for name in ("qualify", "stage", "plan", "help", "status", "back", "edit", "skip", "cancel", "resume"):
        assert name in commands
    for name, description in commands.items():  # what Telegram accepts in a command menu
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name), name
        assert 1 <= len(description) <= 256, name
        assert "`" not in description, description
    assert "score" in commands["qualify"]


# --- a whole dialog by buttons, both ways in ------------------------------------------------------------
def test_a_whole_qualification_by_buttons(any_app: TelegramApp) -> None:
    question = only_send(any_app.text("/qualify Acme"))
    assert "question 1 of 29" in shown(question)
    for n, label in enumerate(QUALIFICATION, start=1):
        calls = any_app.click(question, label)
        answered = [c for c in calls if c.method == "answerCallbackQuery"]
        edited = [c for c in calls if c.method == "editMessageText"]
        assert len(answered) == 1, f"click {n}: the button's spinner is not stopped"
        assert len(edited) == 1, f"click {n}: the question is not edited to show the choice"
        edit = edited[0]
        assert edit.args["chat_id"] == USER_ID
        assert edit.args["message_id"] == question.result["message_id"]
        assert shown(edit) == f"{shown(question)}\n\n✅ {label}"
        assert bold_spans(edit)[-1] == label
        assert set(bold_spans(question)) <= set(bold_spans(edit)), "the question lost its formatting"
        assert markup(edit) is None, "the answered question still has buttons"
        assert "reply_markup" not in edit.result
        if n < len(QUALIFICATION):
            question = last_question(calls)
            assert f"question {n + 1} of 29" in shown(question)
    final = shown(sends(calls)[-1])
    for part in ("Qualification of Acme", "56/70", "24/40", "30/30", "110/140 (79%)", "Fit decision: yes"):
        assert part in final
    assert "Total: 110/140 (79%)" in bold_spans(sends(calls)[-1])
    clicks = any_app.fake.of("answerCallbackQuery")
    assert len(clicks) == len({c.args["callback_query_id"] for c in clicks}) == len(QUALIFICATION)
    data = stored(any_app)
    assert len(data.answers) == 29
    assert [a.kind for a in data.assessments] == ["qualification"]


# --- the webhook's door ---------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", ["wrong-secret", None, "", SECRET.upper(), SECRET + "x"])
def test_the_webhook_refuses_a_wrong_or_missing_secret(webhook: WebhookApp, secret: str | None) -> None:
    update = webhook.message_update("/qualify Acme")
    status, body = webhook.post(json.dumps(update).encode(), secret=secret)
    assert status == 403
    assert json.loads(body)["ok"] is False
    webhook.settle()
    assert sends(webhook.fake.calls) == []
    assert stored(webhook).session is None
    assert only_send(webhook.text("/status")).result["text"] == "No dialog is open."


def test_the_webhook_refuses_what_is_not_an_update(webhook: WebhookApp) -> None:
    status, _ = webhook.post(b"{not json")
    assert status == 400
    status, _ = webhook.post(b"{}", path="/telegram/other")
    assert status == 404
    webhook.settle()
    assert sends(webhook.fake.calls) == []


def test_a_redelivered_update_is_handled_once(webhook: WebhookApp) -> None:
    webhook.text("/qualify Acme")
    typed = webhook.message_update("4 they want a 20% cost cut")
    mark = len(webhook.fake.calls)
    assert webhook.deliver(typed) == webhook.deliver(typed) == 200
    webhook.settle()
    reply = only_send(webhook.fake.since(mark))
    assert "question 2 of 29" in shown(reply)
    assert len(draft_answers(webhook)) == 1

    click = webhook.callback_update(reply, "3")
    mark = len(webhook.fake.calls)
    assert webhook.deliver(click) == webhook.deliver(click) == 200
    webhook.settle()
    calls = webhook.fake.since(mark)
    assert "question 3 of 29" in shown(only_send(calls))
    assert {shown(c) for c in calls if c.method == "editMessageText"} == {f"{shown(reply)}\n\n✅ 3"}
    answers = draft_answers(webhook)
    assert [a["value"] for a in answers.values()] == [4, 3]
    assert "2. Expectations and requirements: 3" in status_text(webhook)


# --- what is not text -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sticker", "photo", "photo with a caption", "voice"])
def test_a_sticker_photo_or_voice_message_gets_a_polite_reply_and_changes_nothing(
    webhook: WebhookApp, kind: str
) -> None:
    webhook.text("/qualify Acme")
    webhook.text("4")
    before = status_text(webhook)
    update = {
        "sticker": webhook.sticker_update,
        "photo": webhook.photo_update,
        "photo with a caption": lambda: webhook.photo_update(caption="5"),
        "voice": webhook.voice_update,
    }[kind]()
    reply = only_send(webhook.exchange(update))
    assert reply.args["chat_id"] == USER_ID
    assert shown(reply) == POLITE
    assert markup(reply) is None
    assert status_text(webhook) == before
    assert len(draft_answers(webhook)) == 1


def test_an_edited_message_does_not_answer_the_open_question(webhook: WebhookApp) -> None:
    """Telegram delivers edits to a webhook (setWebhook is called without allowed_updates); polling asks for
    messages and callback queries only. Editing an earlier answer must not answer the current question."""
    webhook.text("/qualify Acme")
    webhook.text("4 first thoughts")
    edit = webhook.message_update("5 edited later")
    edit["edited_message"] = {**edit.pop("message"), "edit_date": 1441645600}
    calls = webhook.exchange(edit)
    assert all("question 3 of 29" not in shown(c) for c in sends(calls))
    assert len(draft_answers(webhook)) == 1
    assert "Now: qualification of Acme, question 2 of 29" in status_text(webhook)


# --- long replies ---------------------------------------------------------------------------------------
def test_a_reply_over_4096_characters_comes_in_pieces_cut_at_line_ends(webhook: WebhookApp) -> None:
    notes = [f"note {n}: " + " ".join(f"word{n}x{i}" for i in range(180)) for n in range(1, 4)]
    webhook.text("/qualify Acme")
    for note in notes:
        webhook.text(f"4 {note}")
    pieces = sends(webhook.text("/status"))
    assert len(pieces) >= 2
    assert all(c.method == "sendMessage" for c in pieces)
    texts = [c.args["text"] for c in pieces]
    assert all(len(t) <= 4096 for t in texts)
    assert all(c.error is None for c in pieces)
    assert sum(len(t) for t in texts) > 4096
    seen = [shown(c) for c in pieces]
    for n, note in enumerate(notes, start=1):  # each row whole, in exactly one piece
        row = f"   {n}. " if n > 1 else "1. "
        holding = [s for s in seen if f"4 ({note})" in s]
        assert len(holding) == 1, f"row {n} was cut"
        assert any(line.lstrip().startswith(row.strip()) for line in holding[0].splitlines())
    assert seen[0].startswith("Now: qualification of Acme, question 4 of 29")
    assert "Change an answer with /edit N" in seen[-1]
    assert all(markup(c) is None for c in pieces)


def test_only_the_last_piece_of_a_long_question_carries_the_buttons(webhook: WebhookApp) -> None:
    channel = webhook.channel
    assert channel is not None
    text = "\n".join(f"Line {n}: " + "background " * 30 for n in range(40))
    question = Reply(
        "dialogs/question.txt.j2",
        {"header": "A long question", "text": text, "accepted": "yes or no", "step": {"label": "?"}},
        choices=(Choice("Yes", "yes"), Choice("No", "no")),
        kind=ReplyKind.QUESTION,
        step="confirm",
    )
    webhook.run(channel.send(USER_ID, [question]))
    pieces = webhook.fake.of("sendMessage")
    assert len(pieces) >= 3
    assert all(len(c.args["text"]) <= 4096 and c.error is None for c in pieces)
    assert [markup(c) is not None for c in pieces] == [False] * (len(pieces) - 1) + [True]
    assert labels(pieces[-1]) == ["Yes", "No"]
    assert "\n".join(shown(c) for c in pieces).count("background") == 40 * 30


def test_split_message_keeps_every_line_whole_and_loses_nothing() -> None:
    lines = [f"{n:03d} " + "x" * (n * 7 % 300) for n in range(200)]
    text = "\n".join(lines)
    pieces = split_message(text)
    assert len(pieces) > 1
    assert all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text
    assert split_message("short") == ["short"]


def test_split_message_cuts_an_overlong_line_between_words() -> None:
    words = " ".join(f"w{i:04d}" for i in range(1500))  # 8,999 characters on one line
    pieces = split_message(words)
    assert all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == words.split()


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("x" * 4094 + "&lt;" * 10, "x" * 4094 + "<" * 10),  # an escaped "<" straddling the limit
        ("<b>" + "y" * 5000 + "</b>", "y" * 5000),  # a bold span longer than the limit
    ],
    ids=["entity", "tag"],
)
def test_split_message_never_cuts_inside_html(text: str, visible: str) -> None:
    """Each piece is sent on its own in the HTML parse mode: a cut inside ``&lt;`` shows ``&l`` and ``t;``,
    a cut inside ``<b>...</b>`` makes both pieces HTML that Telegram refuses."""
    pieces = split_message(text)
    assert all(len(p) <= 4096 for p in pieces)
    for piece in pieces:
        assert re.search(r"&[a-z]*$", piece) is None, f"a piece ends in a cut entity: {piece[-8:]!r}"
    assert "".join(parse_html(p)[0] for p in pieces) == visible
    assert all(p.count("<b>") == p.count("</b>") for p in pieces)


def test_a_long_note_full_of_angle_brackets_reads_the_same_in_pieces(webhook: WebhookApp) -> None:
    """``<`` is sent as ``&lt;``: a 1,990-character note of them is a line of about 8,000 characters, cut in
    the middle. Wherever the cut falls, the person must read the brackets, not ``&l`` and ``t;``."""
    webhook.text("/qualify Acme")
    webhook.text("4 first")
    for shift in range(4):  # each of the 4 places the cut can fall relative to an "&lt;"
        note = "a" * shift + "<" * (1990 - shift)
        webhook.text("/edit 1")
        webhook.text(f"4 {note}")
        pieces = sends(webhook.text("/status"))
        assert all(c.error is None for c in pieces)
        texts = [shown(c) for c in pieces]
        cuts = [f"{a[-6:]!r} | {b[:6]!r}" for a, b in itertools.pairwise(texts)]
        seen = "".join(texts)
        broken = "&" in seen  # nobody typed one: it is a piece of an "&lt;" cut in two
        assert not broken, f"shift {shift}: an entity was cut between two messages: {cuts}"
        assert note in re.sub(r"\s", "", seen), f"shift {shift}: the note does not read the same"


# --- groups and commands addressed to other bots --------------------------------------------------------
def test_in_a_group_only_a_command_addressed_to_the_bot_gets_an_answer(webhook: WebhookApp) -> None:
    for text in ("hello team", "/qualify Acme", "/qualify@otherbot Acme", "@coach_bot qualify Acme", "4"):
        assert sends(webhook.exchange(webhook.group_update(text))) == [], text
    reply = only_send(webhook.exchange(webhook.group_update(f"/qualify@{BOT_USERNAME} Acme")))
    assert reply.args["chat_id"] == GROUP_ID
    assert "private chat" in shown(reply)
    (link,) = buttons(reply)
    assert link["url"] == f"https://t.me/{BOT_USERNAME}"
    assert "callback_data" not in link
    assert stored(webhook).session is None
    assert shown(only_send(webhook.text("/status"))) == "No dialog is open."


def test_a_command_for_another_bot_is_not_ours(webhook: WebhookApp) -> None:
    reply = only_send(webhook.text("/qualify@otherbot Acme"))
    assert "I don't know the command /qualify@otherbot" in shown(reply)
    assert "question 1 of" not in shown(reply)
    assert shown(only_send(webhook.text("/status"))) == "No dialog is open."
    ours = only_send(webhook.text(f"/qualify@{BOT_USERNAME} Acme"))
    assert "question 1 of 29" in shown(ours)


# --- what a person typed is shown as typed --------------------------------------------------------------
def test_html_a_person_types_is_shown_literally(webhook: WebhookApp) -> None:
    webhook.text("/qualify R&D <Labs>")
    webhook.text("4 <b>bold</b> & <script>")
    reply = only_send(webhook.text("/status"))
    assert reply.error is None
    sent = reply.args["text"]
    assert "4 (&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;)" in sent
    assert "R&amp;D &lt;Labs&gt;" in sent
    seen = shown(reply)
    assert "1. What prompted the search: 4 (<b>bold</b> & <script>)" in seen
    assert "Now: qualification of R&D <Labs>" in bold_spans(reply)[0]
    assert "bold" not in bold_spans(reply)


def test_did_you_mean_reads_as_a_question_without_visible_tags(webhook: WebhookApp) -> None:
    assert webhook.store is not None
    with webhook.store.person(PERSON) as tx:
        tx.put_account(Account(person_id=PERSON, key="acme", name="Acme"))
    question = only_send(webhook.text("/qualify Acmee"))
    assert labels(question) == ["Yes, Acme", "No, a new account: Acmee"]
    assert "<b>" not in shown(question)
    assert shown(question).startswith("Did you mean Acme?")


# --- a call plan: keyboards within 64 bytes, the file ---------------------------------------------------
TYPED = {
    "When is the call?": "2030-01-15 10:00",
    "Who is the call with?": "Dana Lee, decision maker; Sam Roy (champion)",
    "meeting for the first time": "Sam Roy",
    "What do you want from this call?": "agree a pilot with 20 users",
    "What does the customer want from it?": "cut support costs by 20%",
}


def test_a_call_plan_by_buttons_keeps_callback_data_within_64_bytes_and_sends_the_plan_file(
    webhook: WebhookApp,
) -> None:
    assert webhook.store is not None
    with webhook.store.person(PERSON) as tx:
        tx.put_account(Account(person_id=PERSON, key="acme", name="Acme"))
    calls = webhook.text("/plan Acmee")
    question = last_question(calls)
    calls = webhook.click(question, "Yes, Acme")
    for _ in range(80):
        if any(c.method == "sendDocument" for c in calls):
            break
        asked = sends(calls)[-1]
        text = shown(asked)
        typed = next((answer for cue, answer in TYPED.items() if cue in text), None)
        if typed is not None:
            calls = webhook.text(typed)
        elif "Known" in labels(asked):
            calls = webhook.click(asked, "Known")
        elif "None" in labels(asked):
            calls = webhook.click(asked, "None")
        else:
            raise AssertionError(f"an unexpected question: {text[:200]}")
    else:
        raise AssertionError("the plan never ended")
    keyboards = [c for c in webhook.fake.of("sendMessage") if markup(c)]
    assert len(keyboards) > 20
    for each in keyboards:
        for b in buttons(each):
            data = b["callback_data"]
            assert len(data.encode()) <= CALLBACK_LIMIT, data
            assert re.fullmatch(r"[a-z0-9_]+\|[a-z0-9_]+", data), data
    assert all(c.error is None for c in webhook.fake.calls)
    (document,) = webhook.fake.of("sendDocument")
    assert document.args["chat_id"] == USER_ID
    assert document.filenames == {"document": "call-plan-acme-2030-01-15.md"}
    assert document.args["caption"] == "Call plan: Acme"
    content = document.files["document"].decode("utf-8")
    assert "Acme" in content
    assert "Dana Lee" in content
    result = "\n".join(shown(c) for c in sends(calls) if c.method == "sendMessage")
    assert "Call plan: Acme, Tue 2030-01-15 10:00" in result
    assert "call-plan-acme-2030-01-15.md" in result
    assert len(stored(webhook).plans) == 1


# --- settings and the command line ----------------------------------------------------------------------
def test_settings_require_a_secret_for_a_webhook_only() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET must be set for a webhook"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}, webhook=True)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET must be set for a webhook"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": ""}, webhook=True)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN must be set"):
        TelegramSettings.from_env({"TELEGRAM_WEBHOOK_SECRET": SECRET}, webhook=True)
    with pytest.raises(ConfigError, match="only hold 1-256 characters"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "a b"})
    polling = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert polling.webhook_secret is None
    assert polling.api_url == "https://api.telegram.org"
    hooked = TelegramSettings.from_env(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_URL": "http://x"},
        webhook=True,
    )
    assert (hooked.token, hooked.webhook_secret, hooked.api_url) == (TOKEN, SECRET, "http://x")


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_serve_telegram_webhook_without_the_secret_exits_2_and_says_why(tmp_path: Path) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": "",
        "TELEGRAM_API_URL": closed_port_url(),
    }
    result = run_coach(
        "serve", "telegram", "--webhook", "--port", "1", "--data-dir", str(tmp_path / "data"), env=env
    )
    assert result.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET must be set for a webhook" in result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()


def test_serve_telegram_polls_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """``coach serve telegram``: the real ``run_polling`` fetches updates with getUpdates and answers."""
    fake = TelegramFake().start()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": "",
        "TELEGRAM_API_URL": fake.url,
    }
    process = subprocess.Popen(
        [str(COACH), "serve", "telegram", "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    problem: AssertionError | None = None
    try:
        fake.wait_for("setMyCommands", timeout=30)
        update = fixture("message_command.json")
        update["message"]["text"] = "/qualify Acme"
        update["message"]["entities"][0]["length"] = len("/qualify")
        fake.push(update)
        (reply,) = fake.wait_for("sendMessage", timeout=30)
        assert reply.args["chat_id"] == USER_ID
        assert "question 1 of 29" in shown(reply)
        assert labels(reply)[:5] == ["1", "2", "3", "4", "5"]
        polls = fake.of("getUpdates")
        assert polls[0].args.get("allowed_updates") == ["message", "callback_query"]
        fake.wait_delivered(update["update_id"])
    except AssertionError as exc:
        problem = exc
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        fake.stop()
    if problem is not None:
        raise AssertionError(f"{problem}\n--- coach's stderr:\n{err[-4000:]}") from problem
    assert process.returncode == 0, err[-4000:]
    assert "Traceback" not in err, err[-4000:]
    assert TOKEN not in out + err, "the bot token was logged"


def test_settle_waits_for_every_update_delivered(webhook: WebhookApp) -> None:
    """The harness itself: ``settle`` waits for the engine turns and the replies of updates handled at the
    same time, not only for the webhook's HTTP answers."""
    for n in range(6):
        webhook.deliver(webhook.message_update("/qualify Acme", user=USER_ID + n))
    webhook.settle()
    replies = webhook.fake.of("sendMessage")
    assert sorted(c.args["chat_id"] for c in replies) == [USER_ID + n for n in range(6)]
    assert all("question 1 of 29" in shown(c) for c in replies)
