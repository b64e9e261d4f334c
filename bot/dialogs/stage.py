"""``/stage ACCOUNT``: where the relationship with an account stands (seed 002's four stages).

Every indicator statement of ``relationship_stages.yaml`` is answered agree / partly / disagree; the result
names the stage the answers support, how strongly, what is missing for the next stage and the moves that
get there. An optional target stage and date are kept with the assessment, so movements show in
``/history`` and the managers' digest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bot.coaching.stages import assess_stage, movement
from bot.dialogs._common import AccountDialog, account_of, new_account_if_unknown
from bot.dialogs.base import (
    Completion,
    Condition,
    Context,
    Draft,
    Effects,
    InputKind,
    Special,
    Step,
    per_knowledge,
)
from bot.knowledge.schema import RelationshipStages
from bot.messages import Choice, Reply, ReplyKind
from storage.base import Assessment


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to fit ``limit`` characters, with an ellipsis if cut."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


TARGET_STEP = "target_stage"
TARGET_DATE_STEP = "target_date"
NO_TARGET = "none"
SKIP = Special("skip", ("skip", "no date", "none", "n/a"), "No date", "no target date")


class StageDialog(AccountDialog):
    """The relationship-stage assessment."""

    name = "stage"
    command = "stage"
    title = "Stage assessment"
    summary = "assess the relationship stage of an account and the moves to the next stage"
    verb = "assess"
    subject = "stage assessment of"

    def account_steps(self, ctx: Context) -> Sequence[Step]:
        return self._indicator_steps(ctx.knowledge.relationship_stages)

    @per_knowledge
    def _indicator_steps(self, rs: RelationshipStages) -> list[Step]:
        options = tuple(Choice(o.label.split(":")[0], o.id) for o in rs.answers.options)
        steps: list[Step] = []
        for stage in rs.stages:
            for indicator in stage.indicators:
                steps.append(
                    Step(
                        id=indicator.id,
                        prompt="dialogs/stage/indicator.txt.j2",
                        kind=InputKind.CHOICE,
                        label=shorten(indicator.statement, 70),
                        values={"indicator": indicator, "stage": stage, "options": rs.answers.options},
                        choices=options,
                        section=f"Stage {stage.order}: {stage.name}",
                    )
                )
        targets = (*(Choice(s.name, s.id) for s in rs.stages), Choice("No target", NO_TARGET))
        steps.append(
            Step(
                id=TARGET_STEP,
                prompt="dialogs/stage/target.txt.j2",
                kind=InputKind.CHOICE,
                label="Target stage",
                choices=targets,
                section="Target",
            )
        )
        steps.append(
            Step(
                id=TARGET_DATE_STEP,
                prompt="dialogs/stage/target_date.txt.j2",
                kind=InputKind.DATETIME,
                label="Target date",
                required=False,
                specials=(SKIP,),
                when=Condition(TARGET_STEP, NO_TARGET, "a target stage was chosen", negate=True),
                section="Target",
            )
        )
        return steps

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        rs = ctx.knowledge.relationship_stages
        key, name = account_of(draft.meta, draft.answers)
        answers = {k: str(v.get("value")) for k, v in draft.answers.items() if v.get("value") is not None}
        result = assess_stage(rs, answers)
        previous = ctx.assessments(kind="stage", account=key)
        before = previous[-1].result if previous else None
        moved = movement(int(before["order"]) if before else None, result.order)
        target_id = answers.get(TARGET_STEP)
        target = next((s for s in rs.stages if s.id == target_id), None)
        target_date = draft.answers.get(TARGET_DATE_STEP, {}).get("value")
        stored: dict[str, Any] = {
            **result.to_json(),
            "account_name": name,
            "movement": moved,
            "previous_stage": before.get("stage_name") if before else None,
            "target_stage": target.id if target else None,
            "target_stage_name": target.name if target else None,
            "target_date": target_date,
        }
        assessment = Assessment(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            kind="stage",
            account=key,
            answers={k: dict(v) for k, v in draft.answers.items()},
            result=stored,
            started_at=draft.started_at or ctx.now,
            completed_at=ctx.now,
        )
        reply = Reply(
            "dialogs/stage/result.txt.j2",
            {"account": name, "result": result, "stored": stored, "stages": rs.stages},
            kind=ReplyKind.RESULT,
        )
        effects = Effects(assessments=(assessment,), accounts=new_account_if_unknown(ctx, key, name))
        return Completion((reply,), effects)

    def prompt_values(self, step: Step, draft: Draft, ctx: Context) -> Mapping[str, Any]:
        return {}


DIALOG = StageDialog()
