"""The engine in-process, on the real TinyDB store: re-deliveries, buttons, forms, corrections, expiry,
what is stored at the end of a run, and concurrent messages. Time is given on each message (``at=``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.dialogs import registry
from bot.dialogs.base import Completion, Context, Dialog, Draft, InputKind, Step
from bot.engine import Engine
from bot.knowledge import shipped_knowledge
from bot.messages import Action, Channel, Incoming, Reply
from storage.base import Answer, Store
from storage.tinydb_store import TinyDBStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANA = "ana"
INTERNAL_ERROR = "Something went wrong on my side"


def plain(replies: Sequence[Reply]) -> str:
    """The replies as a terminal shows them."""
    return "\n\n".join(r.text() for r in replies)


@dataclass
class Chat:
    """One person talking to an engine; each message is a minute after the last unless ``at`` says."""

    engine: Engine
    person: str = ANA
    now: datetime = T0
    count: int = 0
    last: list[Reply] = field(default_factory=list)

    def send(
        self,
        text: str = "",
        *,
        at: datetime | None = None,
        action: Action | None = None,
        form: Mapping[str, str] | None = None,
        message_id: str | None = None,
        channel: Channel = Channel.TERMINAL,
    ) -> str:
        """Send one message; returns the replies' plain text (also kept in ``last``)."""
        self.count += 1
        self.now = at or self.now + timedelta(minutes=1)
        incoming = Incoming(
            channel=channel,
            person_id=self.person,
            text=text,
            action=action,
            form=form,
            message_id=message_id or f"m{self.count}",
            at=self.now,
        )
        self.last = self.engine.handle(incoming)
        shown = plain(self.last)
        assert INTERNAL_ERROR not in shown
        return shown

    def sends(self, *texts: str) -> str:
        """Send several messages; returns the replies to the last."""
        shown = ""
        for text in texts:
            shown = self.send(text)
        return shown

    @property
    def step(self) -> str | None:
        """The id of the question the last replies asked."""
        asked = [r.step for r in self.last if r.step is not None]
        return asked[-1] if asked else None


@pytest.fixture
def store(tmp_path: Path) -> TinyDBStore:
    return TinyDBStore(tmp_path / "data")


@pytest.fixture
def chat(store: TinyDBStore) -> Chat:
    return Chat(Engine(store))


def answers_by_question(store: Store, person: str = ANA) -> dict[str, list[Answer]]:
    found: dict[str, list[Answer]] = {}
    for answer in store.read_person(person).answers:
        found.setdefault(answer.question, []).append(answer)
    return found


# --- delivery --------------------------------------------------------------------------------------------
def test_a_redelivered_message_is_answered_once_and_stored_once(chat: Chat, store: TinyDBStore) -> None:
    chat.send("/qualify Acme", message_id="m-start")
    assert "question 2 of 29" in chat.send("4", message_id="m-answer")
    assert chat.send("4", message_id="m-answer") == ""
    assert chat.last == []
    # after a restart (a new store and engine on the same data) the platform retries once more
    restarted = Chat(Engine(TinyDBStore(store.root)), now=chat.now)
    assert restarted.send("4", message_id="m-answer") == ""
    status = chat.send("/status")
    assert "question 2 of 29" in status
    assert "1. What prompted the search: 4" in status
    # the same id from another channel is another message
    assert "question 3 of 29" in chat.send("3", message_id="m-answer", channel=Channel.SLACK)
    chat.sends("skip step", "skip step", "no")
    stored = answers_by_question(store)
    assert [a.value for a in stored["s1_prompted"]] == [4]
    assert [a.value for a in stored["s1_expectations"]] == [3]
    assert len(store.read_person(ANA).assessments) == 1


def test_a_click_on_an_earlier_questions_button_is_refused_and_changes_nothing(chat: Chat) -> None:
    chat.send("/qualify Acme")
    first = chat.step
    assert first == "s1_prompted"
    chat.send("4")
    second = chat.step
    refused = chat.send(action=Action(first, "1"))
    assert "That button belongs to an earlier question" in refused
    assert "question 2 of 29" in refused
    assert chat.step == second
    status = chat.send("/status")
    assert "1. What prompted the search: 4" in status
    assert "2. Expectations and requirements: <- current question" in status
    # a click on the current question's button counts
    assert "question 3 of 29" in chat.send(action=Action(second, "5"))
    assert "2. Expectations and requirements: 5" in chat.send("/status")


def test_an_earlier_questions_yes_button_does_not_confirm_a_cancel(chat: Chat) -> None:
    chat.sends("/qualify Acme", "4", "skip step", "skip step")
    fit = chat.step
    assert fit == "fit"
    assert "question 24 of 29" in chat.send("yes")
    assert "Cancel the qualification of Acme?" in chat.send("/cancel")
    # the person clicks the Yes of the fit question, further up in the chat
    clicked = chat.send(action=Action(fit, "yes"))
    assert "Cancelled" not in clicked
    status = chat.send("/status")
    assert "Now: qualification of Acme, question 24 of 29" in status
    assert "1. What prompted the search: 4" in status


# --- forms -----------------------------------------------------------------------------------------------
STEP1 = [q.id for q in shipped_knowledge().qualification.steps[0].questions]


def test_a_form_with_one_invalid_answer_changes_nothing_and_says_which(chat: Chat) -> None:
    chat.send("/qualify Acme")
    form = {step: "4" for step in STEP1}
    form["s1_expectations"] = "9"
    refused = chat.send(form=form)
    assert "I could not take the form: nothing of it was saved" in refused
    assert "Expectations and requirements: 9 is not on the scale" in refused
    assert "What prompted the search:" not in refused  # only the wrong answer is named
    assert "question 1 of 29" in refused
    status = chat.send("/status")
    assert "1. What prompted the search: <- current question" in status
    assert "2. Expectations and requirements: (not answered)" in status


def test_a_form_naming_a_question_of_no_dialog_changes_nothing(chat: Chat) -> None:
    chat.send("/qualify Acme")
    refused = chat.send(form={"s1_prompted": "4", "favourite_colour": "blue"})
    assert "favourite_colour: this question is not part of the current dialog" in refused
    assert "1. What prompted the search: <- current question" in chat.send("/status")


def test_a_valid_form_records_every_answer_and_moves_on(chat: Chat, store: TinyDBStore) -> None:
    chat.send("/qualify Acme")
    form = {step: "4" for step in STEP1}
    form["s1_what_mean"] = "2 they mean a faster month-end close"
    form["s1_other_items"] = "skip"
    moved = chat.send(form=form)
    assert "Step 2: Timeline, budget, decision and concerns" in moved
    assert "question 15 of 29" in moved
    status = chat.send("/status")
    assert "9. Meaning of their terms: 2 (they mean a faster month-end close)" in status
    assert "14. Other items to discuss: skipped (does not apply)" in status
    fit = chat.sends("skip step")
    assert "Step 1 (Discovery): 50/65, 1 skipped" in fit
    result = chat.send("no")
    assert "Step 1 (Discovery): 50/65 (1 skipped)" in result
    stored = answers_by_question(store)
    assert all(len(stored[step]) == 1 for step in STEP1)
    assert stored["s1_what_mean"][0].note == "they mean a faster month-end close"


# --- corrections -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["0", "30", "-1", "x", "2.5", "1 2", "²"])
def test_edit_with_a_bad_number_changes_nothing(chat: Chat, given: str) -> None:
    chat.sends("/qualify Acme", "4", "4")
    refused = chat.send(f"/edit {given}")
    assert "is not a question number" in refused
    assert "with N from 1 to 29 (answered so far: 1, 2)" in refused
    assert "Nothing was changed." in refused
    assert "question 3 of 29" in refused
    assert "question 4 of 29" in chat.send("5")


def test_edit_without_a_number_asks_which(chat: Chat) -> None:
    chat.sends("/qualify Acme", "4")
    refused = chat.send("/edit")
    assert "Which question? Send /edit N with N from 1 to 29" in refused
    assert "question 2 of 29" in refused


def test_edit_of_a_question_not_asked_yet_changes_nothing(chat: Chat) -> None:
    chat.sends("/qualify Acme", "4", "4")
    refused = chat.send("/edit 5")
    assert "Question 5 has not been asked yet; you are at question 3. Nothing was changed." in refused
    assert "question 3 of 29" in refused
    assert "4. How they see it happening: (not answered)" in chat.send("/status")
    # the current question itself may be "edited": it is simply asked
    assert "question 3 of 29" in chat.send("/edit 3")


@pytest.mark.parametrize("given", ["0", "2", "x", "²"])
def test_resume_with_a_bad_number_changes_nothing(chat: Chat, given: str) -> None:
    chat.sends("/qualify Acme", "4", "/qualify Beta", "yes", "/cancel", "yes")
    refused = chat.send(f"/resume {given}")
    assert "is not one of your paused dialogs" in refused
    assert "1. qualification of Acme (1 answered)" in refused
    assert "1. qualification of Acme (1 answered)" in chat.send("/status")
    assert "question 2 of 29" in chat.send("/resume 1")


def test_a_digit_lookalike_at_a_choice_question_is_refused(chat: Chat) -> None:
    chat.sends("/qualify Acme", "skip step", "skip step", "no")
    assert "Did you mean Acme?" in chat.send("/qualify Acmee")
    refused = chat.send("²")
    assert "Please pick one of: 1. Yes, Acme; 2. No, a new account: Acmee" in refused
    assert "Did you mean Acme?" in refused


def test_skip_is_refused_on_the_required_fit_question(chat: Chat) -> None:
    chat.sends("/qualify Acme", "skip step", "skip step")
    assert chat.step == "fit"
    refused = chat.send("/skip")
    assert '"Fit decision" is required, so it cannot be skipped' in refused
    assert "yes or no" in refused
    assert "question 23 of 29" in refused
    assert chat.step == "fit"
    assert "23. Fit decision: <- current question" in chat.send("/status")


def test_skip_on_a_score_question_marks_it_as_not_applying(chat: Chat) -> None:
    chat.send("/qualify Acme")
    assert "question 2 of 29" in chat.send("/skip")
    assert "1. What prompted the search: skipped (does not apply)" in chat.send("/status")


# --- expiry ----------------------------------------------------------------------------------------------
def start_two_answers(chat: Chat) -> None:
    chat.send("/qualify Acme", at=T0)
    chat.send("4", at=T0 + timedelta(minutes=1))
    chat.send("2", at=T0 + timedelta(minutes=2))


def test_an_unfinished_dialog_a_few_days_old_just_continues(chat: Chat) -> None:
    start_two_answers(chat)
    assert "question 4 of 29" in chat.send("3", at=T0 + timedelta(days=6))


def test_an_expired_dialog_is_offered_for_resume_and_yes_resumes_at_the_same_step(chat: Chat) -> None:
    start_two_answers(chat)
    offer = chat.send("5", at=T0 + timedelta(days=8))
    assert "Your qualification of Acme has been waiting since 2026-03-02" in offer
    assert "Resume it where you left off? (yes to resume, no to drop it)" in offer
    assert "question" not in offer  # the 5 was not taken as an answer
    assert "Please answer yes or no." in chat.send("5")
    resumed = chat.send("yes")
    assert "Welcome back to the qualification of Acme" in resumed
    assert "question 3 of 29" in resumed
    status = chat.send("/status")
    assert "1. What prompted the search: 4" in status
    assert "2. Expectations and requirements: 2" in status
    assert "3. How they determined their needs: <- current question" in status
    # the deadline starts again: the next answer is taken normally
    assert "question 4 of 29" in chat.send("5")


def test_an_expired_dialog_is_dropped_on_no(chat: Chat, store: TinyDBStore) -> None:
    start_two_answers(chat)
    assert "Resume it where you left off?" in chat.send("/status", at=T0 + timedelta(days=8))
    dropped = chat.send("no")
    assert "Dropped the qualification of Acme. Nothing of it was kept." in dropped
    assert "No dialog is open." in chat.send("/status")
    assert store.read_person(ANA).answers == ()
    assert "Hello! I am Account Coach" in plain(chat.engine.opening(ANA, now=chat.now))


def test_a_shorter_custom_expiry(store: TinyDBStore) -> None:
    chat = Chat(Engine(store, expiry=timedelta(hours=2)))
    start_two_answers(chat)
    assert "question 4 of 29" in chat.send("3", at=T0 + timedelta(hours=1))
    offer = chat.send("3", at=T0 + timedelta(hours=3, minutes=30))
    assert "Resume it where you left off?" in offer
    assert "question 4 of 29" in chat.send("yes")


def test_paused_dialogs_older_than_the_expiry_are_dropped_with_a_note(chat: Chat) -> None:
    start_two_answers(chat)
    chat.send("/qualify Beta", at=T0 + timedelta(minutes=3))
    assert "question 1 of 29" in chat.send("yes", at=T0 + timedelta(minutes=4))
    assert "question 2 of 29" in chat.send("5", at=T0 + timedelta(days=6))  # Beta stays fresh
    later = chat.send("4", at=T0 + timedelta(days=8))
    assert "I dropped qualification of Acme: paused for more than 7 days." in later
    assert "question 3 of 29" in later  # the answer to Beta was still taken
    status = chat.send("/status")
    assert "Now: qualification of Beta" in status
    assert "Paused" not in status
    assert "Acme" not in status
    assert "There is nothing to resume" in chat.sends("/cancel", "yes", "/resume")


# --- what is stored --------------------------------------------------------------------------------------
def test_a_completed_qualification_stores_its_final_answers_and_an_assessment(
    chat: Chat, store: TinyDBStore
) -> None:
    chat.sends("/qualify Acme", "4", "4 wants integration", "/back", "2 only a nice to have")
    chat.sends("/edit 1", "5")
    assert "question 3 of 29" in chat.send("/status")
    chat.sends("skip step", "3", "skip step", "yes", "not asked")
    result = chat.send("skip step")
    assert "Total: 10/15 (67%)" in result
    data = store.read_person(ANA)
    assert len(data.answers) == 29
    assert len({a.question for a in data.answers}) == 29  # each question once: corrections replaced
    assert len({a.run_id for a in data.answers}) == 1
    assert {(a.dialog, a.account) for a in data.answers} == {("qualification", "acme")}
    final = {a.question: (a.value, a.note) for a in data.answers}
    assert final["s1_prompted"] == (5, "")
    assert final["s1_expectations"] == (2, "only a nice to have")
    assert final["s1_needs_process"] == ("skip", "")
    assert final["s2_timeline"] == (3, "")
    assert final["fit"] == (True, "")
    assert final["s3_involved"] == ("not_asked", "")
    (assessment,) = data.assessments
    assert assessment.kind == "qualification"
    assert assessment.account == "acme"
    assert assessment.result["account_name"] == "Acme"
    steps = {s["id"]: (s["total"], s["maximum"], s["skipped"]) for s in assessment.result["steps"]}
    assert steps == {"step1": (7, 10, 12), "step2": (3, 5, 7), "step3": (0, 0, 5)}
    assert (assessment.result["total"], assessment.result["maximum"]) == (10, 15)
    assert assessment.result["fit"] is True
    assert assessment.result["not_asked"] == ["s3_involved"]
    assert assessment.answers["s1_prompted"]["value"] == 5
    assert [a.name for a in data.accounts] == ["Acme"]
    assert "No dialog is open." in chat.send("/status")


def test_a_cancelled_run_leaves_no_answers_and_no_assessment(chat: Chat, store: TinyDBStore) -> None:
    chat.sends("/qualify Acme", "4", "skip step", "3", "skip step")
    assert "Cancelled. Nothing of it was kept." in chat.sends("/cancel", "yes")
    data = store.read_person(ANA)
    assert data.answers == ()
    assert data.assessments == ()
    assert data.accounts == ()
    assert data.session is not None
    assert data.session.active is None


# --- concurrency -----------------------------------------------------------------------------------------
class NotesDialog(Dialog):
    """A dialog of N free-text questions, so every message of a long burst is an answer."""

    name = "notes"
    command = "notes"
    title = "Notes"
    summary = "take N notes"

    def __init__(self, count: int) -> None:
        self.count = count

    def steps(self, draft: Draft, ctx: Context) -> Sequence[Step]:
        return [
            Step(id=f"n{i:02d}", prompt="dialogs/question.txt.j2", kind=InputKind.TEXT, label=f"Note {i}")
            for i in range(1, self.count + 1)
        ]

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        return Completion((Reply("engine/continuing.txt.j2"),))


def run_threads(engine: Engine, batches: Sequence[Sequence[tuple[str, str]]]) -> list[list[list[Reply]]]:
    """Each batch of (message id, text) is sent in order by its own thread; all start together."""
    start = threading.Barrier(len(batches))
    got: list[list[list[Reply]]] = [[] for _ in batches]

    def worker(n: int) -> None:
        start.wait()
        for message_id, text in batches[n]:
            incoming = Incoming(
                Channel.TERMINAL, ANA, text, message_id=message_id, at=T0 + timedelta(hours=1)
            )
            got[n].append(engine.handle(incoming))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return got


def test_two_threads_sending_30_messages_each_lose_nothing(store: TinyDBStore) -> None:
    engine = Engine(store, dialogs={**registry(), "notes": NotesDialog(60)})
    Chat(engine).send("/notes", at=T0)
    batches = [[(f"{who}{i}", f"{who}-{i:02d}") for i in range(30)] for who in ("a", "b")]
    got = run_threads(engine, batches)
    for replies in (r for thread in got for r in thread):
        assert replies, "a message went unanswered"
        assert INTERNAL_ERROR not in plain(replies)
    answers = store.read_person(ANA).answers
    values = [a.value for a in answers]
    assert sorted(values) == sorted(text for batch in batches for _, text in batch)  # each exactly once
    assert [a.question for a in answers] == [f"n{i:02d}" for i in range(1, 61)]
    for who in ("a", "b"):  # each thread's messages are answers in the order it sent them
        mine = [v for v in values if v.startswith(f"{who}-")]
        assert mine == sorted(mine)


def test_a_message_delivered_twice_at_once_is_answered_once(store: TinyDBStore) -> None:
    engine = Engine(store, dialogs={**registry(), "notes": NotesDialog(30)})
    Chat(engine).send("/notes", at=T0)
    batch = [(f"dup{i}", f"x-{i:02d}") for i in range(30)]
    got = run_threads(engine, [batch, batch])
    for i in range(30):
        answered = [bool(got[0][i]), bool(got[1][i])]
        assert sorted(answered) == [False, True], f"message {i} was answered {sum(answered)} times"
    assert [a.value for a in store.read_person(ANA).answers] == [text for _, text in batch]
