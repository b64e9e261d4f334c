"""Answer builders over the shipped knowledge, so each test table reads like what a rep typed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.coaching.scoring import NOT_ASKED, SKIP
from bot.knowledge import shipped_knowledge

KB = shipped_knowledge()
Q = KB.qualification
RS = KB.relationship_stages
CP = KB.call_planning

SEED_001 = "001_b7b84066c4b68497.txt"

Answer = dict[str, Any]
Answers = dict[str, Answer]

#: Question ids of each step, in knowledge order.
STEP_IDS: dict[int, tuple[str, ...]] = {s.number: tuple(q.id for q in s.questions) for s in Q.steps}
S1, S2, S3 = STEP_IDS[1], STEP_IDS[2], STEP_IDS[3]
ALL_IDS = S1 + S2 + S3
QUESTIONS = {q.id: q for q in Q.questions}


def scored(value: int | bool | None, note: str = "") -> Answer:
    """A plain answer, as the dialog stores it."""
    return {"value": value, "note": note, "special": None}


def skipped() -> Answer:
    """A question that does not apply to this prospect."""
    return {"value": None, "note": "", "special": SKIP}


def not_asked() -> Answer:
    """A question the rep has not asked yet."""
    return {"value": None, "note": "", "special": NOT_ASKED}


def fill(ids: Iterable[str], value: int) -> Answers:
    """The same score for every question in ``ids``."""
    return {qid: scored(value) for qid in ids}


def merge(*parts: Mapping[str, Answer]) -> Answers:
    """Later parts override earlier ones (a correction wins), keeping the first insertion order."""
    merged: Answers = {}
    for part in parts:
        merged.update(part)
    return merged


def values_summing(count: int, total: int) -> list[int]:
    """``count`` scores from 1 to 5 that add up to ``total``."""
    assert count <= total <= 5 * count
    values = [1] * count
    extra = total - count
    for i in range(count):
        step = min(4, extra)
        values[i] += step
        extra -= step
    return values


def indicator_ids(stage_id: str) -> tuple[str, ...]:
    """The indicator ids of one relationship stage, in knowledge order."""
    stage = next(s for s in RS.stages if s.id == stage_id)
    return tuple(i.id for i in stage.indicators)


def statements(stage_id: str, only: Iterable[str] | None = None) -> tuple[str, ...]:
    """The indicator statements of a stage (or of the listed indicators), in knowledge order."""
    stage = next(s for s in RS.stages if s.id == stage_id)
    keep = set(only) if only is not None else None
    return tuple(i.statement for i in stage.indicators if keep is None or i.id in keep)


def moves(stage_id: str) -> tuple[str, ...]:
    """The texts of a stage's moves to the next stage."""
    stage = next(s for s in RS.stages if s.id == stage_id)
    return tuple(m.text for m in stage.moves_to_next)


def stage_answers(**by_stage: str) -> dict[str, str]:
    """The same option ('agree', 'partly', 'disagree') for every indicator of each named stage."""
    return {iid: option for stage_id, option in by_stage.items() for iid in indicator_ids(stage_id)}
