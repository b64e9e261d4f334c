"""Shared fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.knowledge.loader import SHIPPED_DIR

REPO = Path(__file__).resolve().parents[1]
SHARED_SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped knowledge folder, to break or extend in a test."""
    target = tmp_path / "knowledge"
    shutil.copytree(SHIPPED_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target
