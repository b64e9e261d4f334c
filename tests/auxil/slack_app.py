"""The Slack app served over real HTTP (waitress on 127.0.0.1), and requests signed as Slack signs them.

Payloads are built from the documented fixtures in ``../shared/fixtures/slack/`` (copied into
``tests/fixtures/slack/``), changing only ids, text and values.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from waitress.server import create_server

from bot.channels.slack import SlackChannel
from bot.config import SlackSettings
from bot.engine import Engine
from storage.base import Store
from tests.auxil.slack_fake import SlackFake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1111-2222-test-token"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def sign(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends: ``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float


@dataclass
class SlackApp:
    """A running app (``channel``) on a port, talking to ``fake``."""

    store: Store
    fake: SlackFake = field(default_factory=SlackFake)
    channel: SlackChannel | None = None
    port: int = 0
    _server: Any = None
    _counter: int = 0

    def start(self) -> SlackApp:
        self.fake.start()
        settings = SlackSettings(
            bot_token=TOKEN, signing_secret=SECRET, app_token=None, api_url=self.fake.url
        )
        self.channel = SlackChannel(Engine(self.store), settings)
        self._server = create_server(self.channel.wsgi(), host="127.0.0.1", port=0, threads=8)
        self.port = self._server.effective_port
        threading.Thread(target=self._server.run, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.task_dispatcher.shutdown()  # let running requests finish first
            self._server.close()
        self.fake.stop()

    # ------------------------------------------------------------------ raw HTTP
    def post(self, body: bytes, headers: dict[str, str], *, path: str = "/slack/events") -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return Response(response.status, data, time.perf_counter() - start)

    def get(self, path: str) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return Response(response.status, data, time.perf_counter() - start)

    def signed_form(self, fields: dict[str, str], **sign_args: Any) -> Response:
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, **sign_args)}
        return self.post(body, headers)

    def signed_json(
        self, payload: dict[str, Any], extra: dict[str, str] | None = None, **sign_args: Any
    ) -> Response:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **sign(body, **sign_args), **(extra or {})}
        return self.post(body, headers)

    # ------------------------------------------------------------------ Slack's payloads, from the fixtures
    def slash(self, text: str, *, user: str = "W111", **sign_args: Any) -> Response:
        fields = dict(parse_qsl(fixture("slash_command.txt").strip()))
        self._counter += 1
        fields.update(text=text, user_id=user, trigger_id=f"111.{self._counter}.xxx")
        return self.signed_form(fields, **sign_args)

    def dm(
        self, text: str, *, user: str = "W111", extra: dict[str, str] | None = None, ts: str | None = None
    ) -> Response:
        payload = json.loads(fixture("message_im_event.json"))
        self._counter += 1
        stamp = ts or f"1355517523.{self._counter:06d}"
        payload["event"].update(text=text, user=user, channel=f"D{user}", ts=stamp, event_ts=stamp)
        payload["event"].pop("client_msg_id", None)
        payload["event_id"] = f"Ev{stamp.replace('.', '')}"
        return self.signed_json(payload, extra)

    def click(self, button: dict[str, Any], message: dict[str, Any], *, user: str = "W111") -> Response:
        payload = json.loads(fixture("block_actions.json"))
        payload["user"]["id"] = user
        payload["container"].update(message_ts=message["ts"], channel_id=message["channel"])
        payload["channel"]["id"] = message["channel"]
        payload["message"] = {
            "ts": message["ts"],
            "text": message.get("text", ""),
            "blocks": message["blocks"],
        }
        self._counter += 1
        action = copy.deepcopy(payload["actions"][0])
        action.update(
            action_id=button["action_id"],
            value=button["value"],
            text=button["text"],
            action_ts=f"1596530385.{self._counter:06d}",
        )
        payload["actions"] = [action]
        return self.signed_form({"payload": json.dumps(payload)})

    # ------------------------------------------------------------------ reading what the app posted
    def posted(self) -> list[dict[str, Any]]:
        """Every chat.postMessage, as a message dict (channel, ts, text, blocks)."""
        out = []
        for call in self.fake.of("chat.postMessage"):
            out.append(
                {
                    "channel": call.args.get("channel"),
                    "text": call.args.get("text", ""),
                    "blocks": call.args.get("blocks") or [],
                    "ts": call.response.get("ts"),
                }
            )
        return out


def message_text(message: dict[str, Any]) -> str:
    """All the mrkdwn text of a message's blocks."""
    parts = []
    for block in message["blocks"]:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(e.get("text", "") for e in block["elements"])
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for element in buttons(message):
        if element["text"]["text"] == label:
            return element
    raise AssertionError(f"no button {label!r} in {[e['text']['text'] for e in buttons(message)]}")
