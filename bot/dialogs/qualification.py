"""``/qualify ACCOUNT``: the three-step qualification of "Qualifying a Sale" (seed 001).

Step 1, then Step 2, then (as the seed says: add them up, then decide) the subtotal and the fit question,
then Step 3 when there is a fit. Each question is scored 1-5 with an optional note, or ``skip`` (does not
apply) or ``not asked``; ``skip step`` skips the rest of a step. The questions come from
``qualification.yaml``; nothing here hard-codes one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bot.coaching.scoring import NOT_ASKED, SKIP, score_qualification, score_step, step_changes
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
from bot.knowledge.schema import Qualification
from bot.messages import Reply, ReplyKind
from storage.base import Assessment

SPECIALS = (
    Special(SKIP, ("skip", "n/a", "na", "does not apply", "not applicable"), "Skip", "does not apply"),
    Special(
        NOT_ASKED,
        ("not asked", "not asked yet", "notasked", "unasked", "ask later"),
        "Not asked",
        "ask it in the next call",
    ),
    Special(
        "skip_section",
        ("skip step", "skip this step", "skip section"),
        "Skip step",
        "skip the rest of this step",
    ),
)
FIT_STEP = "fit"


class QualificationDialog(AccountDialog):
    """The three-step qualification questionnaire."""

    name = "qualification"
    command = "qualify"
    title = "Qualification"
    summary = "score the three-step qualification of an account and get your next actions"
    verb = "qualify"
    subject = "qualification of"

    def account_steps(self, ctx: Context) -> Sequence[Step]:
        return self._questions(ctx.knowledge.qualification)

    @per_knowledge
    def _questions(self, q: Qualification) -> list[Step]:
        """The question steps, built once per knowledge base (they depend on nothing else)."""
        fit_after = next(s.number for s in q.steps if s.id == q.fit_decision.after_step)
        hint = (
            f"Score {q.scale.min}-{q.scale.max}, optionally with their words as a note (e.g. 4 they want a "
            "20% cost cut); or skip (does not apply), not asked, skip step."
        )
        steps: list[Step] = []
        for kstep in q.steps:
            section = f"Step {kstep.number}: {kstep.title}"
            for question in kstep.questions:
                steps.append(
                    Step(
                        id=question.id,
                        prompt="dialogs/qualification/question.txt.j2",
                        kind=InputKind.SCORE,
                        label=question.label,
                        values={
                            "question": question,
                            "kstep": kstep,
                            "quoted": f"“{question.text}”",
                            "low": q.scale.min,
                            "high": q.scale.max,
                            "low_label": q.scale.labels[q.scale.min],
                            "high_label": q.scale.labels[q.scale.max],
                            "hint": hint,
                        },
                        minimum=q.scale.min,
                        maximum=q.scale.max,
                        scale_labels=q.scale.labels,
                        allow_note=True,
                        specials=SPECIALS,
                        section=section,
                        when=Condition(FIT_STEP, True, "there is a fit")
                        if kstep.number > fit_after
                        else None,
                    )
                )
            if kstep.id == q.fit_decision.after_step:
                steps.append(
                    Step(
                        id=FIT_STEP,
                        prompt="dialogs/qualification/fit.txt.j2",
                        kind=InputKind.YES_NO,
                        label="Fit decision",
                        values={"fit": q.fit_decision},
                        dynamic=True,
                        section="Fit decision",
                    )
                )
        return steps

    def prompt_values(self, step: Step, draft: Draft, ctx: Context) -> Mapping[str, Any]:
        if step.id != FIT_STEP:
            return {}
        q = ctx.knowledge.qualification
        upto = next(s.number for s in q.steps if s.id == q.fit_decision.after_step)
        return {"subtotals": [score_step(s.id, q, draft.answers) for s in q.steps[:upto]]}

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        q = ctx.knowledge.qualification
        key, name = account_of(draft.meta, draft.answers)
        fit = draft.answers.get(FIT_STEP, {}).get("value")
        score = score_qualification(q, draft.answers, fit=fit if isinstance(fit, bool) else None)
        previous = ctx.assessments(kind="qualification", account=key)
        changes = step_changes(score.steps, previous[-1].result if previous else None)
        questions = {question.id: question for question in q.questions}
        accounts = new_account_if_unknown(ctx, key, name)
        assessment = Assessment(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            kind="qualification",
            account=key,
            answers={k: dict(v) for k, v in draft.answers.items()},
            result={**score.to_json(), "account_name": name},
            started_at=draft.started_at or ctx.now,
            completed_at=ctx.now,
        )
        reply = Reply(
            "dialogs/qualification/result.txt.j2",
            {
                "account": name,
                "score": score,
                "changes": changes,
                "previous_at": previous[-1].completed_at if previous else None,
                "questions": questions,
            },
            kind=ReplyKind.RESULT,
        )
        return Completion((reply,), Effects(assessments=(assessment,), accounts=accounts))


DIALOG = QualificationDialog()
