"""``/prioritize ACCOUNT`` and ``/portfolio``: the weighted account analysis of seeds 000 and 001.

Each selection criterion is scored 1-5; the account lands in a quadrant (dedicated key account management,
develop, maintain, reconsider) with the criteria that placed it there. ``/portfolio`` shows every account's
latest placement as a table and a chart; a manager sees their team's accounts too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bot.coaching.prioritize import Point, place, portfolio_chart
from bot.dialogs._common import AccountDialog, account_of, new_account_if_unknown
from bot.dialogs.base import (
    Completion,
    Context,
    Draft,
    Effects,
    InputKind,
    Step,
    TeamReader,
    TeamView,
    per_knowledge,
)
from bot.knowledge.schema import AccountSelection
from bot.messages import Attachment, Reply, ReplyKind
from storage.base import Assessment, PersonData

KIND = "prioritization"


def latest(data_assessments: Sequence[Assessment], kind: str, account: str) -> Assessment | None:
    """The most recent assessment of a kind for an account (practice runs excluded)."""
    found = [a for a in data_assessments if a.kind == kind and a.account == account and not a.practice]
    return found[-1] if found else None


class PrioritizeDialog(AccountDialog):
    """Score the selection criteria of one account."""

    name = "prioritize"
    command = "prioritize"
    title = "Account prioritization"
    summary = "place an account on the attractiveness and strength quadrant (weighted account analysis)"
    verb = "prioritize"
    subject = "prioritization of"

    def account_steps(self, ctx: Context) -> Sequence[Step]:
        return self._criteria(ctx.knowledge.account_selection)

    @per_knowledge
    def _criteria(self, selection: AccountSelection) -> list[Step]:
        return [
            Step(
                id=criterion.id,
                prompt="dialogs/prioritize/criterion.txt.j2",
                kind=InputKind.SCORE,
                label=criterion.label,
                values={"criterion": criterion, "axis": axis},
                minimum=selection.scale_min,
                maximum=selection.scale_max,
                scale_labels={selection.scale_min: "low", selection.scale_max: "high"},
                section=axis.title.split(":")[0],
            )
            for axis in selection.axes
            for criterion in axis.criteria
        ]

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        selection = ctx.knowledge.account_selection
        key, name = account_of(draft.meta, draft.answers)
        scores = {k: int(v["value"]) for k, v in draft.answers.items() if isinstance(v.get("value"), int)}
        history = ctx.assessments(account=key)
        stage = latest(history, "stage", key)
        qualification = latest(history, "qualification", key)
        placement = place(
            selection,
            scores,
            stage_order=int(stage.result["order"]) if stage else None,
            stages=len(ctx.knowledge.relationship_stages.stages),
            qualification_percent=float(qualification.result["percent"]) if qualification else None,
        )
        assessment = Assessment(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            kind=KIND,
            account=key,
            answers={k: dict(v) for k, v in draft.answers.items()},
            result={**placement.to_json(), "account_name": name},
            started_at=draft.started_at or ctx.now,
            completed_at=ctx.now,
        )
        values = {"account": name, "p": placement, "high_from": selection.high_from}
        reply = Reply("dialogs/prioritize/result.txt.j2", values, kind=ReplyKind.RESULT)
        return Completion(
            (reply,), Effects(assessments=(assessment,), accounts=new_account_if_unknown(ctx, key, name))
        )


def portfolio_points(owner: str, data: PersonData) -> list[Point]:
    """The latest placement of each of a person's accounts."""
    names = {a.key: a.name for a in data.accounts}
    points = []
    for key in names:
        found = latest(data.assessments, KIND, key)
        if found is not None:
            r = found.result
            points.append(
                Point(
                    names[key], owner, float(r["attractiveness"]), float(r["strength"]), r["quadrant_label"]
                )
            )
    return points


class PortfolioView(TeamView):
    """``/portfolio``: every account on the quadrant, as a table and a chart."""

    command = "portfolio"
    summary = "all your accounts on the attractiveness and strength quadrant, with a chart"

    def show_team(self, args: str, team: TeamReader) -> tuple[Reply, ...]:
        viewer = team.viewer()
        viewer_id = viewer.id if viewer else None
        points: list[Point] = []
        unplaced: list[str] = []
        owners = ([viewer_id] if viewer_id else []) + [p.id for p in team.visible()]
        for owner in owners:
            data = team.data(owner)
            found = portfolio_points(owner, data)
            points += found
            placed = {p.account for p in found}
            unplaced += [a.name for a in data.accounts if a.name not in placed]
        if not points:
            return (Reply("dialogs/prioritize/portfolio_empty.txt.j2", {"unplaced": unplaced}),)
        png = portfolio_chart(points, team.knowledge.account_selection)
        chart = Attachment("portfolio.png", png, "image/png", "Account portfolio")
        values = {"points": points, "unplaced": unplaced, "team": len(owners) > 1}
        return (
            Reply("dialogs/prioritize/portfolio.txt.j2", values, kind=ReplyKind.RESULT, attachments=(chart,)),
        )


DIALOG = PrioritizeDialog()
VIEWS = (PortfolioView(),)
