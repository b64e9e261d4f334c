"""New-hire onboarding: modules from the knowledge file, quiz feedback, practice, progress, resume."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.engine import Engine
from bot.knowledge import load_knowledge, shipped_knowledge
from bot.messages import Channel, Incoming
from storage.base import Person
from storage.tinydb_store import TinyDBStore
from tests.auxil.cli import run_coach

KB = shipped_knowledge()


def module_lines(number: int, *, correct: bool = True) -> list[str]:
    """What a new hire types to go through module ``number``: Next for lessons, then the quiz answers."""
    module = KB.onboarding.modules[number - 1]
    lines = ["next"] * len(module.lessons)
    for quiz in module.quiz:
        right = quiz.answer + 1
        lines.append(str(right if correct else (right % len(quiz.choices)) + 1))
    if module.kind == "practice":
        lines += [str(a.reference) for a in KB.onboarding.practice.answers[:22]]  # type: ignore[union-attr]
        lines.append("yes")
        lines += [str(a.reference) for a in KB.onboarding.practice.answers[22:]]  # type: ignore[union-attr]
    if module.kind == "self_assessment":
        lines += ["3"] * len(KB.onboarding.self_assessment)
    return lines


def chat(data: Path, lines: list[str]) -> str:
    result = run_coach("chat", "--user", "nina", "--data-dir", str(data), input="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout
    return result.stdout


def test_onboard_runs_to_the_end_with_feedback_and_resumes_between_runs(tmp_path: Path) -> None:
    modules = KB.onboarding.modules
    first = chat(tmp_path, ["/onboard", *module_lines(1, correct=False)[:-1]])
    assert f"Module 1 of {len(modules)}: {modules[0].title}" in first
    assert "❌ Not quite. The answer is:" in first
    assert "(seed 0" in first  # the feedback cites its source

    # The second run resumes at the last quiz question of module 1, then goes on module by module.
    second_lines = [module_lines(1)[-1], "/status"]
    for number in range(2, len(modules) + 1):
        second_lines += ["/onboard", *module_lines(number)]
    second = chat(tmp_path, [*second_lines, "/status", "/onboard"])
    assert second.index("Welcome back") < second.index("Module done: " + modules[0].title)
    assert "✅ Right." in second
    assert f"Onboarding (1 of {len(modules)} modules done):" in second
    assert (
        "Practice qualification: Kestrel Lane Logistics (kept as practice, not among your accounts)" in second
    )
    assert "Your scores are close to a coach's everywhere." in second
    assert "Your personal development focus" in second
    assert "You have completed the whole onboarding. Welcome to the team!" in second
    assert f"Onboarding ({len(modules)} of {len(modules)} modules done):" in second
    assert f"You have completed all {len(modules)} onboarding modules." in second

    accounts = chat(tmp_path, ["/accounts"])
    assert "You have no accounts yet" in accounts  # the practice prospect is not an account
    data = TinyDBStore(tmp_path).read_person("nina")
    practice = [a for a in data.assessments if a.practice]
    assert len(practice) == 1
    assert practice[0].result["account_name"] == "Kestrel Lane Logistics"
    assert {p.module for p in data.onboarding} == {m.id for m in modules}


def test_a_new_hire_is_greeted_and_offered_onboarding_on_the_first_message(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path)
    store.put_person(Person(id="nina", name="Nina", new_hire=True))
    engine = Engine(store)
    first = engine.handle(Incoming(Channel.TERMINAL, "nina", "hello", message_id="1"))
    assert "Welcome to the team, Nina!" in first[0].text()
    assert [c.value for c in first[0].choices] == ["/onboard"]
    second = engine.handle(Incoming(Channel.TERMINAL, "nina", "hello again", message_id="2"))
    assert not any("Welcome to the team" in r.text() for r in second)


def test_a_module_and_a_quiz_question_added_to_the_file_appear_without_code(knowledge_copy: Path) -> None:
    path = knowledge_copy / "onboarding.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["modules"].insert(
        0,
        {
            "id": "our_customers",
            "title": "Who our customers are",
            "summary": "A first look at the accounts you will manage.",
            "lessons": [
                {"id": "oc_intro", "source": "ours", "text": "Our customers are mid-size logistics firms."}
            ],
            "quiz": [
                {
                    "id": "oc_quiz",
                    "source": "ours",
                    "based_on": [],
                    "question": "Who are our customers?",
                    "choices": ["Mid-size logistics firms", "Bakeries"],
                    "answer": 0,
                    "explanation": "We serve mid-size logistics firms.",
                }
            ],
        },
    )
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    kb = load_knowledge(knowledge_copy)
    engine = Engine(TinyDBStore(knowledge_copy.parent / "data"), knowledge=kb)

    def say(text: str, n: int) -> str:
        return "\n".join(
            r.text() for r in engine.handle(Incoming(Channel.TERMINAL, "nina", text, message_id=str(n)))
        )

    assert f"Module 1 of {len(kb.onboarding.modules)}: Who our customers are" in say("/onboard", 1)
    assert "Quiz: Who are our customers?" in say("next", 2)
    answered = say("1", 3)
    assert "✅ Right. We serve mid-size logistics firms." in answered
    assert "Module done: Who our customers are: quiz 1/1." in answered
