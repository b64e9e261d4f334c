"""A real HTTP server on 127.0.0.1 that plays the Telegram Bot API and records every call.

Point ``TELEGRAM_API_URL`` at ``fake.url``. ``getUpdates`` serves updates queued with ``push()`` (long
polling waits on a condition variable, as the real API waits for updates). Tests wait for calls with
``wait_for``: a condition variable, never a sleep.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.auxil.recording import Recorder

BOT = {"id": 999, "is_bot": True, "first_name": "Coach", "username": "coach_bot"}


@dataclass
class Call:
    """One request the bot made."""

    method: str
    args: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None
    filenames: dict[str, str] = field(default_factory=dict)  # an uploaded file's name, by field
    error: str | None = None  # the Bot API's description when it refused the call (HTTP 400)


class BadRequest(Exception):
    """What the real Bot API refuses with HTTP 400 and this description."""


_ENTITY = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "code": "code", "u": "underline"}
#: The tags Telegram's HTML parse mode supports; any other tag is refused.
_SUPPORTED = {
    *_ENTITY,
    *("ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "pre", "blockquote"),
}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class _Html(HTMLParser):
    """Telegram's HTML parse mode, as far as the bot uses it: text plus bold/italic/code entities.

    Like the real API it notes what it would refuse: an unsupported tag, an end tag that does not close the
    innermost open tag, a tag left open.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.open: list[tuple[str, int]] = []
        self.entities: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def _offset(self) -> int:
        return len(self.text.encode("utf-16-le")) // 2

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in _SUPPORTED:
            self.errors.append(f'Unsupported start tag "{tag}"')
            return
        self.open.append((tag, self._offset()))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            expected = f'"</{self.open[-1][0]}>"' if self.open else "no end tag"
            self.errors.append(f'Unmatched end tag "</{tag}>", expected {expected}')
            return
        _, start = self.open.pop()
        if tag in _ENTITY:
            self.entities.append({"type": _ENTITY[tag], "offset": start, "length": self._offset() - start})

    def handle_data(self, data: str) -> None:
        self.text += data

    def close(self) -> None:
        super().close()
        self.errors += [f'Can\'t find end tag corresponding to start tag "{tag}"' for tag, _ in self.open]


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) of an HTML-formatted message, as the Bot API returns a sent message."""
    parser = _Html()
    parser.feed(text)
    parser.close()
    return parser.text, sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))


def html_errors(text: str) -> list[str]:
    """Why the Bot API would refuse ``text`` in the HTML parse mode (empty: it would accept it)."""
    parser = _Html()
    parser.feed(text)
    parser.close()
    return parser.errors


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass
class TelegramFake(Recorder):
    """The fake Bot API: start() it, push() updates for polling, read .calls, stop() it.

    It refuses what the real API refuses (HTTP 400, recorded with ``error``): HTML it cannot parse, an empty
    text, a text over 4,096 characters, a caption over 1,024.
    """

    calls: list[Call] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _ids: Any = field(default_factory=lambda: itertools.count(2000))
    #: The highest ``offset`` a getUpdates request arrived with: every update below it was delivered.
    confirmed: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TelegramFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                match = re.match(r"^/bot[^/]+/(\w+)", self.path)
                method = match.group(1) if match else "?"
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                args: dict[str, Any] = {}
                files: dict[str, bytes] = {}
                filenames: dict[str, str] = {}
                if "multipart" in ctype:
                    message = BytesParser(policy=HTTP).parsebytes(
                        f"Content-Type: {ctype}\r\n\r\n".encode() + raw
                    )
                    for part in message.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        decoded = part.get_payload(decode=True)
                        payload = decoded if isinstance(decoded, bytes) else b""
                        if part.get_filename():
                            files[str(name)] = payload
                            filenames[str(name)] = str(part.get_filename())
                        else:
                            args[str(name)] = _decode(payload.decode())
                elif "json" in ctype:
                    args = json.loads(raw or b"{}")
                else:
                    args = {k: _decode(v[0]) for k, v in parse_qs(raw.decode()).items()}
                if method == "getUpdates":
                    fake._arrived(int(args.get("offset") or 0))
                try:
                    result = fake.respond(method, args)
                except BadRequest as refused:
                    description = f"Bad Request: {refused}"
                    fake._record(Call(method, args, files, None, filenames, description))
                    answer = {"ok": False, "error_code": 400, "description": description}
                    status = 400
                else:
                    fake._record(Call(method, args, files, result, filenames))
                    answer, status = {"ok": True, "result": result}, 200
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that went away (a long poll cancelled at shutdown) is not an error of the fake.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._changed.notify_all()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (polling mode)."""
        with self._changed:
            self.updates.append(update)
            self._changed.notify_all()

    def _arrived(self, offset: int) -> None:
        with self._changed:
            self.confirmed = max(self.confirmed, offset)
            self._changed.notify_all()

    def wait_delivered(self, update_id: int, *, timeout: float = 10.0) -> None:
        """Block until the bot asked for updates after ``update_id``: it has fetched that one (polling)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.confirmed > update_id, timeout):
                raise AssertionError(f"update {update_id} was not fetched by getUpdates within {timeout} s")

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _message(self, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = args.get("chat_id", 0)
        group = isinstance(chat_id, int) and chat_id < 0
        text = str(args.get("text", ""))
        entities: list[dict[str, Any]] = []
        if args.get("parse_mode") == "HTML":
            errors = html_errors(text)
            if errors:
                raise BadRequest(f"can't parse entities: {errors[0]}")
            text, entities = parse_html(text)
        if "text" in args and not text.strip():
            raise BadRequest("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise BadRequest("message is too long")
        if len(str(args.get("caption") or "")) > CAPTION_LIMIT:
            raise BadRequest("message caption is too long")
        message = {
            "message_id": args.get("message_id") or next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup" if group else "private"},
            "from": BOT,
            "text": text,
            **extra,
        }
        if entities:
            message["entities"] = entities
        if "text" not in args:  # a file: the API answers with its caption, not a text
            message.pop("text")
            if args.get("caption"):
                message["caption"] = str(args["caption"])
        return message

    def respond(self, method: str, args: dict[str, Any]) -> Any:
        """The documented result of each method the bot uses."""
        if method == "getMe":
            return BOT
        if method == "getUpdates":
            offset = int(args.get("offset") or 0)
            deadline = time.monotonic() + min(float(args.get("timeout") or 0), 2.0)
            with self._changed:
                while True:
                    ready = [u for u in self.updates if u["update_id"] >= offset]
                    if ready or time.monotonic() >= deadline:
                        return ready
                    self._changed.wait(max(deadline - time.monotonic(), 0.01))
        if method in ("sendMessage", "editMessageText"):
            extra = {"reply_markup": args["reply_markup"]} if args.get("reply_markup") else {}
            return self._message(args, **extra)
        if method == "sendPhoto":
            return self._message(
                args, photo=[{"file_id": "P1", "file_unique_id": "p1", "width": 1, "height": 1}]
            )
        if method == "sendDocument":
            return self._message(args, document={"file_id": "D1", "file_unique_id": "d1"})
        if method in (
            "answerCallbackQuery",
            "setMyCommands",
            "deleteWebhook",
            "setWebhook",
            "close",
            "logOut",
        ):
            return True
        return True

    def since(self, mark: int) -> list[Call]:
        """The calls made after the first ``mark`` ones (``mark = len(fake.calls)`` taken earlier)."""
        with self._changed:
            return list(self.calls[mark:])
