"""Dialogs and views, found by a registry: a module here defining ``DIALOG`` or ``VIEWS`` adds them."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from bot.dialogs.base import Dialog, View


@cache
def _modules() -> tuple[ModuleType, ...]:
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.name.startswith("_") and module_info.name != "base":
            found.append(importlib.import_module(f"{__name__}.{module_info.name}"))
    return tuple(found)


@cache
def registry() -> dict[str, Dialog]:
    """Every dialog by name, discovered from the modules of this package (``DIALOG = ...``)."""
    found: dict[str, Dialog] = {}
    for module in _modules():
        dialog = getattr(module, "DIALOG", None)
        if isinstance(dialog, Dialog):
            if dialog.name in found:
                raise RuntimeError(f"two dialogs are named {dialog.name!r}")
            found[dialog.name] = dialog
    return found


@cache
def views() -> dict[str, View]:
    """Every read-only command by its command, discovered the same way (``VIEWS = (...)``)."""
    found: dict[str, View] = {}
    for module in _modules():
        for view in getattr(module, "VIEWS", ()):
            if isinstance(view, View):
                found[view.command] = view
    return found


def by_command() -> dict[str, Dialog]:
    """Every dialog by the command that starts it (``qualify`` -> the qualification)."""
    return {d.command: d for d in registry().values()}
