"""The shipped knowledge loads, is complete, and is faithful to the seed documents."""

from __future__ import annotations

import re

import pytest

from bot.knowledge import shipped_knowledge
from bot.knowledge.loader import SHIPPED_DIR
from bot.knowledge.schema import OURS, normalize_space
from tests.conftest import SHARED_SEEDS

SEED_001 = "001_b7b84066c4b68497.txt"


def seed_questions_by_step(text: str) -> dict[int, list[str]]:
    """Read the questions of each step straight out of seed 001: the lines ending in '?' under each step."""
    part = text.split("Qualifying a Sale", 1)[1].split("Better Strategy", 1)[0]
    steps: dict[int, list[str]] = {}
    current = 0
    for line in part.splitlines():
        heading = re.fullmatch(r"Step (\d):\s*", line)
        if heading:
            current = int(heading.group(1))
            steps[current] = []
        elif current and line.strip().endswith("?"):
            steps[current].append(line.strip())
    return steps


def test_question_counts_per_step_match_seed_001() -> None:
    kb = shipped_knowledge()
    assert [len(step.questions) for step in kb.qualification.steps] == [14, 8, 6]


def test_every_seed_question_appears_word_for_word_in_order() -> None:
    seed = (SHIPPED_DIR / "sources" / SEED_001).read_text(encoding="utf-8")
    from_seed = seed_questions_by_step(seed)
    kb = shipped_knowledge()
    ours = {step.number: [q.text for q in step.questions] for step in kb.qualification.steps}
    assert ours == from_seed


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason=f"the shared seed folder {SHARED_SEEDS} is absent")
def test_shipped_sources_are_exact_copies_of_the_shared_seeds() -> None:
    shared = {p.name: p.read_bytes() for p in SHARED_SEEDS.glob("*.txt")}
    shipped = {p.name: p.read_bytes() for p in (SHIPPED_DIR / "sources").glob("*.txt")}
    assert shipped == shared


def test_every_entry_names_a_source_and_seed_quotes_are_verbatim() -> None:
    kb = shipped_knowledge()
    entries = list(kb.entries())
    assert len(entries) > 100
    for entry in entries:
        if entry.source == OURS:
            assert getattr(entry, "quote", None) is None
            continue
        quote = getattr(entry, type(entry).QUOTE_FIELD)  # type: ignore[union-attr]
        assert normalize_space(quote) in kb.seeds[entry.source], entry


def test_every_file_cites_the_seeds_the_issue_names() -> None:
    kb = shipped_knowledge()

    def seeds_of(model: object) -> set[str]:
        from bot.knowledge.loader import iter_entries

        found = set()
        for e in iter_entries(model):
            found |= {e.source, *e.based_on}
        return {s.split("_", 1)[0] for s in found if s != OURS}

    assert seeds_of(kb.qualification) == {"001", "003"}
    assert {"000", "002", "003"} <= seeds_of(kb.relationship_stages)
    assert {"000", "003"} <= seeds_of(kb.call_planning)
    assert {"000", "001", "002", "003", "004"} <= seeds_of(kb.onboarding)
    assert {"000", "001"} <= seeds_of(kb.account_selection)


def test_scale_and_fit_decision_follow_seed_001() -> None:
    q = shipped_knowledge().qualification
    assert (q.scale.min, q.scale.max) == (1, 5)
    assert q.scale.labels[1] == "least favorable match"
    assert q.scale.labels[5] == "most favorable match"
    assert "do my products and services best match the needs of this prospect" in q.fit_decision.quote
    assert q.fit_decision.after_step == "step2"


@pytest.mark.parametrize(
    ("percent", "band"), [(100, "strong"), (79, "strong"), (75, "strong"), (74.9, "possible"), (0, "weak")]
)
def test_every_percentage_falls_in_one_verdict_band(percent: float, band: str) -> None:
    assert shipped_knowledge().qualification.band_for(percent).id == band


def test_the_four_relationship_stages_in_order() -> None:
    stages = shipped_knowledge().relationship_stages.stages
    assert [s.id for s in stages] == ["tactical", "operational", "functional", "strategic"]
    assert all(s.source.startswith("002_") for s in stages)
    assert all(s.moves_to_next for s in stages[:-1])


def test_call_planning_covers_seed_003_checklist_and_seed_000_nested_plans() -> None:
    cp = shipped_knowledge().call_planning
    text = " ".join(f"{i.label} {i.prompt}".lower() for i in cp.items)
    for topic in [
        "mission",
        "vision",
        "values",
        "history",
        "objectives",
        "strategy",
        "resources",
        "structure",
        "systems",
        "skills",
        "cost",
        "quality",
        "new markets",
        "decision",
        "politics",
        "power",
        "personalit",
        "specialists",
        "competitor",
    ]:
        assert topic in text, topic
    assert [p.name for p in cp.nested_plans] == [
        "Individual Call Plans",
        "Opportunity Plans",
        "Relationship Plans",
        "Partner Plans",
        "Account Plans",
        "Territory Plans",
    ]


def test_account_selection_weights_add_up_on_both_axes() -> None:
    sel = shipped_knowledge().account_selection
    for axis in sel.axes:
        assert sum(c.weight for c in axis.criteria) == pytest.approx(1.0)
    assert len(sel.axis("attractiveness").criteria) == 4
    assert len(sel.axis("strength").criteria) == 3


def test_onboarding_quiz_answers_are_explained_and_cited() -> None:
    modules = shipped_knowledge().onboarding.modules
    assert len(modules) >= 7
    quiz = [q for m in modules for q in m.quiz]
    assert quiz
    for q in quiz:
        assert q.source != OURS, q.id
        assert q.explanation
