"""The managers' weekly digest: from the terminal (reps chat, the manager prints it), built from records
at explicit times (what counts in the week and what does not), the chart and the numbers behind it, and
``coach digest --send`` over the Slack and Telegram fakes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.coaching.digest import NOT_ASSESSED, Digest, build_digest, chart_data, stage_chart
from bot.rendering import render
from storage.base import ModuleProgress, Person, PersonData, Role, utcnow
from storage.tinydb_store import TinyDBStore
from tests.auxil.cli import run_coach
from tests.auxil.slack_app import message_text, plain
from tests.auxil.slack_fake import SlackFake
from tests.auxil.telegram_fake import TelegramFake
from tests.team_data import (
    KB,
    QUALIFY_ANSWERS,
    STAGE_NAMES,
    STEP_TITLES,
    account,
    call,
    person_data,
    qualification,
    stage,
)

PNG = b"\x89PNG\r\n\x1a\n"
END = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # a Monday morning: the digest covers the 7 days before
START = END - timedelta(days=7)
LONG_AGO = END - timedelta(days=90)
SECOND = timedelta(seconds=1)
MANAGER = Person(id="maria", name="Maria", role=Role.MANAGER.value, created_at=LONG_AGO)
TACTICAL, OPERATIONAL, FUNCTIONAL, STRATEGIC = STAGE_NAMES
MODULES = len(KB.onboarding.modules)


def rep(person_id: str, *, new_hire: bool = False) -> Person:
    return Person(
        id=person_id,
        name=person_id.title(),
        manager_id=MANAGER.id,
        new_hire=new_hire,
        created_at=LONG_AGO,
    )


def digest_of(*team: tuple[Person, PersonData], end: datetime = END) -> Digest:
    return build_digest(MANAGER, list(team), KB, end=end)


def rounded(percent: float | None) -> float | None:
    return None if percent is None else round(percent, 1)


def text_of(digest: Digest) -> str:
    """The digest as a manager reads it in chat (plain text)."""
    return render("digest/digest.txt.j2", digest=digest)


# --- from the terminal --------------------------------------------------------------------------------------
def test_two_reps_qualify_in_the_terminal_and_the_manager_prints_the_digest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = TinyDBStore(data)
    store.put_person(Person(id="maria", name="Maria", role=Role.MANAGER.value, created_at=LONG_AGO))
    store.put_person(Person(id="ana", name="Ana", manager_id="maria", created_at=LONG_AGO))
    store.put_person(Person(id="bruno", name="Bruno", manager_id="maria", created_at=LONG_AGO))
    store.put_person(Person(id="zoe", name="Zoe", created_at=LONG_AGO))  # in no team, busy too
    with store.person("zoe") as tx:
        tx.put_account(account("zoe", "Hooli", utcnow()))
        tx.append_assessment(qualification("zoe", "Hooli", utcnow()))
    store.close()
    no_fit = ("3",) * 14 + ("2",) * 8 + ("no",)  # Step 3 is not asked without a fit
    for user, company, answers in (
        ("ana", "Globex", QUALIFY_ANSWERS),
        ("bruno", "Initech", no_fit),
    ):
        lines = "\n".join((f"/qualify {company}", *answers)) + "\n"
        chat = run_coach("chat", "--user", user, "--data-dir", str(data), input=lines)
        assert chat.returncode == 0, chat.stderr
        assert f"Qualification of {company}" in chat.stdout

    chart = tmp_path / "chart.png"
    result = run_coach(
        "digest", "--manager", "maria", "--print", "--chart", str(chart), "--data-dir", str(data)
    )

    assert result.returncode == 0, result.stderr
    shown = result.stdout  # Markdown
    assert shown.startswith("**Weekly digest for Maria's team")
    assert "**Ana**: 1 dialog completed, 0 call plans made" in shown
    assert "Qualified Globex: 110/140 (78.6%), Strong fit (fit decision: yes)" in shown
    assert "**Bruno**: 1 dialog completed, 0 call plans made" in shown
    assert "Qualified Initech: 58/110 (52.7%)" in shown
    assert "(fit decision: no)" in shown
    assert "Zoe" not in shown
    assert "Hooli" not in shown
    assert f"{STEP_TITLES[0]}: 70%" in shown  # (80% + 60%) / 2
    assert f"Chart written to {chart}." in result.stderr
    assert chart.read_bytes().startswith(PNG)


def test_digest_of_someone_not_a_manager_or_not_in_the_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = TinyDBStore(data)
    store.put_person(Person(id="ana", name="Ana"))
    store.close()

    rep_asks = run_coach("digest", "--manager", "ana", "--print", "--data-dir", str(data))
    assert rep_asks.returncode == 1
    assert rep_asks.stderr.startswith("error: ana is not a manager or admin: The digest is for managers")
    assert rep_asks.stdout == ""


# --- what counts in the week --------------------------------------------------------------------------------
def test_qualifications_count_in_their_week_only() -> None:
    ana = rep("ana")
    data = person_data(
        "ana",
        accounts=[account("ana", n, LONG_AGO) for n in ("Globex", "Initech", "Hooli", "Umbrella", "Soylent")],
        assessments=[
            qualification("ana", "Globex", START - SECOND),  # the week before
            qualification("ana", "Initech", START, scores=(5, 5, 5)),  # the first moment of the week
            qualification("ana", "Hooli", END - SECOND, scores=(2, 2, 2)),  # the last
            qualification("ana", "Umbrella", END),  # already next week
            qualification("ana", "Soylent", END - timedelta(days=1), practice=True),  # onboarding practice
        ],
    )

    week = digest_of((ana, data)).reps[0]

    assert week.completed == 2
    assert [(q["account"], q["total"], q["maximum"], q["percent"]) for q in week.qualifications] == [
        ("Initech", 140, 140, 100.0),
        ("Hooli", 56, 140, 40.0),
    ]
    assert "Qualified Initech: 140/140 (100.0%)" in text_of(digest_of((ana, data)))


def test_stage_movements_up_and_down_are_listed_and_unchanged_ones_not() -> None:
    bruno = rep("bruno")
    names = ("Globex", "Initech", "Hooli", "Umbrella")
    data = person_data(
        "bruno",
        accounts=[account("bruno", n, LONG_AGO) for n in names],
        assessments=[
            stage("bruno", "Globex", START - timedelta(days=10), 1),
            stage("bruno", "Globex", START + timedelta(days=1), 2, previous=1),  # up
            stage("bruno", "Initech", START - timedelta(days=10), 3),
            stage("bruno", "Initech", START + timedelta(days=2), 2, previous=3),  # down
            stage("bruno", "Hooli", START - timedelta(days=10), 2),
            stage("bruno", "Hooli", START + timedelta(days=3), 2, previous=2),  # the same
            stage("bruno", "Umbrella", START + timedelta(days=3), 4),  # the first assessment
        ],
    )

    digest = digest_of((bruno, data))
    week = digest.reps[0]

    assert [(m["account"], m["direction"], m["from"], m["to"]) for m in week.moves] == [
        ("Globex", "up", TACTICAL, OPERATIONAL),
        ("Initech", "down", FUNCTIONAL, OPERATIONAL),
    ]
    assert week.completed == 4
    shown = text_of(digest)
    assert f"Globex moved up: {TACTICAL} -> {OPERATIONAL}" in shown
    assert f"Initech moved down: {FUNCTIONAL} -> {OPERATIONAL}" in shown
    assert "Hooli moved" not in shown
    assert "Umbrella moved" not in shown


def test_plans_made_upcoming_calls_and_calls_without_a_plan() -> None:
    carla = rep("carla")
    data = person_data(
        "carla",
        accounts=[account("carla", n, LONG_AGO) for n in ("Globex", "Initech", "Hooli", "Umbrella")],
        plans=[
            call("carla", "Globex", created_at=START + timedelta(days=1), call_at=END + timedelta(hours=3)),
            call("carla", "Initech", created_at=START - SECOND, call_at=START + timedelta(days=1)),
            call(  # noted with /call only: no plan made
                "carla",
                "Hooli",
                created_at=START + timedelta(days=2),
                call_at=END + timedelta(days=6, hours=23),
                planned=False,
            ),
            call(  # beyond the coming week
                "carla", "Umbrella", created_at=START + timedelta(days=2), call_at=END + timedelta(days=7)
            ),
            call("carla", "Globex", created_at=START + timedelta(days=3), call_at=None),  # no date
        ],
    )

    digest = digest_of((carla, data))
    week = digest.reps[0]

    assert week.plans_made == 3  # Globex twice, Umbrella; not Initech (last week) nor Hooli (no plan)
    assert [(u["account"], u["planned"], u["readiness"]) for u in week.upcoming] == [
        ("Globex", True, 70),
        ("Hooli", False, None),
    ]
    shown = text_of(digest)
    assert "Call with Globex on Mon 09 Mar 10:00: planned, readiness 70/100" in shown
    assert "Call with Hooli on Mon 16 Mar 06:00: no plan yet" in shown
    assert "Umbrella" not in shown
    assert any("Carla has a call with Hooli coming up without a plan" in s for s in digest.suggestions)


def test_accounts_inactive_for_30_days_or_more() -> None:
    dora = rep("dora")
    data = person_data(
        "dora",
        accounts=[
            account("dora", "Globex", END - timedelta(days=45)),  # nothing since
            account("dora", "Initech", END - timedelta(days=45)),  # qualified 10 days ago
            account("dora", "Hooli", END - timedelta(days=29)),  # new
            account("dora", "Umbrella", END - timedelta(days=60)),  # a plan made 31 days ago
            account("dora", "Soylent", END - timedelta(days=60)),  # a stage assessed 5 days ago
        ],
        assessments=[
            qualification("dora", "Initech", END - timedelta(days=10)),
            stage("dora", "Soylent", END - timedelta(days=5), 1),
        ],
        plans=[call("dora", "Umbrella", created_at=END - timedelta(days=31), call_at=None)],
    )

    digest = digest_of((dora, data))

    assert digest.reps[0].inactive == ("Globex", "Umbrella")
    assert "No activity for 30+ days: Globex, Umbrella" in text_of(digest)


def test_onboarding_progress_of_new_hires_only() -> None:
    modules = [m.id for m in KB.onboarding.modules]
    progress = [
        ModuleProgress(modules[0], "done", updated_at=START),
        ModuleProgress(modules[1], "done", updated_at=START),
        ModuleProgress(modules[2], "started", updated_at=START),
    ]
    new = rep("emil", new_hire=True)
    old = rep("fay")

    digest = digest_of(
        (new, person_data("emil", onboarding=progress)), (old, person_data("fay", onboarding=progress))
    )

    assert [r.onboarding for r in digest.reps] == [(2, MODULES), None]
    shown = text_of(digest)
    assert "Emil (new hire): 0 dialogs completed" in shown
    assert f"Onboarding: 2 of {MODULES} modules done" in shown
    assert shown.count("Onboarding:") == 1
    assert any("Check in on onboarding with Emil" in s for s in digest.suggestions)


def test_team_step_averages_against_the_previous_week() -> None:
    ana, bruno = rep("ana"), rep("bruno")
    ana_data = person_data(
        "ana",
        accounts=[account("ana", "Globex", LONG_AGO)],
        assessments=[
            qualification("ana", "Globex", START - timedelta(days=3), scores=(5, 5, 5)),  # previous week
            qualification("ana", "Globex", START + timedelta(days=3), scores=(4, 3, 5)),
            qualification("ana", "Globex", START - timedelta(days=8), scores=(1, 1, 1)),  # before that
        ],
    )
    bruno_data = person_data(
        "bruno",
        accounts=[account("bruno", "Initech", LONG_AGO)],
        assessments=[
            qualification("bruno", "Initech", START - timedelta(days=1), scores=(3, 5, 5)),
            qualification("bruno", "Initech", START + timedelta(days=1), scores=(2, 3, 5)),
        ],
    )

    digest = digest_of((ana, ana_data), (bruno, bruno_data))

    assert [(title, rounded(now), rounded(before)) for title, now, before in digest.step_averages] == [
        (STEP_TITLES[0], 60.0, 80.0),
        (STEP_TITLES[1], 60.0, 100.0),
        (STEP_TITLES[2], 100.0, 100.0),
    ]
    shown = text_of(digest)
    assert f"{STEP_TITLES[0]}: 60% (previous week 80%)" in shown
    assert f"{STEP_TITLES[0]} scores fell from 80% to 60%: review one of those calls together." in (
        digest.suggestions
    )
    # No qualification at all in either week: said so, not 0%.
    empty = digest_of((ana, person_data("ana")))
    assert all(now is None and before is None for _, now, before in empty.step_averages)
    assert f"{STEP_TITLES[0]}: no qualifications" in text_of(empty)


def busy_week() -> list[tuple[Person, PersonData]]:
    """Every reason for a suggestion at once: weak answers, a falling step, a quiet rep, a call without a
    plan, untouched accounts, onboarding behind."""
    ana, bruno = rep("ana"), rep("bruno", new_hire=True)
    ana_data = person_data(
        "ana",
        accounts=[account("ana", "Globex", LONG_AGO), account("ana", "Initech", LONG_AGO)],
        assessments=[
            qualification("ana", "Globex", START - timedelta(days=2), scores=(5, 5, 5)),
            qualification("ana", "Globex", START + timedelta(days=2), scores=(2, 2, 2)),
        ],
        plans=[
            call("ana", "Globex", created_at=START, call_at=END + timedelta(days=1), planned=False),
        ],
    )
    return [(ana, ana_data), (bruno, person_data("bruno"))]


def test_three_suggestions_in_a_busy_week_most_useful_first() -> None:
    digest = digest_of(*busy_week())

    assert len(digest.suggestions) == 3
    first, second, third = digest.suggestions
    assert first.startswith("Coach the team on ")
    assert "averaged 2.0 of 5 this week" in first
    assert second == f"{STEP_TITLES[0]} scores fell from 100% to 40%: review one of those calls together."
    assert third == "No coaching dialogs this week from Bruno: ask what is coming up."
    shown = text_of(digest)
    assert re.search(r"Coaching suggestions \(ours\)\n  1\. .+\n  2\. .+\n  3\. .+$", shown)


def test_three_suggestions_in_a_good_week_too() -> None:
    """The digest promises three coaching suggestions; a week where everyone qualified an account and
    nothing is wrong still gets three."""
    ana, bruno = rep("ana"), rep("bruno")
    team = [
        (
            person,
            person_data(
                person.id,
                accounts=[account(person.id, company, START)],
                assessments=[qualification(person.id, company, START + timedelta(days=2))],
            ),
        )
        for person, company in ((ana, "Globex"), (bruno, "Initech"))
    ]

    digest = digest_of(*team)

    assert len(digest.suggestions) == 3, digest.suggestions
    assert len(set(digest.suggestions)) == 3


# --- the chart ----------------------------------------------------------------------------------------------
def test_the_chart_is_a_png_of_accounts_by_stage_per_rep() -> None:
    ana, bruno, carla = rep("ana"), rep("bruno"), rep("carla")
    ana_data = person_data(
        "ana",
        accounts=[account("ana", n, LONG_AGO) for n in ("Globex", "Initech", "Hooli", "Umbrella")],
        assessments=[
            stage("ana", "Globex", START - timedelta(days=20), 1),
            stage("ana", "Globex", START + timedelta(days=1), 2, previous=1),  # latest: Operational
            stage("ana", "Initech", START - timedelta(days=30), 4),
            stage("ana", "Hooli", START - timedelta(days=5), 2),
            stage("ana", "Hooli", END + timedelta(hours=1), 3, previous=2),  # after the week: not yet
        ],
    )
    bruno_data = person_data(
        "bruno",
        accounts=[account("bruno", n, LONG_AGO) for n in ("Soylent", "Tyrell")],
        assessments=[stage("bruno", "Soylent", START, 1), stage("bruno", "Tyrell", START, 1)],
    )

    digest = digest_of((ana, ana_data), (bruno, bruno_data), (carla, person_data("carla")))
    png = stage_chart(digest)

    assert png.startswith(PNG)
    assert chart_data(digest) == {
        "Ana": {TACTICAL: 0, OPERATIONAL: 2, FUNCTIONAL: 0, STRATEGIC: 1, NOT_ASSESSED: 1},
        "Bruno": {TACTICAL: 2, OPERATIONAL: 0, FUNCTIONAL: 0, STRATEGIC: 0, NOT_ASSESSED: 0},
        "Carla": {TACTICAL: 0, OPERATIONAL: 0, FUNCTIONAL: 0, STRATEGIC: 0, NOT_ASSESSED: 0},
    }


def test_the_chart_of_a_team_without_reps() -> None:
    digest = build_digest(MANAGER, [], KB, end=END)

    assert stage_chart(digest).startswith(PNG)
    assert chart_data(digest) == {}
    assert "No reps in this team yet: add them with coach team add-rep NAME --manager maria" in text_of(
        digest
    )


# --- coach digest --send ------------------------------------------------------------------------------------
@pytest.fixture
def team_dir(tmp_path: Path) -> Path:
    """A manager (a Slack and a Telegram identity) with two reps who worked this week, in real time: the
    command builds the digest for now."""
    now = utcnow()
    data = tmp_path / "data"
    store = TinyDBStore(data)
    for manager in ("slack:U0MARIA01", "telegram:4567"):
        store.put_person(Person(id=manager, name="Maria", role=Role.MANAGER.value, created_at=LONG_AGO))
    for person_id, company, manager in (
        ("ana", "Globex", "slack:U0MARIA01"),
        ("bruno", "Initech", "slack:U0MARIA01"),
        ("carla", "Hooli", "telegram:4567"),
    ):
        store.put_person(Person(id=person_id, name=person_id.title(), manager_id=manager))
        with store.person(person_id) as tx:
            tx.put_account(account(person_id, company, now - timedelta(days=3)))
            tx.append_assessment(qualification(person_id, company, now - timedelta(days=2)))
            tx.append_assessment(stage(person_id, company, now - timedelta(days=1), 2))
    store.close()
    return data


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    fake = SlackFake().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram() -> Iterator[TelegramFake]:
    fake = TelegramFake().start()
    yield fake
    fake.stop()


def test_send_posts_the_digest_to_the_managers_slack_dm_with_the_chart(
    team_dir: Path, slack: SlackFake
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1111-2222-test-token",
        "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
        "SLACK_API_URL": slack.url,
        "TELEGRAM_BOT_TOKEN": "",
    }

    result = run_coach("digest", "--manager", "U0MARIA01", "--send", "--data-dir", str(team_dir), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Digest sent to slack:U0MARIA01 over Slack."
    assert [c.args.get("users") for c in slack.of("conversations.open")] == ["U0MARIA01"]
    posted = slack.of("chat.postMessage")
    assert {c.args["channel"] for c in posted} == {"DU0MARIA01"}
    shown = "\n".join(
        plain(message_text({"text": c.args.get("text"), "blocks": c.args.get("blocks")})) for c in posted
    )
    assert "Weekly digest for Maria's team" in shown
    assert "Ana: 2 dialogs completed" in shown
    assert "Qualified Globex: 110/140 (78.6%)" in shown
    assert "Bruno: 2 dialogs completed" in shown
    assert "Qualified Initech" in shown
    assert "Carla" not in shown
    assert "Hooli" not in shown
    (ask,) = slack.of("files.getUploadURLExternal")
    assert ask.args["filename"].endswith(".png")
    (upload,) = slack.of("upload")
    assert upload.raw.startswith(PNG)
    assert int(ask.args["length"]) == len(upload.raw)
    (complete,) = slack.of("files.completeUploadExternal")
    assert complete.args["channel_id"] == "DU0MARIA01"
    assert [f["id"] for f in complete.args["files"]] == [ask.response["file_id"]]


def test_send_over_telegram_sends_the_digest_and_the_chart(team_dir: Path, telegram: TelegramFake) -> None:
    env = {
        "SLACK_BOT_TOKEN": "",
        "TELEGRAM_BOT_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
        "TELEGRAM_API_URL": telegram.url,
    }

    result = run_coach("digest", "--manager", "telegram:4567", "--send", "--data-dir", str(team_dir), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Digest sent to telegram:4567 over Telegram."
    messages = telegram.of("sendMessage")
    assert messages
    assert {c.args["chat_id"] for c in messages} == {4567}
    assert all(c.error is None for c in messages), [c.error for c in messages]
    shown = "\n".join(str(c.result["text"]) for c in messages)
    assert "Weekly digest for Maria's team" in shown
    assert "Carla: 2 dialogs completed" in shown
    assert "Qualified Hooli: 110/140 (78.6%)" in shown
    assert "Ana" not in shown
    assert "Globex" not in shown
    (photo,) = telegram.of("sendPhoto")
    assert photo.args["chat_id"] == 4567
    assert photo.files["photo"].startswith(PNG)
    assert photo.error is None
