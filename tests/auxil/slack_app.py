"""The Slack app served over real HTTP (waitress on 127.0.0.1), and requests signed as Slack signs them.

Payloads are built from the documented fixtures in ``../shared/fixtures/slack/`` (copied into
``tests/fixtures/slack/``), changing only ids, text and values.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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

_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)_(?![\w_])")
_CODE = re.compile(r"`([^`\n]+)`")
_IDS = itertools.count(1)  # next() on a count is atomic under the GIL
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


class TrackedExecutor(ThreadPoolExecutor):
    """Bolt's listener pool (same size), counting the work in flight so a test can wait until it is done.

    Bolt answers Slack first and runs the listener on this pool afterwards; a test that must show that
    nothing was posted waits here (a condition variable) instead of sleeping.
    """

    def __init__(self, max_workers: int = 5) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="bolt-listener")
        self._idle = threading.Condition()
        self._pending = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise AssertionError(f"{self._pending} listener run(s) still busy after {timeout} s")


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float


class SlackRequests:
    """Requests as Slack sends them, signed, to an app listening on 127.0.0.1:``port``.

    Used by the tests through ``SlackApp`` and, on its own, by the load benchmark against ``coach serve``.
    """

    port: int

    def __init__(self, port: int) -> None:
        self.port = port

    def _next(self) -> int:
        """A number for ids and timestamps, unique in the process: a restarted app must not repeat the
        message ids of the one before (the engine would drop them as re-deliveries)."""
        return next(_IDS)

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
        fields.update(text=text, user_id=user, trigger_id=f"111.{self._next()}.xxx")
        return self.signed_form(fields, **sign_args)

    def dm(
        self,
        text: str,
        *,
        user: str = "W111",
        extra: dict[str, str] | None = None,
        ts: str | None = None,
        **sign_args: Any,
    ) -> Response:
        """A ``message.im`` event: the person wrote ``text`` in their DM with the app.

        ``text`` is sent as given: it is the event's text, in which Slack has already turned what the person
        typed into its format (``&amp;``, ``&lt;``, ``&gt;``; ``<!channel>`` for an @channel mention).
        """
        stamp = ts or f"1355517523.{self._next():06d}"
        fields = {"text": text, "user": user, "channel": f"D{user}", "ts": stamp}
        return self.event(fields, extra, **sign_args)

    def event_payload(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The documented ``message.im`` envelope with the event's fields changed (``None`` removes one)."""
        payload: dict[str, Any] = json.loads(fixture("message_im_event.json"))
        stamp = str(fields.get("event_ts") or fields.get("ts") or f"1355517523.{self._next():06d}")
        payload["event"].pop("client_msg_id", None)
        payload["event"].update({"ts": stamp, "event_ts": stamp, **fields})
        payload["event"] = {k: v for k, v in payload["event"].items() if v is not None}
        payload["event_id"] = f"Ev{stamp.replace('.', '')}"
        return payload

    def event(
        self, fields: dict[str, Any], extra: dict[str, str] | None = None, **sign_args: Any
    ) -> Response:
        """An Events API delivery of one event (see ``event_payload``)."""
        return self.signed_json(self.event_payload(fields), extra, **sign_args)

    def mention(self, text: str, *, user: str = "W111", channel: str = "C111") -> Response:
        """An ``app_mention`` event: someone wrote ``@Account Coach ...`` in a channel."""
        return self.event(
            {"type": "app_mention", "text": text, "user": user, "channel": channel, "channel_type": None}
        )

    def home_opened(self, *, user: str = "W111") -> Response:
        """An ``app_home_opened`` event: the person opened the app's Home tab."""
        return self.event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user}",
                "tab": "home",
                "channel_type": None,
            }
        )

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
        n = self._next()
        action = copy.deepcopy(payload["actions"][0])
        action.update(
            action_id=button["action_id"],
            value=button["value"],
            text=button["text"],
            action_ts=f"1596530385.{n:06d}",
        )
        payload["actions"] = [action]
        payload["trigger_id"] = f"111.{n}.valid"
        return self.signed_form({"payload": json.dumps(payload)})

    def click_in_view(self, button: dict[str, Any], view: dict[str, Any], *, user: str = "W111") -> Response:
        """A click on a button of a view (the Home tab): ``container`` names the view, there is no message."""
        payload = json.loads(fixture("block_actions.json"))
        payload["user"]["id"] = user
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
        payload.pop("channel", None)
        payload["view"] = view
        n = self._next()
        action = copy.deepcopy(payload["actions"][0])
        action.update(
            action_id=button["action_id"],
            value=button["value"],
            text=button["text"],
            action_ts=f"1596530385.{n:06d}",
        )
        payload["actions"] = [action]
        payload["trigger_id"] = f"111.{n}.valid"
        return self.signed_form({"payload": json.dumps(payload)})

    def submit_view(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str = "W111"
    ) -> Response:
        """A ``view_submission`` of a modal the app opened, as Slack posts it (``payload=`` form-encoded).

        ``values`` is ``view.state.values``: ``{block_id: {action_id: {...}}}``.
        """
        base = json.loads(fixture("block_actions.json"))
        n = self._next()
        payload = {
            "type": "view_submission",
            "team": base["team"],
            "user": {**base["user"], "id": user},
            "api_app_id": base["api_app_id"],
            "token": base["token"],
            "trigger_id": f"111.{n}.valid",
            "view": {
                **view,
                "id": view.get("id") or f"V{n:06d}",
                "team_id": base["team"]["id"],
                "state": {"values": values},
                "hash": f"{n}.abc",
                "private_metadata": view.get("private_metadata", ""),
            },
            "response_urls": [],
        }
        return self.signed_form({"payload": json.dumps(payload)})


@dataclass
class SlackApp(SlackRequests):
    """A running app (``channel``) on a port, talking to ``fake``; the requests of ``SlackRequests``."""

    store: Store
    fake: SlackFake = field(default_factory=SlackFake)
    channel: SlackChannel | None = None
    port: int = 0
    #: Count the listener runs to offer ``settle()`` (tests); off for a benchmark of the app as it ships.
    track: bool = True
    threads: int = 8
    _server: Any = None
    _executor: TrackedExecutor | None = None
    _stopping: bool = False

    def start(self) -> SlackApp:
        self.fake.start()
        settings = SlackSettings(
            bot_token=TOKEN, signing_secret=SECRET, app_token=None, api_url=self.fake.url
        )
        self.channel = SlackChannel(Engine(self.store), settings)
        if self.track:
            runner = self.channel.app.listener_runner
            runner.listener_executor.shutdown(wait=False)  # never used: no thread was started yet
            self._executor = TrackedExecutor()
            runner.listener_executor = self._executor
        self._server = create_server(self.channel.wsgi(), host="127.0.0.1", port=0, threads=self.threads)
        self.port = self._server.effective_port
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:  # the socket closed under the loop's select(): expected once stop() began
            if not self._stopping:
                raise

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.task_dispatcher.shutdown()  # let running requests finish first
            self._server.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.fake.stop()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every listener started by the requests answered so far has finished.

        Bolt submits the listener before the HTTP response is written, so after ``post()`` returned, its
        work is counted here.
        """
        assert self._executor is not None, "settle() needs track=True"
        self._executor.wait_idle(timeout)
        assert self.channel is not None
        self.channel.lanes.join()  # the turns the listeners handed over, after acknowledging

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
    """All the mrkdwn text of a message's blocks (its ``text`` when it has none: Slack shows that then)."""
    if not message.get("blocks"):
        return str(message.get("text") or "")
    parts = []
    for block in message["blocks"]:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(e.get("text", "") for e in block["elements"])
    return "\n".join(parts)


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as a person reads it: bold, italic and code markers and the escapes undone."""
    text = _BOLD.sub(r"\1", mrkdwn)
    text = _ITALIC.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for element in buttons(message):
        if element["text"]["text"] == label:
            return element
    raise AssertionError(f"no button {label!r} in {[e['text']['text'] for e in buttons(message)]}")
