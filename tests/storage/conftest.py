"""Fixtures of the storage tests: a real TinyDBStore in a temporary data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.tinydb_store import TinyDBStore


@pytest.fixture
def store(tmp_path: Path) -> TinyDBStore:
    """An empty store in its own data directory."""
    return TinyDBStore(tmp_path / "data")
