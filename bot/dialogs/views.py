"""Read-only commands: ``/accounts``, ``/history ACCOUNT`` and ``/plans``. They change nothing."""

from __future__ import annotations

from typing import Any

from bot.coaching.accounts import account_key, match_account
from bot.dialogs.base import Context, View
from bot.messages import Reply, ReplyKind
from storage.base import Account, Assessment, CallPlan


def _latest(items: list[Assessment], account: str) -> Assessment | None:
    matching = [a for a in items if a.account == account]
    return matching[-1] if matching else None


def _next_call(plans: list[CallPlan], account: str, ctx: Context) -> CallPlan | None:
    upcoming = [p for p in plans if p.account == account and p.call_at is not None and p.call_at >= ctx.now]
    return min(upcoming, key=lambda p: p.call_at or ctx.now) if upcoming else None


class AccountsView(View):
    """``/accounts``: each account with its latest score, stage and next planned call."""

    command = "accounts"
    summary = "list your accounts with their latest score, stage and next call"

    def show(self, args: str, ctx: Context) -> tuple[Reply, ...]:
        qualifications = ctx.assessments(kind="qualification")
        stages = ctx.assessments(kind="stage")
        plans = ctx.plans()
        rows: list[dict[str, Any]] = []
        for account in sorted(ctx.accounts(), key=lambda a: a.name.casefold()):
            rows.append(
                {
                    "name": account.name,
                    "qualification": _latest(qualifications, account.key),
                    "stage": _latest(stages, account.key),
                    "next_call": _next_call(plans, account.key, ctx),
                }
            )
        return (Reply("views/accounts.txt.j2", {"rows": rows}, kind=ReplyKind.RESULT),)


class HistoryView(View):
    """``/history ACCOUNT``: the trend of qualification scores and stages, and the plans made."""

    command = "history"
    summary = "show the trend of scores and stages of an account"
    usage = "ACCOUNT"

    def show(self, args: str, ctx: Context) -> tuple[Reply, ...]:
        accounts = ctx.accounts()
        account = _find(args, accounts)
        if account is None:
            match = match_account(args, accounts) if args.strip() else None
            missing: dict[str, Any] = {
                "given": " ".join(args.split()),
                "suggestion": match.suggestion.name if match and match.suggestion else None,
                "accounts": [a.name for a in accounts],
            }
            return (Reply("views/no_such_account.txt.j2", missing, kind=ReplyKind.ERROR),)
        qualifications = ctx.assessments(kind="qualification", account=account.key)
        stages = ctx.assessments(kind="stage", account=account.key)
        plans = [p for p in ctx.plans() if p.account == account.key]
        trend = None
        if len(qualifications) >= 2:
            trend = qualifications[-1].result["percent"] - qualifications[0].result["percent"]
        values = {"account": account, "qualifications": qualifications, "stages": stages, "plans": plans}
        return (Reply("views/history.txt.j2", {**values, "trend": trend}, kind=ReplyKind.RESULT),)


class PlansView(View):
    """``/plans``: upcoming calls and their plans."""

    command = "plans"
    summary = "list your upcoming calls and how ready you are for each"

    def show(self, args: str, ctx: Context) -> tuple[Reply, ...]:
        names = {a.key: a.name for a in ctx.accounts()}
        upcoming = sorted(
            (p for p in ctx.plans() if p.call_at is not None and p.call_at >= ctx.now),
            key=lambda p: p.call_at or ctx.now,
        )
        rows = [{"plan": p, "account": names.get(p.account, p.account)} for p in upcoming]
        return (Reply("views/plans.txt.j2", {"rows": rows, "now": ctx.now}, kind=ReplyKind.RESULT),)


def _find(args: str, accounts: list[Account]) -> Account | None:
    key = account_key(args)
    return next((a for a in accounts if a.key == key), None) if key else None


VIEWS = (AccountsView(), HistoryView(), PlansView())
