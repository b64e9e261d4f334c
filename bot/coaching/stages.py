"""Relationship-stage assessment: which stage the indicators support, and what is missing for the next.

Pure functions over the answers (indicator id -> option id) and the ``relationship_stages`` knowledge.
A stage is reached when its indicators get at least ``reached_at`` of their possible support (ours); the
current stage is the highest stage reached with every stage below it reached too, since the stages of seed
002 build on each other ("The next step demands more involvement!").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.knowledge.schema import RelationshipStages


@dataclass(frozen=True, slots=True)
class StageSupport:
    """How strongly one stage's indicators are supported."""

    id: str
    order: int
    name: str
    support: float  # 0..1
    answered: int
    reached: bool


@dataclass(frozen=True, slots=True)
class StageResult:
    """The assessed stage, its support, what is missing for the next one and the moves that get there."""

    stage_id: str
    stage_name: str
    order: int
    established: bool  # False: not even the first stage is reached yet
    support: float
    stages: tuple[StageSupport, ...]
    next_stage: str | None
    missing: tuple[str, ...]  # statements of the next stage not yet agreed
    moves: tuple[str, ...]
    move_sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """As stored in the assessment's result."""
        return asdict(self)


def assess_stage(rs: RelationshipStages, answers: Mapping[str, str]) -> StageResult:
    """Assess the stage from indicator answers (indicator id -> answer option id)."""
    weights = {o.id: o.weight for o in rs.answers.options}
    supports = []
    for stage in rs.stages:
        given = [weights[answers[i.id]] for i in stage.indicators if answers.get(i.id) in weights]
        support = sum(given) / len(stage.indicators)
        supports.append(
            StageSupport(
                stage.id,
                stage.order,
                stage.name,
                round(support, 3),
                len(given),
                support >= rs.answers.reached_at,
            )
        )
    reached = 0
    for s in supports:
        if not s.reached:
            break
        reached = s.order
    current = rs.stages[max(reached, 1) - 1]
    # Not established yet: the first stage itself is the one to reach. Otherwise the stage after this one.
    target = rs.stages[0] if not reached else (rs.stages[reached] if reached < len(rs.stages) else None)
    missing = tuple(i.statement for i in target.indicators if answers.get(i.id) != "agree") if target else ()
    moves = current.moves_to_next if reached else ()
    return StageResult(
        stage_id=current.id,
        stage_name=current.name,
        order=current.order,
        established=reached > 0,
        support=supports[current.order - 1].support,
        stages=tuple(supports),
        next_stage=target.name if target is not None else None,
        missing=missing,
        moves=tuple(m.text for m in moves),
        move_sources=tuple(sorted({seed for m in moves for seed in m.based_on})),
    )


def movement(previous_order: int | None, current_order: int) -> str:
    """'up', 'down', 'same' or 'first' compared with the previous assessment of the account."""
    if previous_order is None:
        return "first"
    if current_order > previous_order:
        return "up"
    if current_order < previous_order:
        return "down"
    return "same"
