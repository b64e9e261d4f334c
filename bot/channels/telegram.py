"""The Telegram channel: python-telegram-bot in, the engine, Telegram messages and inline keyboards out.

- Long polling by default; a webhook with ``--webhook``: our own WSGI endpoint (served by waitress) checks
  ``X-Telegram-Bot-Api-Secret-Token`` in constant time (403 otherwise) and hands the update to the
  python-telegram-bot ``Application`` running on its own event loop (PTB's "custom webhook" pattern).
- Replies use the HTML parse mode, with every value a person typed escaped; replies over 4,096 characters
  are split at line breaks. Choices are inline keyboards whose ``callback_data`` stays within 64 bytes;
  every callback is answered and its message edited to show the choice.
- In groups, only commands addressed to the bot get an answer, which moves the conversation to a private
  chat. Stickers, photos, voice and other non-text messages get a polite reply.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.config import TelegramSettings
from bot.engine import GLOBAL_COMMANDS, Engine
from bot.messages import COMMAND_STEP, Action, Channel, Incoming, Reply
from bot.rendering import Format, escape_telegram
from storage.base import Person

log = logging.getLogger(__name__)

PERSON_PREFIX = "telegram:"
CALLBACK_LIMIT = 64
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"  # noqa: S105 (a header name)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def person_id(user_id: int) -> str:
    """The engine's person id for a Telegram user."""
    return f"{PERSON_PREFIX}{user_id}"


def callback_data(step: str, value: str, number: int) -> str:
    """``STEP|VALUE`` within Telegram's 64 bytes; a long value falls back to the choice's number."""
    data = f"{step}|{value}"
    if len(data.encode()) <= CALLBACK_LIMIT:
        return data
    short = f"{step}|{number}"
    if len(short.encode()) <= CALLBACK_LIMIT:
        return short
    return f"{step[: CALLBACK_LIMIT - 8]}|{number}"


_TAG = re.compile(r"<(/?)(b|i|code)>")


def split_message(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut an HTML message into pieces within Telegram's limit: at line ends where possible, else at
    spaces, never inside an entity (``&lt;``) or a tag; a bold or italic span cut in two is closed at the
    end of one piece and opened again at the start of the next."""
    if len(text) <= limit:
        return [text]
    room = limit - 40  # space for closing and reopening tags
    pieces: list[str] = []
    rest = text
    while len(rest) > room:
        cut = rest.rfind("\n", 0, room)
        if cut < room // 2:
            cut = rest.rfind(" ", 0, room)
        if cut < room // 2:
            cut = room
        cut = _safe_cut(rest, cut)
        piece, rest = rest[:cut], rest[cut:].lstrip("\n")
        opened = _open_tags(piece)
        pieces.append(piece + "".join(f"</{t}>" for t in reversed(opened)))
        rest = "".join(f"<{t}>" for t in opened) + rest
    if rest.strip():
        pieces.append(rest)
    return [p for p in pieces if p.strip()]


def _safe_cut(text: str, cut: int) -> int:
    """Move a cut back so it falls neither inside ``&...;`` nor inside ``<...>``."""
    amp, semi = text.rfind("&", 0, cut), text.rfind(";", 0, cut)
    if amp > semi and cut - amp <= 10:
        cut = amp
    lt, gt = text.rfind("<", 0, cut), text.rfind(">", 0, cut)
    if lt > gt:
        cut = lt
    return max(cut, 1)


def _open_tags(html: str) -> list[str]:
    """The formatting tags still open at the end of ``html``."""
    stack: list[str] = []
    for closing, tag in _TAG.findall(html):
        if not closing:
            stack.append(tag)
        elif stack and stack[-1] == tag:
            stack.pop()
    return stack


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """A reply's choices as an inline keyboard: scores in one row, other choices one per row."""
    if not reply.choices:
        return None
    if reply.step is None:  # command buttons (e.g. a digest's shortcuts)
        rows = [
            [InlineKeyboardButton(c.label, callback_data=callback_data(COMMAND_STEP, c.value, n))]
            for n, c in enumerate(reply.choices, start=1)
        ]
        return InlineKeyboardMarkup(rows)
    buttons = [
        InlineKeyboardButton(c.label, callback_data=callback_data(reply.step, c.value, n))
        for n, c in enumerate(reply.choices, start=1)
    ]
    if not reply.numbered:  # a scale: 1-5 on one row, the special answers below
        digits = [b for b in buttons if b.text.isdigit()]
        others = [b for b in buttons if not b.text.isdigit()]
        return InlineKeyboardMarkup([digits, others] if others else [digits])
    return InlineKeyboardMarkup([[b] for b in buttons])


class TelegramChannel:
    """Telegram in, engine, Telegram out."""

    def __init__(self, engine: Engine, settings: TelegramSettings) -> None:
        self.engine = engine
        self.settings = settings
        base = settings.api_url.rstrip("/")
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .concurrent_updates(8)
            .build()
        )
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)
        self.username: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ start-up
    async def start(self) -> None:
        """Initialize the bot (getMe) and publish the command menu (setMyCommands)."""
        await self.app.initialize()
        me = await self.app.bot.get_me()
        self.username = me.username
        self.engine.bot_username = me.username
        await self.app.bot.set_my_commands(self.commands())

    def commands(self) -> list[BotCommand]:
        """The command menu: every dialog and view, then the engine's global commands."""
        listed = [BotCommand(d.command, d.summary[:256]) for d in self.engine.dialogs.values()]
        listed += [BotCommand(v.command, v.summary[:256]) for v in self.engine.views.values()]
        listed += [BotCommand(name, what.replace("`", "")[:256]) for name, what in GLOBAL_COMMANDS.items()]
        return listed

    # ------------------------------------------------------------------ updates
    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_callback(update)
            return
        message = update.message  # new messages only: an edit of an old answer is not a new answer
        user = update.effective_user
        chat = update.effective_chat
        if message is None or user is None or chat is None or user.is_bot:
            return
        if chat.type != "private":
            await self._in_group(update)
            return
        if message.text is None:
            await message.reply_text(
                "I can only read text messages. Please type your answer, or send /help to see what I can do."
            )
            return
        incoming = Incoming(
            Channel.TELEGRAM,
            person_id(user.id),
            text=message.text,
            message_id=f"upd:{update.update_id}",
        )
        await self._reply(chat.id, incoming)

    async def _in_group(self, update: Update) -> None:
        """Only commands addressed to us (``/cmd@our_bot``) are answered, by moving to a private chat."""
        message = update.effective_message
        if message is None or not message.text:
            return
        match = re.match(r"^/\w+@(\w+)", message.text)
        if match is None or not self.username or match.group(1).lower() != self.username.lower():
            return
        link = f"https://t.me/{self.username}"
        await message.reply_text(
            "Coaching is personal, so let's continue in a private chat: open it and send the command there.",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Open a private chat", url=link)]]),
        )

    async def _on_callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        step, _, value = (query.data or "").partition("|")
        label = value
        message = query.message
        if message is not None and hasattr(message, "reply_markup") and message.reply_markup is not None:
            for row in message.reply_markup.inline_keyboard:
                for button in row:
                    if button.callback_data == query.data:
                        label = button.text
        if message is not None and step != COMMAND_STEP and hasattr(message, "text_html"):
            text = message.text_html or ""
            await query.edit_message_text(
                f"{text}\n\n✅ <b>{escape_telegram(label)}</b>", parse_mode=ParseMode.HTML, reply_markup=None
            )
        incoming = Incoming(
            Channel.TELEGRAM,
            person_id(query.from_user.id),
            action=Action(step, value),
            message_id=f"upd:{update.update_id}",
        )
        chat_id = message.chat.id if message is not None else query.from_user.id
        await self._reply(chat_id, incoming)

    async def _reply(self, chat_id: int, incoming: Incoming) -> None:
        replies = await asyncio.to_thread(self.engine.handle, incoming)
        await self.send(chat_id, replies)

    async def send(self, chat_id: int, replies: Sequence[Reply]) -> None:
        """Send replies: text in HTML within 4,096 characters, keyboards on the last piece, files."""
        bot = self.app.bot
        for reply in replies:
            pieces = split_message(reply.text(Format.TELEGRAM))
            for n, piece in enumerate(pieces):
                markup = keyboard(reply) if n == len(pieces) - 1 else None
                await bot.send_message(chat_id, piece, parse_mode=ParseMode.HTML, reply_markup=markup)
            for attachment in reply.attachments:
                document = InputFile(attachment.content, filename=attachment.filename)
                if attachment.mime_type.startswith("image/"):
                    await bot.send_photo(chat_id, document, caption=attachment.title[:1024] or None)
                else:
                    await bot.send_document(chat_id, document, caption=attachment.title[:1024] or None)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("a Telegram update failed: %s", type(context.error).__name__, exc_info=context.error)

    # ------------------------------------------------------------------ scheduled messages
    @staticmethod
    def chat_id(person: Person) -> int | None:
        """The person's Telegram user id (their private chat), from their id or a linked identity."""
        for identity in (person.id, *person.identities):
            if (
                identity.startswith(PERSON_PREFIX)
                and identity.removeprefix(PERSON_PREFIX).lstrip("-").isdigit()
            ):
                return int(identity.removeprefix(PERSON_PREFIX))
        return None

    def reachable(self, person: Person) -> bool:
        """Whether this bot can message the person (they have a Telegram identity)."""
        return self.chat_id(person) is not None and self._loop is not None

    def deliver(self, person: Person, replies: Sequence[Reply]) -> bool:
        """Send from another thread (the scheduler): text, then photos and documents."""
        chat = self.chat_id(person)
        if chat is None or self._loop is None:
            return False
        asyncio.run_coroutine_threadsafe(self.send(chat, replies), self._loop).result(timeout=60)
        return True

    # ------------------------------------------------------------------ running
    def run_polling(self) -> None:
        """Long polling (getUpdates) until interrupted."""

        async def post_init(_: Application[Any, Any, Any, Any, Any, Any]) -> None:
            self._loop = asyncio.get_running_loop()
            me = await self.app.bot.get_me()
            self.username = me.username
            self.engine.bot_username = me.username
            await self.app.bot.set_my_commands(self.commands())

        self.app.post_init = post_init
        self.app.run_polling(allowed_updates=["message", "callback_query"])

    def start_background(self) -> asyncio.AbstractEventLoop:
        """Run the application on an event loop in a background thread (for the webhook); returns the loop."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            loop.run_until_complete(self.app.start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="telegram-loop", daemon=True).start()
        ready.wait(timeout=30)
        self._loop = loop
        return loop

    def stop_background(self) -> None:
        """Stop the background application."""
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.app.stop(), loop).result(timeout=10)
        asyncio.run_coroutine_threadsafe(self.app.shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)

    def wsgi(self, *, path: str = "/telegram/webhook") -> WSGIApp:
        """The webhook endpoint: checks the secret (constant time, 403), queues the update, answers 200."""
        secret = (self.settings.webhook_secret or "").encode()

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            def answer(status: str, body: dict[str, Any]) -> list[bytes]:
                start_response(status, [("Content-Type", "application/json")])
                return [json.dumps(body).encode()]

            if environ.get("PATH_INFO") == "/healthz":
                return answer("200 OK", {"ok": True})
            if environ.get("PATH_INFO") != path or environ.get("REQUEST_METHOD") != "POST":
                return answer("404 Not Found", {"ok": False, "error": "not found"})
            given = str(environ.get(SECRET_HEADER, "")).encode()
            if not secret or not hmac.compare_digest(given, secret):
                return answer("403 Forbidden", {"ok": False, "error": "wrong or missing secret token"})
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                data = json.loads(environ["wsgi.input"].read(length) or b"null")
                update = Update.de_json(data, self.app.bot)
            except (ValueError, TypeError, KeyError):
                return answer("400 Bad Request", {"ok": False, "error": "not a Telegram update"})
            if update is None or self._loop is None:
                return answer("400 Bad Request", {"ok": False, "error": "not a Telegram update"})
            asyncio.run_coroutine_threadsafe(self.app.update_queue.put(update), self._loop)
            return answer("200 OK", {"ok": True})

        return application

    def serve_webhook(self, *, host: str, port: int, url: str | None, threads: int = 8) -> None:
        """Serve the webhook with waitress; with ``url``, register it with Telegram (setWebhook)."""
        from waitress import serve

        loop = self.start_background()
        if url:
            asyncio.run_coroutine_threadsafe(
                self.app.bot.set_webhook(
                    url,
                    secret_token=self.settings.webhook_secret,
                    allowed_updates=["message", "callback_query"],
                ),
                loop,
            ).result(timeout=30)
        log.info("Account Coach for Telegram listening on http://%s:%d/telegram/webhook", host, port)
        try:
            serve(self.wsgi(), host=host, port=port, threads=threads, ident="account-coach")
        finally:
            self.stop_background()
