"""The dialogs, found by a registry: every module here that defines ``DIALOG`` is one, no list to edit."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from bot.dialogs.base import Dialog


@cache
def registry() -> dict[str, Dialog]:
    """Every dialog by name, discovered from the modules of this package."""
    found: dict[str, Dialog] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_") or module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        dialog = getattr(module, "DIALOG", None)
        if isinstance(dialog, Dialog):
            if dialog.name in found:
                raise RuntimeError(f"two dialogs are named {dialog.name!r}")
            found[dialog.name] = dialog
    return found


def by_command() -> dict[str, Dialog]:
    """Every dialog by the command that starts it (``qualify`` -> the qualification)."""
    return {d.command: d for d in registry().values()}
