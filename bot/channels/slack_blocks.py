"""Neutral replies as Slack Block Kit messages, within Slack's limits.

Limits (Slack's documentation): a section's text at most 3,000 characters, 50 blocks per message (100 in
a modal or the Home tab), 25 elements per actions block, 75 characters of button text, 2,000 of a button
value. Text is rendered with the Slack format, which escapes ``&``, ``<`` and ``>`` in everything a person
typed, so nobody can inject ``<!channel>`` or a fake link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.messages import Choice, Reply, ReplyKind
from bot.rendering import Format, escape_slack

SECTION_LIMIT = 3000
BLOCKS_PER_MESSAGE = 50
BLOCKS_PER_VIEW = 100
ELEMENTS_PER_ACTIONS = 25
BUTTON_TEXT_LIMIT = 75
ANSWER_ACTION = "coach_answer"
COMMAND_ACTION = "coach_command"
FORM_ACTION = "coach_form"
FORM_CALLBACK = "coach_form"
FALLBACK_LIMIT = 300

Block = dict[str, Any]


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut text into pieces of at most ``limit`` characters, at line breaks, else at spaces."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()] or [" "]


def section(text: str) -> Block:
    """A mrkdwn section (text already escaped and within the limit)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    """A small grey line under a message."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(label: str, *, action_id: str, value: str) -> Block:
    """A button; the label is plain text (Slack does not interpret it), cut to Slack's limit."""
    text = label if len(label) <= BUTTON_TEXT_LIMIT else label[: BUTTON_TEXT_LIMIT - 1] + "…"
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value[:2000],
    }


def answer_value(step: str, value: str) -> str:
    """The value a button carries: the step it answers and the answer."""
    return f"{step}|{value}"


def parse_answer_value(value: str) -> tuple[str, str]:
    """The inverse of ``answer_value``."""
    step, _, answer = value.partition("|")
    return step, answer


def actions(buttons: Sequence[Block], block_id: str) -> list[Block]:
    """Buttons in actions blocks of at most 25 elements."""
    return [
        {
            "type": "actions",
            "block_id": f"{block_id}_{n}",
            "elements": list(buttons[i : i + ELEMENTS_PER_ACTIONS]),
        }
        for n, i in enumerate(range(0, len(buttons), ELEMENTS_PER_ACTIONS))
    ]


def reply_blocks(reply: Reply, *, form: bool = False) -> list[Block]:
    """One reply as blocks: its text in sections, its choices as buttons, a context line for results."""
    blocks = [section(chunk) for chunk in split_text(reply.text(Format.SLACK))]
    if reply.choices and reply.step:
        buttons = [
            button(c.label, action_id=f"{ANSWER_ACTION}:{n}", value=answer_value(reply.step, c.value))
            for n, c in enumerate(reply.choices)
        ]
        if form:
            buttons.append(button("Fill in as a form", action_id=FORM_ACTION, value=reply.step))
        blocks += actions(buttons, f"q_{reply.step}")
    if reply.kind is ReplyKind.RESULT:
        blocks.append(context("Account Coach · questions and stages from the method's source documents"))
    return blocks


def messages(
    replies: Iterable[Reply], *, form_steps: frozenset[str] = frozenset()
) -> list[tuple[str, list[Block]]]:
    """Replies grouped into Slack messages (fallback text, blocks), each within 50 blocks.

    Consecutive replies share a message until a question (which carries buttons) ends it, so a turn reads
    as one or two messages, not a burst.
    """
    out: list[tuple[str, list[Block]]] = []
    blocks: list[Block] = []
    texts: list[str] = []

    def flush() -> None:
        if blocks:
            for i in range(0, len(blocks), BLOCKS_PER_MESSAGE):
                out.append((fallback(" ".join(texts)), blocks[i : i + BLOCKS_PER_MESSAGE]))
        blocks.clear()
        texts.clear()

    for reply in replies:
        new = reply_blocks(reply, form=reply.step in form_steps)
        if len(blocks) + len(new) > BLOCKS_PER_MESSAGE:
            flush()
        blocks.extend(new)
        texts.append(reply.text(Format.PLAIN))
        if reply.choices:
            flush()
    flush()
    return out


def fallback(text: str) -> str:
    """The notification text of a message: plain, escaped, short."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= FALLBACK_LIMIT else flat[: FALLBACK_LIMIT - 1] + "…"
    return escape_slack(flat) or "Account Coach"


def answered(blocks: Sequence[Block], label: str) -> list[Block]:
    """A question message after a click: the same text, the buttons replaced by the chosen answer."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return [*kept, context(f"✅ You answered: *{escape_slack(label)}*")]


def choice_label(choices: Sequence[Choice], value: str) -> str:
    """The label of the choice with this value (or the value itself)."""
    return next((c.label for c in choices if c.value == value), value)
