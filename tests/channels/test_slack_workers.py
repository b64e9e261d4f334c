"""`coach serve slack --http --workers 2`: several processes serve one app on one store."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auxil.cli import COACH
from tests.auxil.slack_app import SECRET, TOKEN, SlackRequests
from tests.auxil.slack_fake import SlackFake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SlackFake, SlackRequests]]:
    fake = SlackFake().start()
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url}
    env.pop("SLACK_APP_TOKEN", None)
    args = ["serve", "slack", "--http", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(
        [str(COACH), *args, "--data-dir", str(tmp_path), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # gunicorn's master binds the port, then says so: from then on requests wait in the backlog until a
    # worker takes them, so reading that line is the start-up signal (no polling, no sleeping).
    assert process.stderr is not None
    logged: list[bytes] = []
    listening = threading.Event()

    def drain() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            logged.append(line)
            if b"Listening at" in line:
                listening.set()

    threading.Thread(target=drain, daemon=True).start()
    assert listening.wait(30), b"".join(logged).decode()
    client = SlackRequests(port)
    try:
        yield fake, client
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert TOKEN.encode() not in b"".join(logged)
        fake.stop()


def test_two_worker_processes_share_one_store(served: tuple[SlackFake, SlackRequests]) -> None:
    fake, client = served
    assert client.dm("/qualify Acme").status == 200
    fake.wait_for("chat.postMessage", 1)
    for n, answer in enumerate(["4", "3", "5", "2"], start=2):  # served by either process
        assert client.dm(answer).status == 200
        fake.wait_for("chat.postMessage", n)
    assert client.dm("/status").status == 200
    [status] = fake.wait_for("chat.postMessage", 6)[5:]
    text = " ".join(b["text"]["text"] for b in status.args["blocks"] if b.get("type") == "section")
    assert "question 5 of 29" in text
    for line in (
        "1. What prompted the search: 4",
        "2. Expectations and requirements: 3",
        "4. How they see it happening: 2",
    ):
        assert line in text
