"""Typed, validated models of the coaching knowledge files.

Every entry says where its words come from: ``source`` is either the file name of a seed document in
``sources/`` (then ``quote`` holds a passage of that seed, verbatim, and loading fails if the seed does
not contain it) or ``ours`` (text written by the Account Coach team; ``based_on`` may name the seeds that
inspired it). Nothing we wrote can pass for a seed's words, and nothing a seed says can be misquoted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

OURS = "ours"

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

_SPACE = re.compile(r"\s+")


def normalize_space(text: str) -> str:
    """Fold every run of white space to one space, so a quote may wrap differently from its seed."""
    return _SPACE.sub(" ", text).strip()


def _seeds(info: ValidationInfo) -> Mapping[str, str] | None:
    context = info.context
    if isinstance(context, Mapping):
        seeds = context.get("seeds")
        if isinstance(seeds, Mapping):
            return seeds
    return None


def _check_basis(value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    seeds = _seeds(info)
    if seeds is not None:
        unknown = [v for v in value if v not in seeds]
        if unknown:
            raise ValueError(f"based_on names unknown seed(s) {', '.join(unknown)}")
    return value


def _duplicates(ids: Iterable[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def require_unique(ids: Iterable[str], what: str) -> None:
    """Raise a ValueError naming the repeated ids of ``what``."""
    dupes = _duplicates(ids)
    if dupes:
        raise ValueError(f"duplicate {what} id(s): {', '.join(dupes)}; every id must be unique")


class Model(BaseModel):
    """Base of every knowledge model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Model):
    """An entry that names its source, and quotes the seed verbatim when the source is a seed."""

    QUOTE_FIELD: ClassVar[str] = "quote"

    source: Text
    quote: Text | None = None
    based_on: tuple[Text, ...] = ()

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str, info: ValidationInfo) -> str:
        seeds = _seeds(info)
        if value != OURS and seeds is not None and value not in seeds:
            known = ", ".join(sorted(seeds))
            raise ValueError(f"unknown source {value!r}: use 'ours' or a seed file name ({known})")
        return value

    @field_validator("based_on")
    @classmethod
    def _known_basis(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_basis(value, info)

    @model_validator(mode="after")
    def _quote_is_verbatim(self, info: ValidationInfo) -> Sourced:
        quote = getattr(self, self.QUOTE_FIELD)
        if self.source == OURS:
            if self.QUOTE_FIELD == "quote" and quote is not None:
                raise ValueError("an entry with source 'ours' has no quote: quotes belong to seeds")
            return self
        if self.based_on:
            raise ValueError("based_on is for entries with source 'ours'; a seed entry quotes its seed")
        if quote is None:
            raise ValueError(f"source {self.source!r} needs '{self.QUOTE_FIELD}': the seed's words, verbatim")
        seeds = _seeds(info)
        if seeds is not None and normalize_space(quote) not in seeds.get(self.source, ""):
            raise ValueError(
                f"'{self.QUOTE_FIELD}' is not found word for word in {self.source}: {quote[:80]!r}"
            )
        return self

    @property
    def is_ours(self) -> bool:
        """True when the words were written by the Account Coach team, not quoted from a seed."""
        return self.source == OURS


class Ours(Model):
    """Text written by us; it may say which seeds inspired it, but never passes for a seed's words."""

    source: Literal["ours"]
    based_on: tuple[Text, ...] = ()

    @field_validator("based_on")
    @classmethod
    def _known_basis(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_basis(value, info)


# --------------------------------------------------------------------------- qualification


class Scale(Sourced):
    """The 1-5 scale of seed 001: 1 least favorable match, 5 most favorable match."""

    min: int
    max: int
    labels: dict[int, Text]

    @model_validator(mode="after")
    def _coherent(self) -> Scale:
        if self.min >= self.max:
            raise ValueError(f"scale min ({self.min}) must be below max ({self.max})")
        outside = [k for k in self.labels if not self.min <= k <= self.max]
        if outside:
            raise ValueError(f"scale labels {outside} lie outside {self.min}-{self.max}")
        for end in (self.min, self.max):
            if end not in self.labels:
                raise ValueError(f"scale needs a label for its end point {end}")
        return self


class Theme(Model):
    """A theme questions are grouped by (need, budget, ...), so weak areas can be named."""

    id: Id
    label: Text


class Advice(Ours):
    """Our coaching for one question: what a low score means and what to do next."""

    low_score_means: Text
    next_action: Text


class Question(Sourced):
    """One question of the questionnaire; ``text`` is the seed's wording, verbatim."""

    QUOTE_FIELD: ClassVar[str] = "text"

    id: Id
    text: Text
    label: Text
    theme: Id
    advice: Advice


class Step(Sourced):
    """One of the three steps of "Qualifying a Sale"."""

    id: Id
    number: int = Field(ge=1)
    title: Text
    purpose: Text
    questions: tuple[Question, ...] = Field(min_length=1)


class FitDecision(Sourced):
    """The subjective fit decision that follows the adding up (seed 001)."""

    after_step: Id
    prompt: Text


class Band(Ours):
    """A verdict band for the total, as a percentage of the maximum over the questions that apply."""

    id: Id
    min_percent: float = Field(ge=0, le=100)
    label: Text
    meaning: Text


class Qualification(Sourced):
    """The three-step qualification questionnaire of seed 001."""

    title: Text
    scale: Scale
    themes: tuple[Theme, ...] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)
    fit_decision: FitDecision
    verdict_bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Qualification:
        require_unique((t.id for t in self.themes), "theme")
        require_unique((s.id for s in self.steps), "step")
        require_unique((q.id for q in self.questions), "question")
        numbers = [s.number for s in self.steps]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"steps must be numbered 1, 2, 3... in order, got {numbers}")
        themes = {t.id for t in self.themes}
        for q in self.questions:
            if q.theme not in themes:
                raise ValueError(
                    f"question {q.id}: unknown theme {q.theme!r}; known: {', '.join(sorted(themes))}"
                )
        if self.fit_decision.after_step not in {s.id for s in self.steps}:
            raise ValueError(f"fit_decision.after_step {self.fit_decision.after_step!r} is no step id")
        require_unique((b.id for b in self.verdict_bands), "verdict band")
        mins = [b.min_percent for b in self.verdict_bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("verdict_bands must go from the highest min_percent down, without repeats")
        if mins[-1] != 0:
            raise ValueError("the last verdict band must start at min_percent 0 so every total has one")
        return self

    @property
    def questions(self) -> tuple[Question, ...]:
        """Every question of every step, in order."""
        return tuple(q for s in self.steps for q in s.questions)

    def band_for(self, percent: float) -> Band:
        """The verdict band a percentage falls in."""
        for band in self.verdict_bands:
            if percent >= band.min_percent:
                return band
        return self.verdict_bands[-1]


# --------------------------------------------------------------------------- relationship stages


class Indicator(Sourced):
    """A statement about the account a rep can agree or disagree with, drawn from a seed."""

    id: Id
    statement: Text


class Move(Ours):
    """A move that takes the relationship to the next stage (our advice)."""

    id: Id
    text: Text


class Stage(Sourced):
    """One relationship stage of seed 002."""

    id: Id
    order: int = Field(ge=1)
    name: Text
    description: Text
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    moves_to_next: tuple[Move, ...] = ()


class AnswerOption(Model):
    """One answer to an indicator statement and how much support it gives."""

    id: Id
    label: Text
    weight: float = Field(ge=0, le=1)


class StageAnswers(Ours):
    """How indicator answers count (agree / partly / disagree) and when a stage is reached."""

    options: tuple[AnswerOption, ...] = Field(min_length=2)
    reached_at: float = Field(gt=0, le=1)


class RelationshipStages(Ours):
    """The four relationship stages: tactical, operational, functional, strategic."""

    answers: StageAnswers
    stages: tuple[Stage, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RelationshipStages:
        require_unique((s.id for s in self.stages), "stage")
        require_unique((i.id for s in self.stages for i in s.indicators), "indicator")
        require_unique((m.id for s in self.stages for m in s.moves_to_next), "move")
        require_unique((o.id for o in self.answers.options), "answer option")
        orders = [s.order for s in self.stages]
        if orders != list(range(1, len(orders) + 1)):
            raise ValueError(f"stages must have order 1, 2, 3... as listed, got {orders}")
        for stage in self.stages[:-1]:
            if not stage.moves_to_next:
                raise ValueError(f"stage {stage.id}: needs moves_to_next (it is not the last stage)")
        return self


# --------------------------------------------------------------------------- call planning


class ChecklistItem(Sourced):
    """One thing to know before a call (seed 003), with the question we ask the rep."""

    id: Id
    label: Text
    prompt: Text


class ChecklistSection(Model):
    """A group of checklist items: the customer's business, the people issues, the competition."""

    id: Id
    title: Text
    items: tuple[ChecklistItem, ...] = Field(min_length=1)


class NestedPlan(Sourced):
    """One of the nested plans of seed 000, from the individual call plan up to the territory plan."""

    id: Id
    name: Text
    level: int = Field(ge=1)
    purpose: Text


class StakeholderRole(Ours):
    """A role a person plays in the customer's decision (decision maker, influencer, ...)."""

    id: Id
    label: Text
    why_it_matters: Text


class CallPlanning(Ours):
    """The pre-call checklist (seed 003), the nested plans (seed 000) and the stakeholder roles."""

    sections: tuple[ChecklistSection, ...] = Field(min_length=1)
    nested_plans: tuple[NestedPlan, ...] = Field(min_length=1)
    stakeholder_roles: tuple[StakeholderRole, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> CallPlanning:
        require_unique((s.id for s in self.sections), "section")
        require_unique((i.id for s in self.sections for i in s.items), "checklist item")
        require_unique((p.id for p in self.nested_plans), "nested plan")
        require_unique((r.id for r in self.stakeholder_roles), "stakeholder role")
        levels = [p.level for p in self.nested_plans]
        if levels != list(range(1, len(levels) + 1)):
            raise ValueError(f"nested_plans must have level 1, 2, 3... from the innermost, got {levels}")
        return self

    @property
    def items(self) -> tuple[ChecklistItem, ...]:
        """Every checklist item, in order."""
        return tuple(i for s in self.sections for i in s.items)


# --------------------------------------------------------------------------- onboarding


class Lesson(Sourced):
    """One short message of a module; a seed's words go in ``quote``, our framing in ``text``."""

    id: Id
    text: Text


class QuizQuestion(Sourced):
    """A multiple-choice question with the right answer explained and its source cited."""

    id: Id
    question: Text
    choices: tuple[Text, ...] = Field(min_length=2, max_length=6)
    answer: int = Field(ge=0)
    explanation: Text

    @model_validator(mode="after")
    def _answer_in_range(self) -> QuizQuestion:
        if self.answer >= len(self.choices):
            raise ValueError(
                f"quiz {self.id}: answer {self.answer} is no choice (0 to {len(self.choices) - 1})"
            )
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"quiz {self.id}: choices repeat")
        return self


class Module(Model):
    """One onboarding module: a few lessons, then one to three quiz questions.

    ``kind`` ``practice`` ends with a practice qualification of the sample prospect; ``self_assessment``
    ends with the skills and knowledge self-assessment.
    """

    id: Id
    title: Text
    summary: Text
    kind: Literal["lessons", "practice", "self_assessment"] = "lessons"
    lessons: tuple[Lesson, ...] = Field(min_length=1)
    quiz: tuple[QuizQuestion, ...] = Field(default=(), max_length=3)


class ProspectAnswer(Ours):
    """What the sample prospect answers to one qualification question, and the score we would give."""

    question: Id
    says: Text
    reference: int = Field(ge=1, le=5)
    why: Text


class PracticeProspect(Ours):
    """A sample prospect for the practice qualification (ours, based on the method of seed 001)."""

    name: Text
    summary: Text
    answers: tuple[ProspectAnswer, ...] = Field(min_length=1)
    fit: bool


class SkillItem(Sourced):
    """A skill or knowledge area to rate oneself on, from the seeds, with our development advice."""

    id: Id
    area: Literal["skill", "knowledge"]
    label: Text
    statement: Text
    development: Text


class Onboarding(Ours):
    """The teaching content for new hires."""

    modules: tuple[Module, ...] = Field(min_length=1)
    practice: PracticeProspect | None = None
    self_assessment: tuple[SkillItem, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Onboarding:
        require_unique((m.id for m in self.modules), "module")
        answers = self.practice.answers if self.practice else ()
        require_unique((a.question for a in answers), "practice answer")
        require_unique((i.id for i in self.self_assessment), "self-assessment item")
        kinds = [m.kind for m in self.modules]
        if "practice" in kinds and self.practice is None:
            raise ValueError("a module of kind 'practice' needs the 'practice' prospect")
        if "self_assessment" in kinds and not self.self_assessment:
            raise ValueError("a module of kind 'self_assessment' needs 'self_assessment' items")
        require_unique((x.id for m in self.modules for x in m.lessons), "lesson")
        require_unique((q.id for m in self.modules for q in m.quiz), "quiz question")
        return self


# --------------------------------------------------------------------------- account selection


class Criterion(Sourced):
    """A key-account selection criterion (seeds 000 and 001) with its default weight."""

    id: Id
    label: Text
    weight: float = Field(gt=0, le=1)
    guidance: Text


class Axis(Ours):
    """One axis of the weighted account analysis; the weights of its criteria add up to 1."""

    id: Id
    title: Text
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights_add_up(self) -> Axis:
        total = sum(c.weight for c in self.criteria)
        if abs(total - 1.0) > 1e-6:
            weights = " + ".join(f"{c.id} {c.weight:g}" for c in self.criteria)
            raise ValueError(
                f"axis {self.id}: weights must add up to 1, got {total:g} ({weights}); adjust them"
            )
        return self


class Quadrant(Sourced):
    """Where an account lands on the two axes and what that means for the resources it gets."""

    id: Id
    attractiveness: Literal["high", "low"]
    strength: Literal["high", "low"]
    label: Text
    meaning: Text


class AccountSelection(Ours):
    """The weighted account analysis: two axes, their criteria and weights, and the quadrants."""

    scale_min: int = 1
    scale_max: int = 5
    high_from: float
    #: Share of the strength axis taken by the latest relationship stage and qualification, when known.
    stage_weight: float = Field(default=0.0, ge=0, le=0.5)
    qualification_weight: float = Field(default=0.0, ge=0, le=0.5)
    axes: tuple[Axis, ...] = Field(min_length=2, max_length=2)
    quadrants: tuple[Quadrant, ...] = Field(min_length=4, max_length=4)

    @model_validator(mode="after")
    def _consistent(self) -> AccountSelection:
        require_unique((a.id for a in self.axes), "axis")
        require_unique((c.id for a in self.axes for c in a.criteria), "criterion")
        require_unique((q.id for q in self.quadrants), "quadrant")
        if {a.id for a in self.axes} != {"attractiveness", "strength"}:
            raise ValueError("axes must be 'attractiveness' and 'strength'")
        cells = {(q.attractiveness, q.strength) for q in self.quadrants}
        if len(cells) != 4:
            raise ValueError("quadrants must cover each high/low pair of the two axes exactly once")
        if not self.scale_min < self.high_from <= self.scale_max:
            raise ValueError(f"high_from must lie within {self.scale_min}-{self.scale_max}")
        return self

    def axis(self, axis_id: str) -> Axis:
        """The axis with this id."""
        return next(a for a in self.axes if a.id == axis_id)
