"""Scoring and recommendations for the qualification questionnaire: pure functions over answers.

The rules follow seed 001: each answer is scored 1 (least favorable match) to 5 (most favorable match)
and the scores are added up; then comes the fit decision. Our additions, marked as ours in the knowledge
file: a question that does not apply (``skip``) leaves the maximum; one not asked yet leaves it too but is
listed as a question to ask; verdict bands read the percentage of the maximum over the questions scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.knowledge.schema import Qualification, Question

SKIP = "skip"
NOT_ASKED = "not_asked"
#: A score at or below this counts as low: its question's advice becomes a next action.
LOW_SCORE = 2
#: Below this share of questions scored, the verdict is provisional.
MIN_COVERAGE = 0.5


@dataclass(frozen=True, slots=True)
class StepScore:
    """One step's subtotal."""

    id: str
    number: int
    title: str
    total: int
    maximum: int
    scored: int
    skipped: int
    not_asked: int
    questions: int

    @property
    def percent(self) -> float:
        """The subtotal as a share of its maximum (0 when nothing was scored)."""
        return 100.0 * self.total / self.maximum if self.maximum else 0.0


@dataclass(frozen=True, slots=True)
class Action:
    """A recommended next action, tied to the question it comes from and that question's source."""

    question: str
    label: str
    text: str
    reason: str
    score: int | None
    source: str
    advice_source: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QualificationScore:
    """The whole result: subtotals, total, verdict, weak themes, questions still to ask, next actions."""

    steps: tuple[StepScore, ...]
    total: int
    maximum: int
    fit: bool | None
    band_id: str
    band_label: str
    band_meaning: str
    provisional: bool
    weakest_themes: tuple[tuple[str, float], ...]
    not_asked: tuple[str, ...]
    actions: tuple[Action, ...]

    @property
    def percent(self) -> float:
        """The total as a share of the maximum over the questions scored."""
        return 100.0 * self.total / self.maximum if self.maximum else 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict, as stored in the assessment's result."""
        data = asdict(self)
        data["percent"] = round(self.percent, 1)
        return data


def _score_of(answer: Mapping[str, Any] | None) -> int | None:
    if answer is None or answer.get("special"):
        return None
    value = answer.get("value")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def score_step(step_id: str, q: Qualification, answers: Mapping[str, Mapping[str, Any]]) -> StepScore:
    """The subtotal of one step over the questions that apply."""
    step = next(s for s in q.steps if s.id == step_id)
    total = maximum = scored = skipped = not_asked = 0
    for question in step.questions:
        answer = answers.get(question.id)
        special = answer.get("special") if answer else None
        value = _score_of(answer)
        if value is not None:
            total += value
            maximum += q.scale.max
            scored += 1
        elif special == SKIP:
            skipped += 1
        elif special == NOT_ASKED:
            not_asked += 1
    return StepScore(
        step.id, step.number, step.title, total, maximum, scored, skipped, not_asked, len(step.questions)
    )


def _low_reason(question: Question, value: int) -> str:
    if value <= LOW_SCORE:
        return f"scored {value}: {question.advice.low_score_means.rstrip('.')}"
    return f"scored {value}, the weakest of your answers"


def after_fit(q: Qualification) -> frozenset[str]:
    """Ids of the questions asked only when there is a fit (the steps after the fit decision)."""
    fit_after = next(s.number for s in q.steps if s.id == q.fit_decision.after_step)
    return frozenset(question.id for s in q.steps if s.number > fit_after for question in s.questions)


def recommend(
    q: Qualification, answers: Mapping[str, Mapping[str, Any]], *, limit: int = 5, fit: bool | None = True
) -> tuple[Action, ...]:
    """Three to five next actions: questions not asked yet first, then the lowest scores."""
    excluded = after_fit(q) if fit is False else frozenset()
    candidates: list[tuple[int, int, Question, int | None, str]] = []
    for order, question in enumerate(q.questions):
        if question.id in excluded:
            continue
        answer = answers.get(question.id)
        value = _score_of(answer)
        if answer is not None and answer.get("special") == NOT_ASKED:
            candidates.append((0, order, question, None, "not asked yet"))
        elif value is not None and value <= LOW_SCORE:
            candidates.append((value, order, question, value, _low_reason(question, value)))
    if len(candidates) < 3:  # top up with the next weakest scores, so there are always a few actions
        chosen = {c[2].id for c in candidates}
        rest = sorted(
            (value, order, question)
            for order, question in enumerate(q.questions)
            if question.id not in chosen
            and question.id not in excluded
            and (value := _score_of(answers.get(question.id))) is not None
            and value < q.scale.max
        )
        for value, order, question in rest[: 3 - len(candidates)]:
            candidates.append((value, order, question, value, _low_reason(question, value)))
    candidates.sort(key=lambda c: (c[0], c[1]))
    return tuple(
        Action(
            question=question.id,
            label=question.label,
            text=question.advice.next_action,
            reason=reason,
            score=score,
            source=question.source,
            advice_source=question.advice.source,
        )
        for _, _, question, score, reason in candidates[:limit]
    )


def weakest_themes(
    q: Qualification, answers: Mapping[str, Mapping[str, Any]], *, limit: int = 3
) -> tuple[tuple[str, float], ...]:
    """The themes with the lowest average score, below the middle of the scale."""
    scores: dict[str, list[int]] = defaultdict(list)
    for question in q.questions:
        value = _score_of(answers.get(question.id))
        if value is not None:
            scores[question.theme].append(value)
    labels = {t.id: t.label for t in q.themes}
    middle = (q.scale.min + q.scale.max) / 2
    averages = sorted((sum(v) / len(v), labels[t]) for t, v in scores.items())
    return tuple((label, round(avg, 2)) for avg, label in averages if avg < middle)[:limit]


def score_qualification(
    q: Qualification, answers: Mapping[str, Mapping[str, Any]], *, fit: bool | None
) -> QualificationScore:
    """Score a (possibly partial) qualification."""
    # No fit: the steps after the decision are not asked (seed 001: they come only "if you decide to
    # continue"); answers left from before an /edit of the decision do not count.
    excluded = after_fit(q) if fit is False else frozenset()
    answers = {k: v for k, v in answers.items() if k not in excluded}
    steps = tuple(
        score_step(s.id, q, answers)
        for s in q.steps
        if not (excluded and all(question.id in excluded for question in s.questions))
    )
    total = sum(s.total for s in steps)
    maximum = sum(s.maximum for s in steps)
    percent = 100.0 * total / maximum if maximum else 0.0
    band = q.band_for(percent)
    scored = sum(s.scored for s in steps)
    applicable = sum(s.questions - s.skipped for s in steps)
    not_asked = tuple(
        question.id
        for question in q.questions
        if (answers.get(question.id) or {}).get("special") == NOT_ASKED
    )
    return QualificationScore(
        steps=steps,
        total=total,
        maximum=maximum,
        fit=fit,
        band_id=band.id,
        band_label=band.label,
        band_meaning=band.meaning,
        provisional=applicable == 0 or scored / applicable < MIN_COVERAGE,
        weakest_themes=weakest_themes(q, answers),
        not_asked=not_asked,
        actions=recommend(q, answers, fit=fit),
    )


def step_changes(current: Sequence[StepScore], previous: Mapping[str, Any] | None) -> dict[str, float]:
    """Per step, the change in percentage points since a previous result (as stored in an assessment)."""
    if not previous:
        return {}
    before = {s["id"]: s for s in previous.get("steps", [])}
    changes = {}
    for step in current:
        old = before.get(step.id)
        if old and old.get("maximum") and step.maximum:
            changes[step.id] = round(step.percent - 100.0 * old["total"] / old["maximum"], 1)
    return changes
