"""Weighted account analysis (seeds 000 and 001): place an account on attractiveness and strength.

Each criterion of ``account_selection.yaml`` is scored on its scale and weighted within its axis. The
strength axis also takes in the relationship as assessed (ours): the latest stage (tactical to strategic
mapped onto the scale) and the latest qualification percentage, each with the share the knowledge file
gives it, when they exist. An axis at or above ``high_from`` is high; the two axes pick the quadrant.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.knowledge.schema import AccountSelection


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an account lands, and why."""

    attractiveness: float
    strength: float
    quadrant_id: str
    quadrant_label: str
    meaning: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """As stored in the assessment's result."""
        return asdict(self)


def _axis(
    selection: AccountSelection, axis_id: str, scores: Mapping[str, int]
) -> tuple[float, list[tuple[float, str]]]:
    axis = selection.axis(axis_id)
    given = [(c, scores[c.id]) for c in axis.criteria if c.id in scores]
    if not given:
        return float(selection.scale_min), []
    weight = sum(c.weight for c, _ in given)  # criteria not scored leave the axis; the rest re-weigh
    value = sum(c.weight * s for c, s in given) / weight
    return value, [(s, c.label) for c, s in given]


def place(
    selection: AccountSelection,
    scores: Mapping[str, int],
    *,
    stage_order: int | None = None,
    stages: int = 4,
    qualification_percent: float | None = None,
) -> Placement:
    """Score both axes and pick the quadrant."""
    lo, hi = selection.scale_min, selection.scale_max
    attractiveness, a_parts = _axis(selection, "attractiveness", scores)
    criteria_strength, s_parts = _axis(selection, "strength", scores)
    shares: list[tuple[float, float]] = []
    evidence: list[str] = []
    if stage_order is not None and selection.stage_weight:
        on_scale = lo + (hi - lo) * (stage_order - 1) / max(stages - 1, 1)
        shares.append((selection.stage_weight, on_scale))
        evidence.append(f"relationship stage {stage_order} of {stages} counts as {on_scale:.1f}")
    if qualification_percent is not None and selection.qualification_weight:
        on_scale = lo + (hi - lo) * qualification_percent / 100
        shares.append((selection.qualification_weight, on_scale))
        evidence.append(f"latest qualification {qualification_percent:.0f}% counts as {on_scale:.1f}")
    rest = 1 - sum(w for w, _ in shares)
    strength = rest * criteria_strength + sum(w * v for w, v in shares)
    high_a = attractiveness >= selection.high_from
    high_s = strength >= selection.high_from
    quadrant = next(
        q
        for q in selection.quadrants
        if (q.attractiveness == "high") == high_a and (q.strength == "high") == high_s
    )
    reasons = _reasons(a_parts, "attractiveness", high_a) + _reasons(s_parts, "strength", high_s)
    return Placement(
        attractiveness=round(attractiveness, 2),
        strength=round(strength, 2),
        quadrant_id=quadrant.id,
        quadrant_label=quadrant.label,
        meaning=quadrant.meaning,
        reasons=tuple(reasons),
        evidence=tuple(evidence),
    )


def _reasons(parts: Sequence[tuple[float, str]], axis: str, high: bool) -> list[str]:
    """The criteria that pulled an axis where it is: the highest scores for a high axis, else the lowest."""
    if not parts:
        return [f"{axis}: no criterion scored"]
    ranked = sorted(parts, reverse=high)[:2]
    return [f"{axis} {'high' if high else 'low'}: {label} scored {score:g}" for score, label in ranked]


@dataclass(frozen=True, slots=True)
class Point:
    """One account on the portfolio chart."""

    account: str
    owner: str
    attractiveness: float
    strength: float
    quadrant: str


def portfolio_chart(points: Sequence[Point], selection: AccountSelection) -> bytes:
    """A PNG scatter of the accounts with the quadrant lines and labels."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    lo, hi, mid = selection.scale_min, selection.scale_max, selection.high_from
    figure = Figure(figsize=(7, 6), dpi=100)
    ax = figure.subplots()
    ax.set_xlim(lo - 0.2, hi + 0.2)
    ax.set_ylim(lo - 0.2, hi + 0.2)
    ax.axvline(mid, color="#888888", linewidth=1)
    ax.axhline(mid, color="#888888", linewidth=1)
    corners = {
        ("high", "high"): (hi, hi),
        ("high", "low"): (lo, hi),
        ("low", "high"): (hi, lo),
        ("low", "low"): (lo, lo),
    }
    for q in selection.quadrants:
        x, y = corners[(q.attractiveness, q.strength)]
        ax.text(
            x,
            y,
            q.label,
            ha="right" if x == hi else "left",
            va="top" if y == hi else "bottom",
            fontsize="small",
            color="#555555",
        )
    ax.scatter(
        [p.strength for p in points], [p.attractiveness for p in points], s=60, color="#1d3557", zorder=3
    )
    for p in points:
        ax.annotate(
            p.account,
            (p.strength, p.attractiveness),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize="small",
        )
    ax.set_xlabel("our strength with the account")
    ax.set_ylabel("account attractiveness")
    ax.set_title("Account portfolio: weighted account analysis")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
