"""What both platform fakes share: waiting on a condition for the calls an app made."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar


class _Call(Protocol):
    method: str


C = TypeVar("C", bound=_Call)


def wait_for_calls(
    changed: threading.Condition,
    calls: Sequence[C],
    method: str,
    count: int,
    *,
    timeout: float,
    where: Callable[[C], bool] | None = None,
) -> list[C]:
    """Block (on ``changed``, notified at every call) until ``count`` calls of ``method`` were made."""
    deadline = time.monotonic() + timeout
    with changed:
        while True:
            found = [c for c in calls if c.method == method and (where is None or where(c))]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                made = [c.method for c in calls]
                raise AssertionError(f"expected {count} {method} call(s), got {len(found)}; calls: {made}")
            changed.wait(remaining)


class Recorder:
    """The reading side both fakes share: ``calls`` guarded by the ``_changed`` condition."""

    calls: list[Any]
    _changed: threading.Condition

    def of(self, method: str) -> list[Any]:
        """Every call of ``method`` so far."""
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 10.0,
        where: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """Block until at least ``count`` calls of ``method`` (matching ``where``) were made."""
        return wait_for_calls(self._changed, self.calls, method, count, timeout=timeout, where=where)
