"""Account names as reps type them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.coaching.accounts import account_key, clean_name, match_account
from storage.base import Account

WHEN = datetime(2025, 3, 3, tzinfo=UTC)
ACME = Account("telegram:1", "acme", "Acme", WHEN)
GLOBEX = Account("telegram:1", "globex corporation", "Globex Corporation", WHEN)
ACCOUNTS = (ACME, GLOBEX)


@pytest.mark.parametrize(
    ("typed", "key", "name"),
    [
        pytest.param("  ACME  corp ", "acme corp", "ACME corp", id="trimmed-single-spaced-case-folded"),
        pytest.param("Acme", "acme", "Acme", id="plain"),
        pytest.param("Acme\tCorp\n", "acme corp", "Acme Corp", id="tabs-and-newlines"),
        pytest.param("Straße AG", "strasse ag", "Straße AG", id="casefold-not-just-lower"),
        pytest.param("   ", "", "", id="blank"),
    ],
)
def test_account_key_and_display_name(typed: str, key: str, name: str) -> None:
    assert account_key(typed) == key
    assert clean_name(typed) == name


@pytest.mark.parametrize(
    ("typed", "accounts", "key", "name", "existing", "suggestion"),
    [
        pytest.param("acme", ACCOUNTS, "acme", "Acme", True, None, id="existing-lowercase"),
        pytest.param("  ACME ", ACCOUNTS, "acme", "Acme", True, None, id="existing-shouted-with-spaces"),
        pytest.param(
            "globex  CORPORATION",
            ACCOUNTS,
            "globex corporation",
            "Globex Corporation",
            True,
            None,
            id="existing-two-words",
        ),
        pytest.param("Acmee", ACCOUNTS, "acmee", "Acmee", False, ACME, id="misspelling-suggests-acme"),
        pytest.param("Acm", ACCOUNTS, "acm", "Acm", False, ACME, id="missing-letter-suggests-acme"),
        pytest.param(
            "Globex Corporaton",
            ACCOUNTS,
            "globex corporaton",
            "Globex Corporaton",
            False,
            GLOBEX,
            id="typo-suggests-globex",
        ),
        pytest.param("Initech", ACCOUNTS, "initech", "Initech", False, None, id="unrelated-no-suggestion"),
        pytest.param(
            "Acme Logistics",
            ACCOUNTS,
            "acme logistics",
            "Acme Logistics",
            False,
            None,
            id="longer-name-no-suggestion",
        ),
        pytest.param("Acmee", (), "acmee", "Acmee", False, None, id="no-accounts-yet"),
    ],
)
def test_match_account(
    typed: str,
    accounts: tuple[Account, ...],
    key: str,
    name: str,
    existing: bool,
    suggestion: Account | None,
) -> None:
    match = match_account(typed, accounts)
    assert (match.key, match.name, match.existing) == (key, name, existing)
    assert match.suggestion == suggestion
