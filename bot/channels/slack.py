"""The Slack channel: a slack-bolt app that turns Slack payloads into ``Incoming`` and replies into Block Kit.

- ``/coach qualify Acme`` (and every other command) is acknowledged at once; the conversation continues in
  the person's DM with the bot. Plain DMs and @-mentions reach the same engine.
- Buttons answer questions; after a click the message is updated to show the answer, so the DM reads as a
  record. A questionnaire step can be filled in as a modal form.
- The Home tab shows the rep's accounts with buttons to start each dialog.
- Everything slow happens after the acknowledgement (Bolt runs the listener on a worker thread once
  ``ack()`` has answered Slack). Requests are verified with the signing secret by Bolt (401 otherwise); a
  redelivered event (``X-Slack-Retry-Num``) carries the same message id, so the engine answers it once.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import Ack, App, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.channels import slack_blocks as kit
from bot.config import SlackSettings
from bot.engine import Engine
from bot.messages import COMMAND_STEP, Action, Channel, Form, Incoming, Reply, ReplyKind
from bot.rendering import Format, escape_slack
from storage.base import Person

log = logging.getLogger(__name__)

PERSON_PREFIX = "slack:"
_MENTION = re.compile(r"<@[A-Z0-9]+>")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Lanes:
    """Ordered work per person: each person's turns run one after another on one lane (a thread), people
    on different lanes in parallel. Listeners acknowledge Slack, then hand the turn to a lane, so an
    acknowledgement never waits behind another person's turn."""

    def __init__(self, count: int = 8) -> None:
        self._queues: list[queue.Queue[Callable[[], None]]] = [queue.Queue() for _ in range(count)]
        for n, q in enumerate(self._queues):
            threading.Thread(target=self._run, args=(q,), name=f"slack-lane-{n}", daemon=True).start()

    def submit(self, key: str, work: Callable[[], None]) -> None:
        """Queue work behind everything queued before for the same key."""
        self._queues[zlib.crc32(key.encode()) % len(self._queues)].put(work)

    def join(self) -> None:
        """Wait until every lane is idle (tests; graceful shutdown)."""
        for q in self._queues:
            q.join()

    @staticmethod
    def _run(lane: queue.Queue[Callable[[], None]]) -> None:
        while True:
            work = lane.get()
            try:
                work()
            except Exception:
                log.exception("a Slack turn failed after it was acknowledged")
            finally:
                lane.task_done()


def person_id(user_id: str) -> str:
    """The engine's person id for a Slack user."""
    return PERSON_PREFIX + user_id


class SlackChannel:
    """Slack in, engine, Slack out."""

    def __init__(self, engine: Engine, settings: SlackSettings, *, client: WebClient | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client or WebClient(token=settings.bot_token, base_url=settings.api_url)
        self.app = App(
            signing_secret=settings.signing_secret,
            client=self.client,
            process_before_response=False,  # ack first, work after: Slack wants an answer within 3 s
            raise_error_for_unhandled_request=False,
        )
        self.lanes = Lanes()
        self._dm_channels: dict[str, str] = {}
        self._tz_checked: set[str] = set()
        self._dm_lock = threading.Lock()
        self._register()

    # ------------------------------------------------------------------ wiring
    def _register(self) -> None:
        app = self.app
        app.command("/coach")(self._on_command)
        app.event("message")(self._on_message)
        app.event("app_mention")(self._on_mention)
        app.event("app_home_opened")(self._on_home)
        app.action(re.compile(f"^{kit.ANSWER_ACTION}"))(self._on_answer)
        app.action(re.compile(f"^{kit.COMMAND_ACTION}"))(self._on_command_button)
        app.action(kit.FORM_ACTION)(self._on_form_button)
        app.view(kit.FORM_CALLBACK)(self._on_form_submit)
        # Anything else (another app's buttons, events we do not use) is acknowledged and ignored, so Slack
        # neither shows the person an error nor retries.
        app.action(re.compile(".*"))(self._ignore)
        app.view(re.compile(".*"))(self._ignore)
        app.error(self._on_error)

    def wsgi(self) -> WSGIApp:
        """The app as a WSGI application: ``/slack/events`` for Slack, ``/healthz`` for load balancers."""
        handler = SlackRequestHandler(self.app, path="/slack/events")
        verifier = SignatureVerifier(self.settings.signing_secret)

        def answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                return answer(start_response, "200 OK", {"ok": True, "store": self.engine.store.location})
            if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/slack/events":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length)
                headers = {
                    "x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
                    "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", ""),
                }
                # Nobody but Slack gets past this line, whatever the body: the signature comes first.
                if not _verified(verifier, body, headers):
                    return answer(
                        start_response, "401 Unauthorized", {"ok": False, "error": "invalid signature"}
                    )
                if not _well_formed(body, str(environ.get("CONTENT_TYPE", ""))):
                    log.warning("a signed Slack request with a malformed body was refused")
                    return answer(start_response, "400 Bad Request", {"ok": False, "error": "malformed body"})
                environ = {**environ, "wsgi.input": io.BytesIO(body)}
            return handler(environ, start_response)

        return application

    # ------------------------------------------------------------------ listeners
    def _on_command(self, ack: Ack, body: dict[str, Any]) -> None:
        ack(response_type="ephemeral", text="On it: I'm answering in our direct messages.")
        text = " ".join(unescape_slack(str(body.get("text", ""))).split())
        user = str(body["user_id"])
        command = f"/{text}" if text else "/help"
        message_id = f"cmd:{body.get('trigger_id', '')}"
        self.lanes.submit(user, lambda: self._handle(user, command, message_id=message_id))

    def _on_message(self, event: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return  # only people's own DMs; edits, joins and bots (ourselves included) are not turns
        user = event.get("user")
        if not user:
            return
        message_id = str(event.get("client_msg_id") or event.get("ts"))
        text = unescape_slack(str(event.get("text", "")))
        self.lanes.submit(str(user), lambda: self._handle(str(user), text, message_id=f"msg:{message_id}"))

    def _on_mention(self, event: dict[str, Any]) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        text = unescape_slack(_MENTION.sub("", str(event.get("text", "")))).strip()
        message_id = str(event.get("client_msg_id") or event.get("ts"))
        user = str(event["user"])
        self.lanes.submit(user, lambda: self._handle(user, text or "/help", message_id=f"msg:{message_id}"))

    def _on_answer(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        self.lanes.submit(str(body["user"]["id"]), lambda: self._answer(body, action))

    def _answer(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = str(body["user"]["id"])
        step, value = kit.parse_answer_value(str(action.get("value", "")))
        label = str(action.get("text", {}).get("text", value))
        incoming = Incoming(
            Channel.SLACK,
            person_id(user),
            action=Action(step, value),
            message_id=f"act:{body.get('container', {}).get('message_ts')}:{action.get('action_ts')}",
        )
        replies = self.engine.handle(incoming)
        if replies and not any(r.kind is ReplyKind.ERROR for r in replies):
            self._mark_answered(body, label)  # only an answer the coach took reads as answered
        self._respond(user, replies)

    def _on_command_button(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user = str(body["user"]["id"])
        incoming = Incoming(
            Channel.SLACK,
            person_id(user),
            action=Action(COMMAND_STEP, str(action.get("value", ""))),
            message_id=f"act:home:{action.get('action_ts')}",
        )
        self.lanes.submit(user, lambda: self._respond(user, self.engine.handle(incoming)))

    def _on_form_button(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = str(body["user"]["id"])
        form = self.engine.form(person_id(user))
        if form is None:
            self.client.chat_postEphemeral(
                channel=self._dm(user), user=user, text="There is no step to fill in as a form right now."
            )
            return
        self.client.views_open(trigger_id=body["trigger_id"], view=form_view(form))

    def _on_form_submit(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        self.lanes.submit(str(body["user"]["id"]), lambda: self._submit_form(body, view))

    def _submit_form(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = str(body["user"]["id"])
        values = view.get("state", {}).get("values", {})
        form: dict[str, str] = {}
        for block_id, fields in values.items():
            if block_id.endswith("__note"):
                continue
            picked = (fields.get("answer") or {}).get("selected_option") or {}
            if not picked:
                continue
            note = ((values.get(f"{block_id}__note") or {}).get("note") or {}).get("value") or ""
            form[block_id] = f"{picked.get('value')} {note}".strip()
        if not form:
            self.client.chat_postMessage(
                channel=self._dm(user), text="The form was empty, so nothing changed."
            )
            return
        incoming = Incoming(Channel.SLACK, person_id(user), form=form, message_id=f"form:{view.get('id')}")
        self._respond(user, self.engine.handle(incoming))

    @staticmethod
    def _ignore(ack: Ack) -> None:
        ack()

    def _on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])

        def publish() -> None:
            self.client.views_publish(user_id=user, view=home_view(self.engine.home(person_id(user))))

        self.lanes.submit(user, publish)

    def _on_error(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        log.exception("a Slack request failed: %s", type(error).__name__)
        return BoltResponse(status=200, body="")

    # ------------------------------------------------------------------ translation
    def _handle(self, user: str, text: str, *, message_id: str) -> None:
        self._learn_timezone(user)
        incoming = Incoming(Channel.SLACK, person_id(user), text=text, message_id=message_id)
        self._respond(user, self.engine.handle(incoming))

    def _respond(self, user: str, replies: list[Reply]) -> None:
        if not replies:
            return
        channel = self._dm(user)
        form_steps = frozenset(r.step for r in replies if r.step and _offers_form(r))
        for text, blocks in kit.messages(replies, form_steps=form_steps):
            self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        for reply in replies:
            for attachment in reply.attachments:
                self.client.files_upload_v2(
                    channel=channel,
                    content=attachment.content,
                    filename=attachment.filename,
                    title=attachment.title or attachment.filename,
                )

    # ------------------------------------------------------------------ scheduled messages
    @staticmethod
    def slack_user(person: Person) -> str | None:
        """The person's Slack user id, from their id or a linked identity."""
        for identity in (person.id, *person.identities):
            if identity.startswith(PERSON_PREFIX):
                return identity.removeprefix(PERSON_PREFIX)
        return None

    def reachable(self, person: Person) -> bool:
        """Whether this app can message the person (they have a Slack identity)."""
        return self.slack_user(person) is not None

    def deliver(self, person: Person, replies: Sequence[Reply]) -> bool:
        """A DM with the replies' blocks, and their files uploaded (a digest's chart, a plan)."""
        user = self.slack_user(person)
        if user is None:
            return False
        self._respond(user, list(replies))
        return True

    def _learn_timezone(self, user: str) -> None:
        """Take a person's timezone from users.info once, unless one was configured for them."""
        if user in self._tz_checked:
            return
        self._tz_checked.add(user)
        person = self.engine.store.get_person(person_id(user))
        if person is None or person.timezone != "UTC":
            return
        try:
            tz = self.client.users_info(user=user)["user"].get("tz")
        except Exception:
            log.warning("users.info failed for a user; keeping UTC")
            return
        if tz and tz != "UTC":
            self.engine.store.put_person(replace(person, timezone=str(tz)))

    def _dm(self, user: str) -> str:
        with self._dm_lock:
            channel = self._dm_channels.get(user)
        if channel is None:
            response = self.client.conversations_open(users=user)
            channel = str(response["channel"]["id"])
            with self._dm_lock:
                self._dm_channels[user] = channel
        return channel

    def _mark_answered(self, body: dict[str, Any], label: str) -> None:
        message = body.get("message") or {}
        container = body.get("container") or {}
        if not message.get("blocks") or not container.get("message_ts"):
            return
        self.client.chat_update(
            channel=container.get("channel_id") or body.get("channel", {}).get("id"),
            ts=container["message_ts"],
            text=message.get("text", "Answered"),
            blocks=kit.answered(message["blocks"], label),
        )

    # ------------------------------------------------------------------ serving
    def serve_http(self, *, host: str, port: int, threads: int = 16) -> None:
        """Serve over HTTP with waitress, a production WSGI server (not Bolt's development server)."""
        from waitress import serve

        log.info("Account Coach for Slack listening on http://%s:%d/slack/events", host, port)
        serve(self.wsgi(), host=host, port=port, threads=threads, ident="account-coach")

    def serve_socket_mode(self) -> None:
        """Connect to Slack over Socket Mode (no public URL needed)."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        if not self.settings.app_token:
            raise ValueError("SLACK_APP_TOKEN must be set for Socket Mode")
        SocketModeHandler(self.app, self.settings.app_token).start()  # type: ignore[no-untyped-call]


def _verified(verifier: SignatureVerifier, body: bytes, headers: dict[str, str]) -> bool:
    """Slack's signature check; a missing or garbled timestamp or signature is simply invalid."""
    try:
        return bool(
            verifier.is_valid(body, headers["x-slack-request-timestamp"], headers["x-slack-signature"])
        )
    except (ValueError, TypeError, UnicodeDecodeError):
        return False


def _well_formed(body: bytes, content_type: str) -> bool:
    """A JSON object (events), or a form whose ``payload``, if any, is a JSON object (interactions)."""
    try:
        if "json" in content_type:
            return isinstance(json.loads(body or b"null"), dict)
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        if "payload" in fields:
            return isinstance(json.loads(fields["payload"][0]), dict)
        return "command" in fields or "ssl_check" in fields or not fields
    except (ValueError, UnicodeDecodeError):
        return False


def unescape_slack(text: str) -> str:
    """Slack sends ``&``, ``<`` and ``>`` in typed text as entities: give the engine what was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _offers_form(reply: Reply) -> bool:
    """Score questions can be filled in as a form, a whole questionnaire step at once."""
    return reply.step is not None and not reply.numbered and len(reply.choices) >= 5


def form_view(form: Form) -> dict[str, Any]:
    """A modal with one select (and an optional note) per question, within the 100-block limit."""
    title = escape_slack(form.title)
    blocks: list[dict[str, Any]] = [kit.section(f"*{title}*: pick a score for each question you asked.")]
    for question in form.questions[:45]:
        options = [
            {"text": {"type": "plain_text", "text": c.label[:75]}, "value": c.value} for c in question.options
        ]
        blocks.append(
            {
                "type": "input",
                "block_id": question.step,
                "optional": True,
                "label": {"type": "plain_text", "text": question.text[:2000]},
                "element": {"type": "static_select", "action_id": "answer", "options": options},
            }
        )
        if form.notes:
            blocks.append(
                {
                    "type": "input",
                    "block_id": f"{question.step}__note",
                    "optional": True,
                    "label": {"type": "plain_text", "text": "Their words (optional note)"},
                    "element": {"type": "plain_text_input", "action_id": "note"},
                }
            )
    return {
        "type": "modal",
        "callback_id": kit.FORM_CALLBACK,
        "title": {"type": "plain_text", "text": "Account Coach"},
        "submit": {"type": "plain_text", "text": "Save answers"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks[: kit.BLOCKS_PER_VIEW],
    }


def home_view(replies: list[Reply]) -> dict[str, Any]:
    """The Home tab: the replies of the engine's home view, their choices as command buttons."""
    blocks: list[dict[str, Any]] = []
    for reply in replies:
        blocks += [kit.section(chunk) for chunk in kit.split_text(reply.text(Format.SLACK))]
        buttons = [
            kit.button(c.label, action_id=f"{kit.COMMAND_ACTION}:{n}", value=c.value)
            for n, c in enumerate(reply.choices)
        ]
        for n in range(0, len(buttons), 3):  # a row per account: qualify, stage, plan
            row = buttons[n : n + 3]
            blocks.append({"type": "actions", "block_id": f"home_{len(blocks)}", "elements": row})
    return {"type": "home", "blocks": blocks[: kit.BLOCKS_PER_VIEW]}


def serve_workers(
    build: Callable[[], SlackChannel], *, host: str, port: int, workers: int, threads: int, scheduler: bool
) -> None:
    """Serve over HTTP with several gunicorn worker processes, each building its own channel after the fork
    (the store is shared: TinyDB locks across processes, PostgreSQL across hosts). Every worker runs the
    scheduler: each digest and nudge is claimed in the store before it is sent, so it still goes out once."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class Workers(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("preload_app", False)

        def load(self) -> WSGIApp:
            channel = build()
            if scheduler:
                from bot.scheduler import Scheduler

                worker = Scheduler(channel.engine, deliver=channel.deliver, reachable=channel.reachable)
                threading.Thread(target=worker.run, args=(threading.Event(),), daemon=True).start()
            return channel.wsgi()

    log.info("Account Coach for Slack: %d worker processes on http://%s:%d/slack/events", workers, host, port)
    Workers().run()
