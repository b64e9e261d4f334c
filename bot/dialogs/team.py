"""Team features: ``/digest`` (the managers' weekly digest, on demand) and ``/call ACCOUNT WHEN``.

The digest reads other people's data only through ``TeamReader``, which applies ``bot.access``: a manager
sees their team, an admin everyone, a rep gets a polite refusal.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bot.coaching.accounts import account_key, clean_name, match_account
from bot.coaching.digest import build_digest, stage_chart
from bot.dialogs._common import new_account_if_unknown
from bot.dialogs.base import (
    Completion,
    Context,
    Dialog,
    Draft,
    Effects,
    Invalid,
    Refused,
    Started,
    Step,
    TeamReader,
    TeamView,
    parse_when,
    zone_of,
)
from bot.messages import Attachment, Reply, ReplyKind
from storage.base import CallPlan, Role

DIGEST_DAYS = 7


def digest_replies(team: TeamReader, *, days: int = DIGEST_DAYS, chart: bool = True) -> tuple[Reply, ...]:
    """The digest of the viewer's team as replies (text, and the chart as an image attachment)."""
    viewer = team.viewer()
    if viewer is None or viewer.role not in (Role.MANAGER, Role.ADMIN):
        return (Reply("dialogs/team/not_a_manager.txt.j2", {}, kind=ReplyKind.ERROR),)
    members = [(p, team.data(p.id)) for p in team.visible() if p.role == Role.REP]
    digest = build_digest(viewer, members, team.knowledge, end=team.now, days=days)
    attachments: tuple[Attachment, ...] = ()
    if chart:
        png = stage_chart(digest)
        attachments = (
            Attachment(f"digest-{digest.end:%Y-%m-%d}.png", png, "image/png", "Accounts by stage"),
        )
    return (
        Reply("digest/digest.txt.j2", {"digest": digest}, kind=ReplyKind.RESULT, attachments=attachments),
    )


class DigestView(TeamView):
    """``/digest``: the weekly digest of your team, now."""

    command = "digest"
    summary = "managers: your team's digest for the last 7 days, with a chart"

    def show_team(self, args: str, team: TeamReader) -> tuple[Reply, ...]:
        return digest_replies(team)


class CallDialog(Dialog):
    """``/call ACCOUNT WHEN``: note an upcoming call; the coach reminds you to plan it."""

    name = "call"
    command = "call"
    title = "Upcoming call"
    summary = "note an upcoming call (the account, then the day and time); I remind you to plan it"
    usage = "ACCOUNT WHEN"

    def start(self, args: str, ctx: Context) -> Started | Refused:
        words = args.split()
        zone = zone_of(ctx.person())
        for cut in range(len(words) - 1, 0, -1):  # the longest tail that reads as a date and time
            try:
                when = parse_when(" ".join(words[cut:]), now=ctx.now, tz=zone)
            except Invalid:
                continue
            name = clean_name(" ".join(words[:cut]))
            match = match_account(name, ctx.accounts())
            return Started(
                meta={"account": match.key, "account_name": match.name, "call_at": when.isoformat()}
            )
        return Refused(Reply("dialogs/team/call_usage.txt.j2", {"given": args.strip()}, kind=ReplyKind.ERROR))

    def steps(self, draft: Draft, ctx: Context) -> Sequence[Step]:
        return []

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        from datetime import datetime

        key = account_key(draft.meta["account_name"])
        name = draft.meta["account_name"]
        call_at = datetime.fromisoformat(draft.meta["call_at"])
        plan = CallPlan(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            account=key,
            call_at=call_at,
            plan={},
            created_at=ctx.now,
        )
        reply = Reply("dialogs/team/call_noted.txt.j2", {"account": name, "call_at": call_at})
        return Completion(
            (reply,), Effects(plans=(plan,), accounts=new_account_if_unknown(ctx, key, name), answers=False)
        )


VIEWS = (DigestView(),)
DIALOG = CallDialog()
