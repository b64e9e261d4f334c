"""Helpers shared by the dialogs about one account: the ``ACCOUNT`` argument and "did you mean ...?"."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from bot.coaching.accounts import MAX_NAME, match_account
from bot.dialogs.base import Context, Dialog, Draft, InputKind, Refused, Started, Step
from bot.messages import Choice, Reply, ReplyKind
from storage.base import Account

ACCOUNT_STEP = "account"


def account_of(meta: Mapping[str, Any], answers: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """The account (key, name) a run is about, once a suggested spelling was accepted or refused."""
    suggestion = meta.get("suggestion")
    chosen = answers.get(ACCOUNT_STEP, {}).get("value")
    if suggestion and chosen == "existing":
        return suggestion["key"], suggestion["name"]
    return meta["account"], meta["account_name"]


def start_for_account(args: str, ctx: Context, *, command: str, what: str) -> Started | Refused:
    """Accept ``/COMMAND ACCOUNT``: a known account, a new one, or a close misspelling to confirm."""
    name = " ".join(args.split())
    if not name:
        return Refused(
            Reply(
                "dialogs/need_account.txt.j2",
                {"command": command, "what": what, "accounts": [a.name for a in ctx.accounts()]},
                kind=ReplyKind.ERROR,
            )
        )
    if len(name) > MAX_NAME:
        return Refused(
            Reply(
                "dialogs/account_too_long.txt.j2",
                {"limit": MAX_NAME, "length": len(name)},
                kind=ReplyKind.ERROR,
            )
        )
    match = match_account(name, ctx.accounts())
    meta: dict[str, Any] = {"account": match.key, "account_name": match.name, "new": not match.existing}
    if match.suggestion is not None:
        meta["suggestion"] = {"key": match.suggestion.key, "name": match.suggestion.name}
    return Started(meta=meta)


def account_step(meta: Mapping[str, Any]) -> list[Step]:
    """A first step asking 'did you mean ...?' when the typed name is close to an existing account."""
    suggestion = meta.get("suggestion")
    if not suggestion:
        return []
    return [
        Step(
            id=ACCOUNT_STEP,
            prompt="dialogs/did_you_mean.txt.j2",
            kind=InputKind.CHOICE,
            label="Account",
            values={"typed": meta["account_name"], "suggestion": suggestion["name"]},
            choices=(
                Choice(f"Yes, {suggestion['name']}", "existing"),
                Choice(f"No, a new account: {meta['account_name']}", "new"),
            ),
        )
    ]


def new_account_if_unknown(ctx: Context, key: str, name: str) -> tuple[Account, ...]:
    """The account to create when a dialog completes about a name the rep has not used before."""
    if any(a.key == key for a in ctx.accounts()):
        return ()
    return (Account(person_id=ctx.person_id, key=key, name=name, created_at=ctx.now),)


class AccountDialog(Dialog):
    """A dialog about one account: ``/COMMAND ACCOUNT``, with "did you mean ...?" as its first step."""

    usage = "ACCOUNT"
    #: what the rep does to the account, for the "which account?" reply ("qualify").
    verb: ClassVar[str]
    #: how a run is named in /status and pause questions ("qualification of").
    subject: ClassVar[str]

    def start(self, args: str, ctx: Context) -> Started | Refused:
        return start_for_account(args, ctx, command=self.command, what=self.verb)

    def describe(self, draft: Draft) -> str:
        return f"{self.subject} {account_of(draft.meta, draft.answers)[1]}"

    def steps(self, draft: Draft, ctx: Context) -> Sequence[Step]:
        return [*account_step(draft.meta), *self.account_steps(ctx)]

    @abc.abstractmethod
    def account_steps(self, ctx: Context) -> Sequence[Step]:
        """The dialog's own steps, after the account is settled."""
