"""Every conversation script in ``tests/scenarios``, on every channel driver; and the runner itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auxil.scenarios import (
    DRIVERS,
    all_scripts,
    engine_driver,
    load_script,
    run_on_engine,
    run_script,
    split_transcript,
    terminal_driver,
)

SCRIPTS = all_scripts()


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_scenario(path: Path, driver: str, tmp_path: Path) -> None:
    run_script(load_script(path), DRIVERS[driver](tmp_path / "data"))


# --- the runner ------------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_script_reads_and_says_what_it_shows() -> None:
    assert len(SCRIPTS) >= 12
    for path in SCRIPTS:
        assert load_script(path).description.strip(), path.name


def test_a_reply_that_misses_an_expectation_fails_and_shows_the_reply(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "description: a wrong expectation\nuser: ana\nturns:\n"
        "  - send: /qualify Acme\n    expect: ['question 1 of 29', 'question 9 of 29']\n"
        "    expect_re: ['of \\d+ ']\n    reject: ['What prompted you']\n",
    )
    with pytest.raises(AssertionError) as failed:
        run_on_engine(script, tmp_path / "data")
    message = str(failed.value)
    assert "after '/qualify Acme'" in message
    assert "missing 'question 9 of 29'" in message
    assert "no match for /of \\d+ /" in message
    assert "unwanted 'What prompted you'" in message
    assert "question 1 of 29" in message  # the reply is shown


def test_a_misspelled_key_is_an_error_not_an_empty_check(tmp_path: Path) -> None:
    script = write(tmp_path, "description: typo\nuser: ana\nturns:\n  - send: hi\n    expct: ['x']\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_script(script)


def test_restarts_split_a_script_into_segments(tmp_path: Path) -> None:
    script = load_script(
        write(
            tmp_path,
            "description: segments\nuser: ana\nopening: {expect: Hello}\nturns:\n"
            "  - send: a\n  - send: b\n  - restart: true\n    expect: [Welcome back]\n  - restart: true\n",
        )
    )
    assert [s.lines for s in script.segments] == [("a", "b"), (), ()]
    assert [s.opening.expect for s in script.segments] == [("Hello",), ("Welcome back",), ()]


def test_a_transcript_splits_at_the_echoed_lines() -> None:
    output = "Hi\n\nyou> one\nreply 1\nyou> one\nreply 2\nline 2\n\nBye for now. Saved."
    assert split_transcript(output, ["one", "one  "]) == ("Hi", ["reply 1", "reply 2\nline 2"], [])
    assert split_transcript("Hi\nBye for now.", []) == ("Hi", [], [])
    _, replies, errors = split_transcript("Hi\nyou> one\nreply", ["one", "two"])
    assert replies == ["reply", ""]
    assert errors == [
        "the console did not end with 'Bye for now.'",
        "the echo 'you> two' is missing from the transcript",
    ]


def test_the_terminal_shows_exactly_what_the_engine_driver_shows(tmp_path: Path) -> None:
    lines = ["/qualify Acme", "4 a note", "7", "/back", "skip step", "skip step", "2", "/status"]
    on_engine = engine_driver(tmp_path / "engine")("ana", lines)
    on_terminal = terminal_driver(tmp_path / "terminal")("ana", lines)
    assert on_engine.errors == on_terminal.errors == []
    assert on_terminal.opening == on_engine.opening
    assert on_terminal.replies == on_engine.replies
    assert "Fit decision: no." in on_terminal.replies[-2]
