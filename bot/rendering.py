"""The one Jinja2 environment that turns template names and values into the words the bot says."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def cite(source: str) -> str:
    """A short citation for an entry's source: 'seed 001' for a seed file, 'ours' for our own text."""
    if source == "ours":
        return "ours"
    return f"seed {source.split('_', 1)[0]}"


@cache
def environment() -> Environment:
    """The shared environment: templates in ``bot/templates``, undefined values are errors."""
    env = Environment(
        loader=PackageLoader("bot", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Plain text, not HTML: each channel escapes user text for its own markup at the edge.
        autoescape=False,  # noqa: S701
    )
    env.filters["cite"] = cite
    return env


def render(template: str, /, **values: Any) -> str:
    """Render one template with the given values."""
    return environment().get_template(template).render(**values).strip("\n")
