"""A real HTTP server on 127.0.0.1 that plays the Slack Web API and records every call.

Point ``SLACK_API_URL`` (or a ``WebClient(base_url=...)``) at ``fake.url``. Tests wait for calls with
``fake.wait_for(method, count)``: a condition variable, not a sleep. Many waiters at once (a load benchmark,
one per simulated person) wait with ``wait_posted(channel, count)`` instead: each channel has its own
condition, so a message wakes only the waiter of its channel, and the check does not scan every call.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.auxil.recording import Recorder

BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM = "T111"


@dataclass
class Call:
    """One request the app made to the Web API."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class SlackFake(Recorder):
    """The fake Web API: start() it, read .calls, stop() it."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _posted: dict[str, list[Call]] = field(default_factory=dict)  # chat.postMessage calls, by channel
    _channel_changed: dict[str, threading.Condition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def start(self) -> SlackFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.startswith("/upload/"):
                    fake.uploads[self.path.rsplit("/", 1)[1]] = raw
                    fake._record(Call("upload", {"path": self.path}, dict(self.headers), raw))
                    self._send(200, b"OK", "text/plain")
                    return
                method = self.path.removeprefix("/api/").split("?")[0]
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    args = json.loads(raw or b"{}")
                elif "multipart" in ctype:
                    args = {"multipart": True}
                else:
                    args = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
                    for key in ("blocks", "view", "files"):
                        if isinstance(args.get(key), str):
                            args[key] = json.loads(args[key])
                response = fake.respond(method, args)
                fake._record(Call(method, args, dict(self.headers), raw, response))
                self._send(200, json.dumps(response).encode(), "application/json")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            if call.method == "chat.postMessage":
                channel = str(call.args.get("channel"))
                self._posted.setdefault(channel, []).append(call)
                self._channel_condition(channel).notify_all()
            self._changed.notify_all()

    def _channel_condition(self, channel: str) -> threading.Condition:
        """The condition of one channel (the lock is held)."""
        condition = self._channel_changed.get(channel)
        if condition is None:
            condition = self._channel_changed[channel] = threading.Condition(self._lock)
        return condition

    def posted_count(self) -> int:
        """How many messages were posted, in every channel."""
        with self._lock:
            return sum(len(calls) for calls in self._posted.values())

    def wait_posted(self, channel: str, count: int, *, timeout: float = 10.0) -> list[Call]:
        """Block until at least ``count`` messages were posted in ``channel``; returns them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            condition = self._channel_condition(channel)
            while len(self._posted.get(channel, ())) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = len(self._posted.get(channel, ()))
                    raise AssertionError(f"expected {count} message(s) in {channel}, got {got}")
                condition.wait(remaining)
            return list(self._posted.get(channel, ()))

    def respond(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """The documented success response of each method the app uses."""
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "coach",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
            }
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))}}
        if method in ("chat.postMessage", "chat.update"):
            ts = args.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            return {
                "ok": True,
                "channel": args.get("channel"),
                "ts": ts,
                "message": {"text": args.get("text"), "blocks": args.get("blocks", [])},
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method in ("views.open", "views.publish"):
            return {"ok": True, "view": {"id": f"V{next(self._ts)}", **(args.get("view") or {})}}
        if method == "users.info":
            user = args.get("user", "")
            info = self.users.get(user, {"id": user, "name": user.lower(), "real_name": user, "tz": "UTC"})
            return {"ok": True, "user": info}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return {
                "ok": True,
                "upload_url": f"{self.url.removesuffix('/api/')}/upload/{file_id}",
                "file_id": file_id,
            }
        if method == "files.completeUploadExternal":
            files = args.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}
