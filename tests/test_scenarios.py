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
    slack_driver,
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


CHOICES = (
    "description: choices\nuser: ana\nopening: {expect: [Hello]}\nturns:\n"
    "  - send: /qualify Acme\n  - send: skip step\n  - send: skip step\n"
    "    expect_text: ['1) Yes   2) No']\n    expect_buttons: ['Yes', 'No']\n"
)


def test_slack_has_no_opening_and_offers_choices_as_buttons(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, CHOICES))
    result = slack_driver(tmp_path / "data")("ana", script.segments[0].lines)
    assert result.errors == []
    assert result.opening is None
    assert result.buttons is not None
    assert result.buttons[-1] == ["Yes", "No"]
    assert "1) Yes" not in result.replies[-1]  # no numbers on buttons
    run_script(script, slack_driver(tmp_path / "again"))  # the opening check is skipped, the buttons pass


def test_expect_text_and_expect_buttons_are_checked_on_their_own_kind_of_channel(tmp_path: Path) -> None:
    wrong = CHOICES.replace("'Yes', 'No'", "'Yes', 'Maybe'").replace("2) No", "2) Maybe")
    script = load_script(write(tmp_path, wrong))
    with pytest.raises(AssertionError, match=r"no button 'Maybe'"):
        run_script(script, slack_driver(tmp_path / "slack"))
    with pytest.raises(AssertionError, match=r"missing '1\) Yes   2\) Maybe'"):
        run_script(script, engine_driver(tmp_path / "engine"))


def test_the_slack_driver_clicks_a_button_whose_label_is_the_line(tmp_path: Path) -> None:
    # "Yes" is a button label of the fit question: clicked, the clicked message shows the answer.
    lines = ["/qualify Acme", "skip step", "skip step", "Yes"]
    result = slack_driver(tmp_path / "data")("ana", lines)
    assert result.errors == []
    assert "Step 3: Rapport, trust and credibility with the individual" in result.replies[-1]
    assert "you clicked> Yes" in result.transcript
    assert "you> skip step" in result.transcript  # no button is labelled so: typed
