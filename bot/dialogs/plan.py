"""``/plan ACCOUNT``: prepare a customer call (seed 003's checklist, seed 000's individual call plan).

When and with whom, both sides' objectives, what is known of the customer's business and people, the
specialists to involve and the risks; then a call plan that pulls in the account's latest qualification
(questions not asked or scored low become questions to ask) and stage. The plan is kept, listed by
``/plans``, and sent as a Markdown file.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from bot.coaching.planning import build_plan
from bot.dialogs._common import AccountDialog, account_of, new_account_if_unknown
from bot.dialogs.base import (
    Completion,
    Context,
    Draft,
    Effects,
    InputKind,
    Special,
    Step,
    per_knowledge,
)
from bot.knowledge.schema import CallPlanning
from bot.messages import Attachment, Choice, Reply, ReplyKind
from bot.rendering import render
from storage.base import CallPlan

SKIP = Special("skip", ("skip", "none", "no", "n/a", "nobody", "no one"), "None", "nothing to add")
SKIP_SECTION = Special(
    "skip_section", ("skip step", "skip section", "skip rest"), "Skip section", "the rest unknown"
)


def _text_step(step_id: str, label: str, *, required: bool = True) -> Step:
    return Step(
        id=step_id,
        prompt=f"dialogs/plan/{step_id}.txt.j2",
        kind=InputKind.TEXT,
        label=label,
        required=required,
        specials=() if required else (SKIP,),
        section="The call",
    )


class PlanDialog(AccountDialog):
    """Pre-call planning."""

    name = "plan"
    command = "plan"
    title = "Call plan"
    summary = "prepare your next call with an account: checklist, stakeholders, questions to ask"
    verb = "plan a call with"
    subject = "call plan for"

    def account_steps(self, ctx: Context) -> Sequence[Step]:
        return self._plan_steps(ctx.knowledge.call_planning)

    @per_knowledge
    def _plan_steps(self, cp: CallPlanning) -> list[Step]:
        roles = ", ".join(r.label.lower() for r in cp.stakeholder_roles)
        steps = [
            Step(
                id="call_at",
                prompt="dialogs/plan/call_at.txt.j2",
                kind=InputKind.DATETIME,
                label="When the call is",
                section="The call",
            ),
            Step(
                id="attendees",
                prompt="dialogs/plan/attendees.txt.j2",
                kind=InputKind.TEXT,
                label="Who it is with",
                values={"roles": roles},
                section="The call",
            ),
            _text_step("first_meeting", "Met for the first time", required=False),
            _text_step("our_objective", "What we want"),
            _text_step("their_objective", "What the customer wants"),
        ]
        known = (Choice("Known", "known"), Choice("Unknown", "unknown"))
        for section in cp.sections:
            for item in section.items:
                steps.append(
                    Step(
                        id=item.id,
                        prompt="dialogs/plan/checklist.txt.j2",
                        kind=InputKind.CHOICE,
                        label=item.label,
                        values={"item": item, "section_title": section.title},
                        choices=known,
                        allow_note=True,
                        specials=(SKIP_SECTION,),
                        section=section.title,
                    )
                )
        steps += [_text_step("specialists", "Specialists to involve", required=False)]
        steps += [_text_step("risks", "Risks and competitors", required=False)]
        return steps

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        key, name = account_of(draft.meta, draft.answers)
        qualifications = ctx.assessments(kind="qualification", account=key)
        stages = ctx.assessments(kind="stage", account=key)
        answers = {k: v for k, v in draft.answers.items() if v.get("special") != "skip"}
        result = build_plan(
            ctx.knowledge,
            account=name,
            answers=answers,
            qualification=qualifications[-1] if qualifications else None,
            stage=stages[-1] if stages else None,
        )
        call_at = datetime.fromisoformat(result.call_at) if result.call_at else None
        markdown = render("dialogs/plan/plan.md.j2", plan=result, call_at=call_at, made_at=ctx.now)
        plan = CallPlan(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            account=key,
            call_at=call_at,
            plan={**result.to_json(), "markdown": markdown},
            created_at=ctx.now,
        )
        filename = plan_filename(name, call_at)
        reply = Reply(
            "dialogs/plan/result.txt.j2",
            {"plan": result, "call_at": call_at, "filename": filename},
            kind=ReplyKind.RESULT,
            attachments=(
                Attachment(filename, markdown.encode("utf-8"), "text/markdown", f"Call plan: {name}"),
            ),
        )
        effects = Effects(plans=(plan,), accounts=new_account_if_unknown(ctx, key, name))
        return Completion((reply,), effects)


def plan_filename(account: str, call_at: datetime | None) -> str:
    """``call-plan-acme-2026-12-03.md``: safe on every file system."""
    slug = re.sub(r"[^a-z0-9]+", "-", account.lower()).strip("-") or "account"
    return f"call-plan-{slug[:40]}-{call_at:%Y-%m-%d}.md" if call_at else f"call-plan-{slug[:40]}.md"


DIALOG = PlanDialog()
