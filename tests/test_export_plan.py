"""`coach export-plan` writes an account's latest call plan as Markdown."""

from __future__ import annotations

from pathlib import Path

from tests.auxil.cli import run_coach

PLAN = "\n".join(
    [
        "/plan Acme",
        "2030-01-15 10:00",
        "Dana Lee, decision maker",
        "none",
        "agree a pilot",
        "cut costs",
        "known they value sustainability",
        "skip section",
        "skip section",
        "skip section",
        "none",
        "Competitor X",
        "",
    ]
)


def test_export_plan_writes_the_markdown_of_the_latest_plan(tmp_path: Path) -> None:
    data = tmp_path / "data"
    chat = run_coach(
        "chat", "--user", "ana", "--data-dir", str(data), "--files", str(tmp_path / "f"), input=PLAN
    )
    assert chat.returncode == 0, chat.stderr
    assert "Call plan: Acme, Tue 2030-01-15 10:00" in chat.stdout
    out = tmp_path / "plan.md"
    result = run_coach(
        "export-plan", "--user", "ana", "--account", " ACME ", "--data-dir", str(data), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    markdown = out.read_text(encoding="utf-8")
    assert markdown.startswith("# Call plan: Acme")
    assert "- **Dana Lee**: Decision maker" in markdown
    assert "**Mission, vision and values** (The customer's business): they value sustainability" in markdown
    assert "- Competitor X" in markdown
    assert markdown == (tmp_path / "f" / "call-plan-acme-2030-01-15.md").read_text(encoding="utf-8") + "\n"
    printed = run_coach(
        "export-plan", "--user", "ana", "--account", "acme", "--data-dir", str(data), "--out", "-"
    )
    assert printed.stdout.startswith("# Call plan: Acme")


def test_export_plan_without_a_plan_says_how_to_make_one(tmp_path: Path) -> None:
    run_coach("chat", "--user", "ana", "--data-dir", str(tmp_path), input="/qualify Acme\n")
    result = run_coach("export-plan", "--user", "ana", "--account", "Beta", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "ana has no call plan for 'Beta'; make one with `/plan Beta`" in result.stderr
