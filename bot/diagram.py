"""Draw a dialog's state machine as Mermaid (``stateDiagram-v2``), generated from its declaration."""

from __future__ import annotations

from bot.dialogs.base import Dialog, Draft, Started, Step
from bot.engine import GLOBAL_COMMANDS
from bot.knowledge import KnowledgeBase
from bot.rendering import render
from storage.base import utcnow


class _NoData:
    """A context with no stored data: the steps as a new person would meet them."""

    def __init__(self, knowledge: KnowledgeBase) -> None:
        self.person_id = "diagram"
        self.now = utcnow()
        self.knowledge = knowledge

    def person(self) -> None:
        return None

    def accounts(self) -> list[object]:
        return []

    def assessments(self, **_: object) -> list[object]:
        return []

    def plans(self) -> list[object]:
        return []

    def onboarding(self) -> list[object]:
        return []


def _label(step: Step) -> str:
    return f"{step.label} ({step.kind})".replace('"', "'")


def _after(steps: list[Step], index: int) -> str:
    """The first step after ``index`` that is not under the same condition as the step at ``index``."""
    condition = steps[index].when
    for step in steps[index + 1 :]:
        if step.when != condition:
            return step.id
    return "done"


def mermaid(dialog: Dialog, knowledge: KnowledgeBase) -> str:
    """The dialog as a Mermaid state diagram."""
    ctx = _NoData(knowledge)
    started = dialog.start("Acme" if dialog.usage == "ACCOUNT" else "", ctx)  # type: ignore[arg-type]
    meta = started.meta if isinstance(started, Started) else {}
    steps = list(dialog.steps(Draft(meta=meta, answers={}), ctx))  # type: ignore[arg-type]
    lines = ["stateDiagram-v2"]
    for step in steps:
        lines.append(f'    state "{_label(step)}" as {step.id}')
    lines.append(f'    state "{dialog.title} result" as done')
    start = f"/{dialog.command} {dialog.usage}".strip()
    lines.append(f"    [*] --> {steps[0].id if steps else 'done'} : {start}")
    for i, step in enumerate(steps):
        following = steps[i + 1] if i + 1 < len(steps) else None
        if following is None:
            lines.append(f"    {step.id} --> done")
        elif following.when is None or following.when == step.when:
            lines.append(f"    {step.id} --> {following.id}")
        else:
            lines.append(f"    {step.id} --> {following.id} : {following.when.label}")
            lines.append(f"    {step.id} --> {_after(steps, i + 1)} : otherwise")
    lines.append("    done --> [*]")
    commands = ", ".join(f"/{name}" for name in GLOBAL_COMMANDS)
    lines.append(f"    note right of done : at every question: {commands}")
    return "\n".join(lines)


def markdown(dialogs: list[Dialog], knowledge: KnowledgeBase) -> str:
    """docs/dialogs.md: every dialog's diagram, with how to read it."""
    return render("docs/dialogs.md.j2", dialogs=[(d, mermaid(d, knowledge)) for d in dialogs])
