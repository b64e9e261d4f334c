"""Who may see whose data: a rep their own, a manager their team's, an admin everyone's.

Every read of another person's data goes through ``can_see``; nothing else decides it.
"""

from __future__ import annotations

from collections.abc import Iterable

from storage.base import Person, Role


def can_see(viewer: Person | None, owner_id: str, people: Iterable[Person]) -> bool:
    """Whether ``viewer`` may read the data of ``owner_id``."""
    if viewer is None:
        return False
    if viewer.id == owner_id or viewer.role == Role.ADMIN:
        return True
    if viewer.role == Role.MANAGER:
        owner = next((p for p in people if p.id == owner_id), None)
        return owner is not None and owner.manager_id == viewer.id
    return False


def visible_reps(viewer: Person | None, people: Iterable[Person]) -> list[Person]:
    """The other people whose data ``viewer`` may read: a manager's team, or (for an admin) everyone."""
    everyone = list(people)
    if viewer is None:
        return []
    return [p for p in everyone if p.id != viewer.id and can_see(viewer, p.id, everyone)]
