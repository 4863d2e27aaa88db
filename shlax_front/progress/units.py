"""Byte counts as people read them (``2.5 MB``): decimal units, as apt and pip print theirs."""

from __future__ import annotations


def human(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value} B"
