"""The Telegram bot running against the fake Bot API, fed updates built from the documented payloads.

Two ways in, as in production:

- ``WebhookApp``: our WSGI endpoint served by waitress on 127.0.0.1; updates are POSTed to it with the
  ``X-Telegram-Bot-Api-Secret-Token`` header, as Telegram delivers them.
- ``PollingApp``: python-telegram-bot's ``Updater`` long-polls the fake's ``getUpdates``; updates are
  ``push()``ed to the fake. (``TelegramChannel.run_polling()`` installs signal handlers, which only works in
  the main thread; the CLI test runs it for real in a subprocess.)

Updates come from ``tests/fixtures/telegram/*.json`` with only ids, text and values changed. ``settle()``
waits until every update delivered so far was handled to the end (``update_queue.join()``: the application
marks an update done once its handler, the engine and the replies have finished), so a test can also show
that nothing was sent. No sleeps anywhere.

``telegram_driver`` plays the conversation scripts (``tests/auxil/scenarios.py``) through the webhook.
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import itertools
import json
import logging
import threading
import traceback
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waitress.server import create_server

from bot.channels.telegram import TelegramChannel
from bot.config import TelegramSettings
from bot.engine import Engine
from storage.tinydb_store import TinyDBStore
from tests.auxil.telegram_fake import BOT, Call, TelegramFake

if TYPE_CHECKING:
    from tests.auxil.scenarios import Driver, SegmentResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"
SECRET = "s3cret-Token_42"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT_USERNAME = str(BOT["username"])
#: The person of the fixtures.
USER_ID = 1111111
GROUP_ID = -1001234567890
#: What the bot sends: the calls that put something new in a chat.
SENDS = ("sendMessage", "sendDocument", "sendPhoto")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


# --- what the bot sent, as a person sees it ----------------------------------------------------------------
def shown(call: Call) -> str:
    """A sent or edited message's text as Telegram shows it: the API's answer, where the HTML became plain
    text (tags removed, ``&lt;`` and friends undone) plus entities."""
    result = call.result if isinstance(call.result, dict) else {}
    return str(result.get("text") or result.get("caption") or "")


def markup(call: Call) -> dict[str, Any] | None:
    value = call.args.get("reply_markup")
    return value if isinstance(value, dict) and value else None


def buttons(call: Call) -> list[dict[str, Any]]:
    """The inline keyboard's buttons of a sent message, row by row."""
    keyboard = markup(call)
    return [b for row in keyboard["inline_keyboard"] for b in row] if keyboard else []


def labels(call: Call) -> list[str]:
    return [str(b["text"]) for b in buttons(call)]


def button(call: Call, label: str) -> dict[str, Any]:
    for each in buttons(call):
        if each["text"] == label:
            return each
    raise AssertionError(f"no button {label!r} under {shown(call)[:80]!r}; buttons: {labels(call)}")


def keyboard_row(call: Call) -> str:
    """The inline keyboard in a transcript: each button as ``[label]``, in order."""
    return "   ".join(f"[{label}]" for label in labels(call))


# --- the harness -----------------------------------------------------------------------------------------
@dataclass
class TelegramApp:
    """The channel (``channel``) on its event loop with a TinyDB store in ``data_dir``, talking to ``fake``.

    Subclasses say how an update reaches the bot (``deliver``) and how to know it has arrived (``_arrived``).
    """

    data_dir: Path
    fake: TelegramFake = field(default_factory=TelegramFake)
    channel: TelegramChannel | None = None
    store: TinyDBStore | None = None
    #: Telegram numbers updates in sequence across restarts of the bot: share these to play a restart.
    update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(20000))
    message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(5000))
    _callback_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_update: int = 0

    # ------------------------------------------------------------------ life cycle
    def start(self) -> TelegramApp:
        self.fake.start()
        self.store = TinyDBStore(self.data_dir)
        settings = TelegramSettings(TOKEN, SECRET, self.fake.url)
        self.channel = TelegramChannel(Engine(self.store), settings)
        self.channel.start_background()
        return self

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.stop_background()
        if self.store is not None:
            self.store.close()
        self.fake.stop()

    def __enter__(self) -> TelegramApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self.channel is not None, "start() first"
        assert self.channel._loop is not None, "start() first"
        return self.channel._loop

    def run(self, coroutine: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the bot's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    # ------------------------------------------------------------------ delivering updates
    def deliver(self, update: dict[str, Any]) -> int:
        """Hand one update to the bot; returns the HTTP status (webhook) or 200 (polling)."""
        raise NotImplementedError

    def _arrived(self, update_id: int, timeout: float) -> None:
        """Block until the update ``update_id`` is on the application's queue."""

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every update delivered so far was handled to the end: engine turn and replies sent."""
        assert self.channel is not None
        if self._last_update:
            self._arrived(self._last_update, timeout)
        self.run(asyncio.wait_for(self.channel.app.update_queue.join(), timeout), timeout + 1)

    def exchange(self, update: dict[str, Any], timeout: float = 10.0) -> list[Call]:
        """Deliver an update, wait until it is handled, and return the Bot API calls it caused."""
        mark = len(self.fake.calls)
        self.deliver(update)
        self.settle(timeout)
        return self.fake.since(mark)

    def _next_update(self) -> int:
        with self._lock:
            update_id = next(self.update_ids)
            self._last_update = max(self._last_update, update_id)
            return update_id

    def _noted(self, update: dict[str, Any]) -> None:
        with self._lock:
            self._last_update = max(self._last_update, int(update["update_id"]))

    # ------------------------------------------------------------------ updates, from the fixtures
    def message_update(
        self,
        text: str | None,
        *,
        user: int = USER_ID,
        chat: dict[str, Any] | None = None,
        content: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``message`` update: ``text`` (a ``bot_command`` entity when it starts with ``/``), or other
        ``content`` (a sticker, a photo...) instead of text; in the person's private chat unless ``chat``."""
        update = fixture("message_command.json")
        update["update_id"] = self._next_update()
        message = update["message"]
        message["message_id"] = next(self.message_ids)
        message["from"]["id"] = user
        message["chat"] = chat if chat is not None else {**message["chat"], "id": user}
        message.pop("text")
        message.pop("entities")
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message.update(content or {})
        return update

    def group_update(self, text: str, *, user: int = USER_ID) -> dict[str, Any]:
        """A text message in a group the bot is a member of."""
        chat = {"id": GROUP_ID, "type": "supergroup", "title": "Sales team"}
        return self.message_update(text, user=user, chat=chat)

    def sticker_update(self, *, user: int = USER_ID) -> dict[str, Any]:
        sticker = {
            "file_id": "CAACAgIAAxkBAAIBZ2Zs",
            "file_unique_id": "AgADxQADVp29Cg",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self.message_update(None, user=user, content={"sticker": sticker})

    def photo_update(self, *, user: int = USER_ID, caption: str | None = None) -> dict[str, Any]:
        photo = [
            {"file_id": "AgACAgQAAxkBAAIC", "file_unique_id": "AQADsm", "width": 90, "height": 67},
            {"file_id": "AgACAgQAAxkBAAID", "file_unique_id": "AQADsn", "width": 1280, "height": 960},
        ]
        content: dict[str, Any] = {"photo": photo}
        if caption is not None:
            content["caption"] = caption
        return self.message_update(None, user=user, content=content)

    def voice_update(self, *, user: int = USER_ID) -> dict[str, Any]:
        voice = {"file_id": "AwACAgQAAxkBAAIE", "file_unique_id": "AgADnw", "duration": 3}
        return self.message_update(None, user=user, content={"voice": {**voice, "mime_type": "audio/ogg"}})

    def callback_update(self, sent: Call, label: str, *, user: int = USER_ID) -> dict[str, Any]:
        """A ``callback_query`` update: the person pressed the button ``label`` under the message ``sent``
        (its ``message`` is the Bot API's answer to the send, as Telegram includes it)."""
        data = button(sent, label)["callback_data"]
        update = fixture("callback_query.json")
        update["update_id"] = self._next_update()
        query = update["callback_query"]
        query["id"] = f"4382bfdwdsb3{next(self._callback_ids):06d}"
        query["from"]["id"] = user
        query["data"] = data
        query["message"] = copy.deepcopy(sent.result)
        return update

    # ------------------------------------------------------------------ conversation helpers
    def text(self, text: str, *, user: int = USER_ID) -> list[Call]:
        """The person types ``text`` in the private chat; returns the calls the bot made in answer."""
        return self.exchange(self.message_update(text, user=user))

    def click(self, sent: Call, label: str, *, user: int = USER_ID) -> list[Call]:
        """The person presses the button ``label`` under ``sent``; returns the calls the bot made."""
        return self.exchange(self.callback_update(sent, label, user=user))

    def sent(self, method: str = "sendMessage") -> list[Call]:
        return self.fake.of(method)


def sends(calls: Sequence[Call]) -> list[Call]:
    """The calls that put a new message in a chat."""
    return [c for c in calls if c.method in SENDS]


def last_question(calls: Sequence[Call]) -> Call:
    """The last message sent with an inline keyboard."""
    asked = [c for c in calls if c.method == "sendMessage" and markup(c)]
    assert asked, f"no message with buttons among {[c.method for c in calls]}"
    return asked[-1]


@dataclass
class WebhookApp(TelegramApp):
    """Updates POSTed to our webhook (waitress on 127.0.0.1), signed with the secret token."""

    port: int = 0
    _server: Any = None

    def start(self) -> WebhookApp:
        super().start()
        assert self.channel is not None
        self._server = create_server(self.channel.wsgi(), host="127.0.0.1", port=0, threads=4)
        self.port = int(self._server.effective_port)
        threading.Thread(target=self._server.run, name="waitress", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.task_dispatcher.shutdown()  # let running requests finish first
            self._server.close()
        super().stop()

    def post(
        self, body: bytes, *, secret: str | None = SECRET, path: str = "/telegram/webhook"
    ) -> tuple[int, bytes]:
        """A raw POST to the server; ``secret=None`` leaves the secret header out."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def deliver(self, update: dict[str, Any], *, secret: str | None = SECRET) -> int:
        self._noted(update)
        status, _ = self.post(json.dumps(update).encode(), secret=secret)
        return status


@dataclass
class PollingApp(TelegramApp):
    """Updates fetched by python-telegram-bot's ``Updater`` with ``getUpdates`` from the fake."""

    def start(self) -> PollingApp:
        super().start()
        assert self.channel is not None
        updater = self.channel.app.updater
        assert updater is not None
        self.run(updater.start_polling(allowed_updates=["message", "callback_query"], timeout=1))
        return self

    def stop(self) -> None:
        if self.channel is not None and self.channel.app.updater is not None:
            self.run(self.channel.app.updater.stop())
        super().stop()

    def deliver(self, update: dict[str, Any]) -> int:
        self._noted(update)
        self.fake.push(update)
        return 200

    def _arrived(self, update_id: int, timeout: float) -> None:
        # The updater puts what one getUpdates returned on the queue before it asks for the next ones.
        self.fake.wait_delivered(update_id, timeout=timeout)


# --- the conversation scripts' driver ----------------------------------------------------------------------
def telegram_user(name: str) -> int:
    """A stable Telegram user id for a script's user name."""
    return 100_000 + zlib.crc32(name.encode()) % 900_000_000


class _Problems(logging.Handler):
    """Collects the channel's error log records (a failed update) during one segment."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@contextmanager
def _errors_logged() -> Iterator[list[str]]:
    handler = _Problems()
    loggers = [logging.getLogger(name) for name in ("bot", "telegram")]
    for each in loggers:
        each.addHandler(handler)
    try:
        yield handler.records
    finally:
        for each in loggers:
            each.removeHandler(handler)


def transcript_of(calls: Sequence[Call]) -> str:
    """What appeared in the chat, as plain text: each new message, then its buttons (``[label]``), and each
    file sent, by name."""
    parts: list[str] = []
    for call in sends(calls):
        text = shown(call) if call.error is None else f"(not shown: Telegram refused it: {call.error})"
        if call.method != "sendMessage":
            names = ", ".join(call.filenames.values())
            text = f"{text}\nFile: {names}" if text else f"File: {names}"
        row = keyboard_row(call)
        parts.append(f"{text}\n   {row}" if row else text)
    return "\n".join(parts).strip()


def telegram_driver(data_dir: Path) -> Driver:
    """Play a segment in the person's private chat with the bot, updates POSTed to the webhook.

    Each segment starts a new bot (fake Bot API, channel, engine, store) on the data directory, as a
    restarted process would. Telegram shows nothing when a person comes back to a chat: the opening is None.
    Each line is a text message, except that a line equal to the label of a button under the last reply
    presses that button. A reply is the new messages in plain text (tags removed, escapes undone), each
    followed by its buttons as ``[label]``, then the files sent (``File: NAME``). An error the bot logs, or a
    webhook answer other than 200, is reported as a problem of the channel.
    """

    from tests.auxil.scenarios import ECHO, SegmentResult  # scenarios.py imports this module

    update_ids, message_ids = itertools.count(20000), itertools.count(5000)

    def play(user: str, lines: Sequence[str]) -> SegmentResult:
        user_id = telegram_user(user)
        replies: list[str] = []
        offered: list[list[str]] = []
        transcript: list[str] = []
        errors: list[str] = []
        with _errors_logged() as logged:
            app = WebhookApp(data_dir, update_ids=update_ids, message_ids=message_ids)
            try:
                app.start()
                last: list[Call] = []
                for line in lines:
                    target = next((m for m in reversed(last) if line in labels(m)), None)
                    if target is not None:
                        update = app.callback_update(target, line, user=user_id)
                    else:
                        update = app.message_update(line, user=user_id)
                    mark = len(app.fake.calls)
                    status = app.deliver(update)
                    if status != 200:
                        errors.append(f"{line!r} was answered with HTTP {status}")
                    app.settle()
                    calls = app.fake.since(mark)
                    last = [c for c in calls if c.method == "sendMessage"]
                    text = transcript_of(calls)
                    replies.append(text)
                    offered.append([label for m in last for label in labels(m)])
                    transcript.append(f"{'click ' if target is not None else ECHO}{line}\n{text}")
            except Exception as exc:  # a crash of the channel is a finding, reported with the transcript
                errors.append(f"the Telegram bot crashed (Traceback): {exc!r}\n{traceback.format_exc()}")
            finally:
                app.stop()
            errors += [f"the bot logged an error: {e}" for e in logged]
        replies += [""] * (len(lines) - len(replies))
        offered += [[]] * (len(lines) - len(offered))
        return SegmentResult(None, replies, "\n".join(transcript), errors, offered)

    return play
