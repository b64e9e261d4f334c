"""Account names as reps type them: trimmed, case-insensitive, with a suggestion for close misspellings."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from storage.base import Account

MAX_NAME = 80


def account_key(name: str) -> str:
    """The key an account is stored under: single-spaced and case-folded."""
    return " ".join(name.split()).casefold()


def clean_name(name: str) -> str:
    """The display name: single-spaced, as typed."""
    return " ".join(name.split())


@dataclass(frozen=True, slots=True)
class Match:
    """How a typed name relates to the rep's accounts."""

    key: str
    name: str
    existing: bool
    suggestion: Account | None = None


def match_account(typed: str, accounts: Sequence[Account]) -> Match:
    """Find an account by name; for a new name close to an existing one, suggest that one."""
    name = clean_name(typed)
    key = account_key(name)
    for account in accounts:
        if account.key == key:
            return Match(account.key, account.name, existing=True)
    close = difflib.get_close_matches(key, [a.key for a in accounts], n=1, cutoff=0.75)
    suggestion = next((a for a in accounts if close and a.key == close[0]), None)
    return Match(key, name, existing=False, suggestion=suggestion)
