"""Package managers, one module each; ``MANAGERS`` is the registry the recogniser walks.

Adding a manager is adding a module here (a ``Manager`` subclass, mostly tables) plus a fixture folder
``fixtures/optimize/<name>/``; list the module in ``MODULES``.
"""

from __future__ import annotations

import importlib

from shlax_front.managers.base import CLEAN, INSTALL, OTHER, UPDATE, CacheDir, Invocation, Manager
from shlax_front.shell import Command

MODULES = ("apt", "apk", "dnf", "zypper", "pacman", "pip", "uv", "npm", "yarn", "pnpm")


def _load() -> tuple[type[Manager], ...]:
    found: list[type[Manager]] = []
    for name in MODULES:
        module = importlib.import_module(f"shlax_front.managers.{name}")
        found.extend(module.MANAGERS)
    return tuple(found)


MANAGERS: tuple[type[Manager], ...] = _load()
BY_NAME = {m.name: m for m in MANAGERS}


def find(command: Command) -> type[Manager] | None:
    """The manager whose executable ``command`` runs, or None."""
    if not command.args:
        return None
    for manager in MANAGERS:
        if manager.matches(command):
            return manager
    return None


__all__ = [
    "CLEAN",
    "INSTALL",
    "OTHER",
    "UPDATE",
    "BY_NAME",
    "CacheDir",
    "Invocation",
    "MANAGERS",
    "Manager",
    "find",
]
