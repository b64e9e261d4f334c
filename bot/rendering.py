"""Turn template names and values into words, for each channel's markup.

One template set (``bot/templates``) serves every channel. Each markup format has its own Jinja2
environment whose ``finalize`` escapes every interpolated value for that markup, so text a person typed
can never become formatting: in Slack ``<!channel>`` stays literal text, in Telegram ``<b>`` stays literal.
Templates add formatting only through the filters ``b`` (bold), ``i`` (italic) and ``code``, which escape
their input and return markup that is not escaped again.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Callable
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup


class Format(enum.StrEnum):
    """A channel's markup."""

    PLAIN = "plain"
    SLACK = "slack"  # Slack mrkdwn
    TELEGRAM = "telegram"  # Telegram's HTML parse mode
    MARKDOWN = "markdown"  # files and stdout (digests, plans)


def escape_slack(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_telegram(text: str) -> str:
    """Escape text for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


ESCAPE: dict[Format, Callable[[str], str]] = {
    Format.PLAIN: str,
    Format.SLACK: escape_slack,
    Format.TELEGRAM: escape_telegram,
    Format.MARKDOWN: str,
}

_WRAP: dict[Format, dict[str, tuple[str, str]]] = {
    Format.PLAIN: {"b": ("", ""), "i": ("", ""), "code": ("", "")},
    Format.SLACK: {"b": ("*", "*"), "i": ("_", "_"), "code": ("`", "`")},
    Format.TELEGRAM: {"b": ("<b>", "</b>"), "i": ("<i>", "</i>"), "code": ("<code>", "</code>")},
    Format.MARKDOWN: {"b": ("**", "**"), "i": ("_", "_"), "code": ("`", "`")},
}


def cite(source: str) -> str:
    """A short citation for an entry's source: 'seed 001' for a seed file, 'ours' for our own text."""
    if source == "ours":
        return "ours"
    return f"seed {source.split('_', 1)[0]}"


def describe_answer(answer: Any) -> str:
    """An answer as stored in a draft (value, note, special), in words."""
    if not answer:
        return "(not answered)"
    special = answer.get("special")
    words = {"skip": "skipped (does not apply)", "not_asked": "not asked yet", "skipped": "skipped"}
    if special in words:
        return words[special]
    value = answer.get("value")
    shown = "yes" if value is True else "no" if value is False else str(value)
    return f"{shown} ({answer['note']})" if answer.get("note") else shown


def _finalizer(fmt: Format) -> Callable[[Any], Any]:
    escape = ESCAPE[fmt]

    def finalize(value: Any) -> Any:
        if isinstance(value, Markup):
            return value
        return escape("" if value is None else str(value))

    return finalize


def _wrapper(fmt: Format, name: str) -> Callable[[Any], Markup]:
    start, end = _WRAP[fmt][name]
    escape = ESCAPE[fmt]

    def wrap(value: Any) -> Markup:
        inner = value if isinstance(value, Markup) else escape(str(value))
        return Markup(f"{start}{inner}{end}")  # noqa: S704 (inner is escaped for this format just above)

    return wrap


@cache
def environment(fmt: Format = Format.PLAIN) -> Environment:
    """The environment of one markup format: templates in ``bot/templates``, undefined values are errors."""
    env = Environment(
        loader=PackageLoader("bot", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # templates ship with the package: no stat() per render
        # Not HTML: escaping is per channel, done by `finalize` on every interpolated value.
        autoescape=False,  # noqa: S701
        finalize=_finalizer(fmt),
    )
    env.filters["cite"] = cite
    escape = ESCAPE[fmt]
    env.filters["answer"] = lambda a: Markup(escape(describe_answer(a)))  # noqa: S704 (escaped here)
    for name in _WRAP[fmt]:
        env.filters[name] = _wrapper(fmt, name)
    return env


_TEMPLATES: dict[tuple[Format, str], Template] = {}


def render(template: str, /, fmt: Format = Format.PLAIN, **values: Any) -> str:
    """Render one template for one markup format."""
    compiled = _TEMPLATES.get((fmt, template))
    if compiled is None:
        compiled = _TEMPLATES.setdefault((fmt, template), environment(fmt).get_template(template))
    return compiled.render(values).strip("\n")
