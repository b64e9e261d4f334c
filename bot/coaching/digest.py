"""The managers' weekly digest: pure functions from the team's stored data to a digest and its chart.

Per rep: dialogs completed, qualifications with scores and fit decisions, stage movements, call plans made,
upcoming calls (those entered without a plan flagged), accounts with no activity for 30 days or more, and
onboarding progress for new hires. For the team: the average per qualification step against the previous
period, the weakest themes, and three coaching suggestions (ours). The chart: accounts by relationship
stage per rep.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.knowledge import KnowledgeBase
from storage.base import Assessment, Person, PersonData

INACTIVE_DAYS = 30
NOT_ASSESSED = "Not assessed"


@dataclass(frozen=True, slots=True)
class RepDigest:
    """One rep's week."""

    person: Person
    completed: int
    qualifications: tuple[dict[str, Any], ...]
    moves: tuple[dict[str, Any], ...]
    plans_made: int
    upcoming: tuple[dict[str, Any], ...]
    inactive: tuple[str, ...]
    onboarding: tuple[int, int] | None  # (modules done, modules) for new hires
    stages: dict[str, int] = field(default_factory=dict)  # latest stage name -> accounts
    quadrants: dict[str, int] = field(default_factory=dict)  # latest prioritization quadrant -> accounts


@dataclass(frozen=True, slots=True)
class Digest:
    """A manager's digest for one period."""

    manager: Person
    start: datetime
    end: datetime
    reps: tuple[RepDigest, ...]
    step_averages: tuple[tuple[str, float | None, float | None], ...]  # (step title, now %, before %)
    weakest_themes: tuple[tuple[str, float], ...]
    suggestions: tuple[str, ...]
    stage_names: tuple[str, ...]


def _in(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def _account_names(data: PersonData) -> dict[str, str]:
    return {a.key: a.name for a in data.accounts}


def _latest_by_account(
    assessments: Sequence[Assessment], kind: str, before: datetime
) -> dict[str, Assessment]:
    latest: dict[str, Assessment] = {}
    for a in assessments:
        if a.kind == kind and a.account and not a.practice and a.completed_at < before:
            latest[a.account] = a
    return latest


def rep_digest(
    person: Person, data: PersonData, kb: KnowledgeBase, start: datetime, end: datetime
) -> RepDigest:
    """One rep's activity between ``start`` and ``end`` (and their upcoming calls after ``end``)."""
    names = _account_names(data)
    real = [a for a in data.assessments if not a.practice]
    week = [a for a in real if _in(a.completed_at, start, end)]
    qualifications = tuple(
        {
            "account": names.get(a.account or "", a.account or ""),
            "percent": a.result.get("percent"),
            "total": a.result.get("total"),
            "maximum": a.result.get("maximum"),
            "band": a.result.get("band_label"),
            "fit": a.result.get("fit"),
        }
        for a in week
        if a.kind == "qualification"
    )
    moves = tuple(
        {
            "account": names.get(a.account or "", a.account or ""),
            "direction": a.result.get("movement"),
            "from": a.result.get("previous_stage"),
            "to": a.result.get("stage_name"),
        }
        for a in week
        if a.kind == "stage" and a.result.get("movement") in ("up", "down")
    )
    plans_made = sum(1 for p in data.plans if p.plan and _in(p.created_at, start, end))
    upcoming = tuple(
        {
            "account": names.get(p.account, p.account),
            "call_at": p.call_at,
            "planned": bool(p.plan),
            "readiness": p.plan.get("readiness") if p.plan else None,
        }
        for p in sorted(data.plans, key=lambda p: p.call_at or end)
        if p.call_at is not None and end <= p.call_at < end + timedelta(days=7)
    )
    last_activity: dict[str, datetime] = {a.key: a.created_at for a in data.accounts}
    for a in real:
        if a.account:
            last_activity[a.account] = max(last_activity.get(a.account, a.completed_at), a.completed_at)
    for p in data.plans:
        last_activity[p.account] = max(last_activity.get(p.account, p.created_at), p.created_at)
    inactive = tuple(
        sorted(
            names.get(k, k) for k, at in last_activity.items() if at <= end - timedelta(days=INACTIVE_DAYS)
        )
    )
    onboarding = None
    if person.new_hire:
        done = sum(1 for m in data.onboarding if m.status == "done")
        onboarding = (done, len(kb.onboarding.modules))
    latest = _latest_by_account(real, "stage", end)
    stages = Counter(a.result.get("stage_name", "?") for a in latest.values())
    unassessed = sum(1 for a in data.accounts if a.key not in latest)
    if unassessed:
        stages[NOT_ASSESSED] = unassessed
    placed = _latest_by_account(real, "prioritization", end)
    quadrants = Counter(str(a.result.get("quadrant_label", "?")) for a in placed.values())
    return RepDigest(
        quadrants=dict(quadrants),
        person=person,
        completed=len(week),
        qualifications=qualifications,
        moves=moves,
        plans_made=plans_made,
        upcoming=upcoming,
        inactive=inactive,
        onboarding=onboarding,
        stages=dict(stages),
    )


def _step_percent(assessments: Sequence[Assessment], start: datetime, end: datetime) -> dict[str, float]:
    totals: dict[str, list[float]] = defaultdict(list)
    for a in assessments:
        if a.kind != "qualification" or a.practice or not _in(a.completed_at, start, end):
            continue
        for step in a.result.get("steps", []):
            if step.get("maximum"):
                totals[step["title"]].append(100.0 * step["total"] / step["maximum"])
    return {title: sum(v) / len(v) for title, v in totals.items()}


def _themes(kb: KnowledgeBase, assessments: Sequence[Assessment]) -> tuple[tuple[str, float], ...]:
    q = kb.qualification
    theme_of = {question.id: question.theme for question in q.questions}
    labels = {t.id: t.label for t in q.themes}
    scores: dict[str, list[int]] = defaultdict(list)
    for a in assessments:
        for qid, answer in a.answers.items():
            value = answer.get("value") if isinstance(answer, dict) else None
            if qid in theme_of and isinstance(value, int) and not isinstance(value, bool):
                scores[theme_of[qid]].append(value)
    averages = sorted((sum(v) / len(v), labels[t]) for t, v in scores.items() if v)
    return tuple((label, round(avg, 1)) for avg, label in averages[:3])


def build_digest(
    manager: Person,
    team: Sequence[tuple[Person, PersonData]],
    kb: KnowledgeBase,
    *,
    end: datetime,
    days: int = 7,
) -> Digest:
    """The digest of ``manager``'s team for the ``days`` before ``end``."""
    start = end - timedelta(days=days)
    reps = tuple(rep_digest(person, data, kb, start, end) for person, data in team)
    everything = [a for _, data in team for a in data.assessments]
    now = _step_percent(everything, start, end)
    before = _step_percent(everything, start - timedelta(days=days), start)
    titles = [s.title for s in kb.qualification.steps]
    step_averages = tuple((t, now.get(t), before.get(t)) for t in titles)
    recent = [
        a
        for a in everything
        if a.kind == "qualification" and not a.practice and _in(a.completed_at, start, end)
    ]
    themes = _themes(kb, recent)
    return Digest(
        manager=manager,
        start=start,
        end=end,
        reps=reps,
        step_averages=step_averages,
        weakest_themes=themes,
        suggestions=suggestions(reps, themes, step_averages),
        stage_names=(*(s.name for s in kb.relationship_stages.stages), NOT_ASSESSED),
    )


def suggestions(
    reps: Sequence[RepDigest],
    themes: Sequence[tuple[str, float]],
    steps: Sequence[tuple[str, float | None, float | None]],
) -> tuple[str, ...]:
    """Three coaching suggestions for the manager (ours), from what the week shows."""
    found: list[str] = []
    if themes:
        label, average = themes[0]
        found.append(f"Coach the team on {label.lower()}: its answers averaged {average} of 5 this week.")
    for title, now, before in steps:
        if now is not None and before is not None and now < before - 5:
            found.append(
                f"{title} scores fell from {before:.0f}% to {now:.0f}%: review one of those calls together."
            )
            break
    quiet = [r.person.name for r in reps if r.completed == 0]
    if quiet:
        found.append(f"No coaching dialogs this week from {', '.join(quiet[:3])}: ask what is coming up.")
    unplanned = [(r.person.name, u["account"]) for r in reps for u in r.upcoming if not u["planned"]]
    if unplanned:
        name, account = unplanned[0]
        found.append(f"{name} has a call with {account} coming up without a plan: suggest /plan {account}.")
    stale = [(r.person.name, len(r.inactive)) for r in reps if r.inactive]
    if stale:
        name, count = max(stale, key=lambda s: s[1])
        found.append(
            f"{name} has {count} account(s) untouched for {INACTIVE_DAYS}+ days: decide which to revive."
        )
    behind = [r.person.name for r in reps if r.onboarding and r.onboarding[0] < r.onboarding[1]]
    if behind:
        found.append(f"Check in on onboarding with {', '.join(behind[:3])}.")
    found += [  # a good week: what any manager can do with it
        "Ask each rep for one account where the relationship could move up a stage, and how.",
        "Review one of this week's qualifications together: which question would you ask differently?",
        "Ask each rep which upcoming call they most want help preparing.",
    ]
    return tuple(found[:3])


def stage_chart(digest: Digest) -> bytes:
    """A PNG: accounts by relationship stage (latest assessment) per rep, as stacked bars."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = [_short(r.person.name) for r in digest.reps] or ["(no reps)"]
    figure = Figure(figsize=(8, 1.6 + 0.45 * max(len(names), 2)), dpi=100)
    ax = figure.subplots()
    left = [0] * len(names)
    colors = plt.get_cmap("viridis")
    stages = [s for s in digest.stage_names if s != NOT_ASSESSED]
    for n, stage in enumerate(digest.stage_names):
        counts = [r.stages.get(stage, 0) for r in digest.reps] or [0]
        color = "#cccccc" if stage == NOT_ASSESSED else colors(n / max(len(stages) - 1, 1))
        ax.barh(names, counts, left=left, label=stage, color=color)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_xlabel("accounts, by the stage of their latest assessment")
    ax.set_title(f"Accounts by relationship stage, week to {digest.end:%Y-%m-%d}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="lower center", ncol=len(digest.stage_names), fontsize="small", frameon=False
    )
    ax.invert_yaxis()
    # Fixed margins rather than tight_layout(), which draws the whole figure once more to measure it.
    height = figure.get_figheight()
    figure.subplots_adjust(left=0.16, right=0.97, top=1 - 0.45 / height, bottom=1.05 / height)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _short(name: str, limit: int = 18) -> str:
    """A name that fits the chart's left margin."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def chart_data(digest: Digest) -> dict[str, dict[str, int]]:
    """The numbers behind the chart: rep -> stage -> accounts (for tests and the text digest)."""
    return {r.person.name: {s: r.stages.get(s, 0) for s in digest.stage_names} for r in digest.reps}
