"""The ``coach`` command as a user runs it."""

from __future__ import annotations

from pathlib import Path

from bot.knowledge import shipped_knowledge
from tests.auxil.cli import run_coach


def test_help_lists_the_subcommands() -> None:
    result = run_coach("--help")
    assert result.returncode == 0
    for command in ("chat", "knowledge"):
        assert command in result.stdout


def test_knowledge_check_summarizes_the_shipped_files() -> None:
    result = run_coach("knowledge", "check")
    assert result.returncode == 0, result.stderr
    assert "3 steps (14 + 8 + 6 = 28 questions)" in result.stdout
    assert "4 stages" in result.stdout
    assert "6 nested plans" in result.stdout
    assert "verbatim quotes checked against 5 seed documents" in result.stdout
    assert len(result.stdout.splitlines()) <= 24  # one screen


def test_knowledge_check_of_a_missing_folder_says_so() -> None:
    result = run_coach("knowledge", "check", "/no/such/folder")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_show_qualification_prints_every_question_and_the_fit_decision() -> None:
    result = run_coach("knowledge", "show", "qualification")
    assert result.returncode == 0, result.stderr
    for q in shipped_knowledge().qualification.questions:
        assert q.text in result.stdout
    assert "STEP 1: Discovery (14 questions)" in result.stdout
    assert "FIT DECISION (seed 001)" in result.stdout
    assert result.stdout.index("STEP 2") < result.stdout.index("FIT DECISION") < result.stdout.index("STEP 3")


def test_show_stages_by_its_short_name() -> None:
    result = run_coach("knowledge", "show", "stages")
    assert result.returncode == 0, result.stderr
    for name in ("TACTICAL", "OPERATIONAL", "FUNCTIONAL", "STRATEGIC"):
        assert name in result.stdout


def test_show_every_topic() -> None:
    for topic in ("planning", "onboarding", "selection"):
        result = run_coach("knowledge", "show", topic)
        assert result.returncode == 0, (topic, result.stderr)
        assert len(result.stdout.splitlines()) > 10


def test_show_unknown_topic_lists_the_known_ones() -> None:
    result = run_coach("knowledge", "show", "astrology")
    assert result.returncode == 2
    assert "unknown topic 'astrology'" in result.stderr
    assert "qualification" in result.stderr


def test_chat_greets_and_ends_cleanly_at_end_of_piped_input(tmp_path: Path) -> None:
    result = run_coach("chat", "--user", "Ana", "--data-dir", str(tmp_path), input="hello\n")
    assert result.returncode == 0, result.stderr
    assert "Hello! I am Account Coach" in result.stdout
    assert "There is no question open right now, so I did not save that." in result.stdout
    assert result.stdout.rstrip().endswith("picks up where you left off.")
