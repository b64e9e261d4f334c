"""``/onboard``: guided lessons for new hires, built entirely from ``onboarding.yaml``.

Each run covers one module: short messages with a Next button, then one to three quiz questions with
immediate feedback that explains the right answer and cites its source. The practice module qualifies the
sample prospect of the knowledge file, scored like a real qualification but kept as practice (not among
the rep's accounts); the self-assessment module ends with a personal development focus. Progress is kept
per module, so ``/onboard`` continues with the next one; ``/onboard N`` revisits module N.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bot.coaching.scoring import after_fit, score_qualification
from bot.dialogs.base import (
    Completion,
    Condition,
    Context,
    Dialog,
    Draft,
    Effects,
    InputKind,
    Parsed,
    Refused,
    Started,
    Step,
    is_number,
)
from bot.dialogs.qualification import FIT_STEP, SPECIALS
from bot.knowledge.schema import Module, Onboarding, Qualification
from bot.messages import COMMAND_STEP, Choice, Reply, ReplyKind
from storage.base import Assessment, ModuleProgress

DONE = "done"
PRACTICE_PREFIX = "p_"
SELF_PREFIX = "sa_"


def choice_value(index: int) -> str:
    """The value of a quiz choice: ``a``, ``b``, ``c``..."""
    return chr(ord("a") + index)


def next_module(onboarding: Onboarding, done: set[str]) -> Module | None:
    """The first module not done yet, in the knowledge file's order."""
    return next((m for m in onboarding.modules if m.id not in done), None)


class OnboardingDialog(Dialog):
    """One onboarding module per run."""

    name = "onboarding"
    command = "onboard"
    title = "Onboarding"
    summary = "learn the account management method step by step, with quizzes and a practice qualification"
    usage = "[N]"

    def _module(self, draft: Draft, ctx: Context) -> Module:
        onboarding = ctx.knowledge.onboarding
        return next(m for m in onboarding.modules if m.id == draft.meta["module"])

    def start(self, args: str, ctx: Context) -> Started | Refused:
        onboarding = ctx.knowledge.onboarding
        modules = onboarding.modules
        done = {p.module for p in ctx.onboarding() if p.status == DONE}
        wanted = args.strip().lower()
        if wanted:
            chosen = None
            if is_number(wanted) and 1 <= int(wanted) <= len(modules):
                chosen = modules[int(wanted) - 1]
            else:
                chosen = next((m for m in modules if m.id == wanted), None)
            if chosen is None:
                values = {"given": args.strip(), "modules": modules, "done": done}
                return Refused(Reply("dialogs/onboarding/which.txt.j2", values, kind=ReplyKind.ERROR))
        else:
            chosen = next_module(onboarding, done)
            if chosen is None:
                return Refused(Reply("dialogs/onboarding/all_done.txt.j2", {"modules": modules}))
        number = modules.index(chosen) + 1
        intro = Reply(
            "dialogs/onboarding/intro.txt.j2",
            {"module": chosen, "number": number, "total": len(modules), "done": len(done)},
        )
        return Started(meta={"module": chosen.id, "number": number}, intro=(intro,))

    def describe(self, draft: Draft) -> str:
        return f"onboarding module {draft.meta.get('number', '')}".strip()

    def steps(self, draft: Draft, ctx: Context) -> Sequence[Step]:
        module = self._module(draft, ctx)
        section = f"Module {draft.meta.get('number')}: {module.title}"
        steps = [
            Step(
                id=lesson.id,
                prompt="dialogs/onboarding/lesson.txt.j2",
                kind=InputKind.NEXT,
                label=f"Lesson {n}",
                values={"lesson": lesson},
                section=section,
            )
            for n, lesson in enumerate(module.lessons, start=1)
        ]
        for n, quiz in enumerate(module.quiz, start=1):
            steps.append(
                Step(
                    id=quiz.id,
                    prompt="dialogs/onboarding/quiz.txt.j2",
                    kind=InputKind.CHOICE,
                    label=f"Quiz {n}",
                    values={"quiz": quiz},
                    # Letters, not numbers: a typed "2" means the second choice, never the value "2".
                    choices=tuple(Choice(text, choice_value(i)) for i, text in enumerate(quiz.choices)),
                    section=section,
                )
            )
        if module.kind == "practice":
            steps += self._practice_steps(ctx.knowledge.onboarding, ctx.knowledge.qualification, section)
        if module.kind == "self_assessment":
            steps += [
                Step(
                    id=SELF_PREFIX + item.id,
                    prompt="dialogs/onboarding/self.txt.j2",
                    kind=InputKind.SCORE,
                    label=item.label,
                    values={"item": item},
                    minimum=1,
                    maximum=5,
                    scale_labels={1: "not yet", 5: "fully"},
                    section=section,
                )
                for item in ctx.knowledge.onboarding.self_assessment
            ]
        return steps

    def _practice_steps(self, onboarding: Onboarding, q: Qualification, section: str) -> list[Step]:
        """The sample prospect's answers to score, with the fit decision before the questions after it."""
        prospect = onboarding.practice
        if prospect is None:
            return []
        later = after_fit(q)
        questions = {question.id: question for question in q.questions}
        before = [a.question for a in prospect.answers if a.question not in later]
        last_before = before[-1] if before else None
        steps: list[Step] = []
        for answer in prospect.answers:
            steps.append(
                Step(
                    id=PRACTICE_PREFIX + answer.question,
                    prompt="dialogs/onboarding/practice.txt.j2",
                    kind=InputKind.SCORE,
                    label=f"Practice: {answer.question}",
                    values={"answer": answer, "prospect": prospect, "question": questions[answer.question]},
                    minimum=1,
                    maximum=5,
                    scale_labels={1: "least favorable match", 5: "most favorable match"},
                    allow_note=True,
                    specials=SPECIALS[:2],
                    section=section,
                    when=Condition(PRACTICE_PREFIX + FIT_STEP, True, "you decided there is a fit")
                    if answer.question in later
                    else None,
                )
            )
            if answer.question == last_before:
                steps.append(
                    Step(
                        id=PRACTICE_PREFIX + FIT_STEP,
                        prompt="dialogs/onboarding/practice_fit.txt.j2",
                        kind=InputKind.YES_NO,
                        label="Practice: fit decision",
                        values={"prospect": prospect},
                        section=section,
                    )
                )
        return steps

    def on_answer(self, step: Step, parsed: Parsed, draft: Draft, ctx: Context) -> tuple[Reply, ...]:
        quiz = step.values.get("quiz")
        if quiz is None or parsed.value is None:
            return ()
        correct = parsed.value == choice_value(quiz.answer)
        values = {"quiz": quiz, "correct": correct, "right": quiz.choices[quiz.answer]}
        return (Reply("dialogs/onboarding/feedback.txt.j2", values),)

    def complete(self, draft: Draft, ctx: Context) -> Completion:
        onboarding = ctx.knowledge.onboarding
        module = self._module(draft, ctx)
        quiz_total = len(module.quiz)
        quiz_correct = sum(
            1 for q in module.quiz if draft.answers.get(q.id, {}).get("value") == choice_value(q.answer)
        )
        progress = ModuleProgress(
            module=module.id,
            status=DONE,
            quiz_correct=quiz_correct,
            quiz_total=quiz_total,
            updated_at=ctx.now,
        )
        done = {p.module for p in ctx.onboarding() if p.status == DONE} | {module.id}
        replies: list[Reply] = []
        assessments: list[Assessment] = []
        if module.kind == "practice" and onboarding.practice is not None:
            reply, assessment = self._practice_result(draft, ctx)
            replies.append(reply)
            assessments.append(assessment)
        if module.kind == "self_assessment":
            reply, assessment = self._self_result(draft, ctx)
            replies.append(reply)
            assessments.append(assessment)
        following = next_module(onboarding, done)
        choices = (Choice(f"Next: {following.title}", "/onboard"),) if following else ()
        replies.append(
            Reply(
                "dialogs/onboarding/module_done.txt.j2",
                {
                    "module": module,
                    "correct": quiz_correct,
                    "total": quiz_total,
                    "following": following,
                    "done": len(done),
                    "modules": len(onboarding.modules),
                },
                choices=choices,
                kind=ReplyKind.RESULT,
                step=COMMAND_STEP if choices else None,
            )
        )
        return Completion(tuple(replies), Effects(progress=(progress,), assessments=tuple(assessments)))

    def _practice_result(self, draft: Draft, ctx: Context) -> tuple[Reply, Assessment]:
        prospect = ctx.knowledge.onboarding.practice
        assert prospect is not None
        answers = {
            k.removeprefix(PRACTICE_PREFIX): dict(v)
            for k, v in draft.answers.items()
            if k.startswith(PRACTICE_PREFIX)
        }
        fit = answers.get(FIT_STEP, {}).get("value")
        score = score_qualification(
            ctx.knowledge.qualification, answers, fit=fit if isinstance(fit, bool) else None
        )
        gaps = []
        for reference in prospect.answers:
            given = answers.get(reference.question, {}).get("value")
            if (
                isinstance(given, int)
                and not isinstance(given, bool)
                and abs(given - reference.reference) >= 2
            ):
                gaps.append({"answer": reference, "given": given})
        assessment = Assessment(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            kind="qualification",
            account=None,
            answers=answers,
            result={**score.to_json(), "account_name": prospect.name},
            started_at=draft.started_at or ctx.now,
            completed_at=ctx.now,
            practice=True,
        )
        values = {"score": score, "prospect": prospect, "gaps": gaps, "fit": fit}
        return Reply("dialogs/onboarding/practice_result.txt.j2", values, kind=ReplyKind.RESULT), assessment

    def _self_result(self, draft: Draft, ctx: Context) -> tuple[Reply, Assessment]:
        items = ctx.knowledge.onboarding.self_assessment
        ratings = {
            item.id: int(draft.answers.get(SELF_PREFIX + item.id, {}).get("value") or 0)
            for item in items
            if isinstance(draft.answers.get(SELF_PREFIX + item.id, {}).get("value"), int)
        }
        ranked = sorted(
            (r, n, item) for n, item in enumerate(items) if (r := ratings.get(item.id)) is not None
        )
        focus = [item for _, _, item in ranked[:3]]
        assessment = Assessment(
            id=uuid.uuid4().hex,
            person_id=ctx.person_id,
            kind="self_assessment",
            account=None,
            answers={k: dict(v) for k, v in draft.answers.items()},
            result={"ratings": ratings, "focus": [i.id for i in focus]},
            started_at=draft.started_at or ctx.now,
            completed_at=ctx.now,
        )
        values = {"focus": focus, "ratings": ratings, "items": items}
        return Reply("dialogs/onboarding/self_result.txt.j2", values, kind=ReplyKind.RESULT), assessment


DIALOG = OnboardingDialog()
