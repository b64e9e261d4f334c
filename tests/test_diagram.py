"""`coach diagram` draws each dialog from its declaration, and docs/dialogs.md shows the current ones."""

from __future__ import annotations

import re
from pathlib import Path

from bot.dialogs import registry
from bot.knowledge import shipped_knowledge
from tests.auxil.cli import run_coach

DOCS = Path(__file__).resolve().parents[1] / "docs" / "dialogs.md"


def test_qualification_diagram_has_every_question_and_the_fit_branch() -> None:
    result = run_coach("diagram", "qualification")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2"
    states = re.findall(r'^\s+state "[^"]+" as (\w+)$', result.stdout, re.MULTILINE)
    questions = [q.id for q in shipped_knowledge().qualification.questions]
    assert states == [*questions[:22], "fit", *questions[22:], "done"]
    assert "    [*] --> s1_prompted : /qualify ACCOUNT" in lines
    assert "    fit --> s3_involved : there is a fit" in lines
    assert "    fit --> done : otherwise" in lines
    assert "    s3_measure --> done" in lines


def test_a_command_name_works_too_and_an_unknown_dialog_is_named() -> None:
    assert run_coach("diagram", "qualify").stdout == run_coach("diagram", "qualification").stdout
    result = run_coach("diagram", "astrology")
    assert result.returncode == 2
    assert "unknown dialog 'astrology'" in result.stderr
    assert "qualification" in result.stderr


def test_docs_dialogs_md_matches_the_code() -> None:
    result = run_coach("diagram", "--markdown")
    assert result.returncode == 0, result.stderr
    assert DOCS.read_text(encoding="utf-8").strip() == result.stdout.strip(), (
        "docs/dialogs.md is stale: regenerate it with `coach diagram --markdown > docs/dialogs.md`"
    )
    for dialog in registry().values():
        assert f"## {dialog.title}" in result.stdout
