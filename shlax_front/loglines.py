"""What the library logs, shown on stderr as the command line words it (one line each, ``shlax-front: ...``).

Apart from ``cli`` so that ``python -m shlax_front`` sets it up before click is imported (``__main__``)."""

from __future__ import annotations

import logging
import sys


class _OneLine(logging.Formatter):
    """What the library logs, as the command line shows it: ``shlax-front: [warning: ]message``."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"shlax-front: {level}{record.getMessage()}"


def show_library_messages() -> None:
    """Print what the library logs (warnings, what a build waits for) on stderr, one line each."""
    logger = logging.getLogger("shlax_front")
    if not any(getattr(h, "shlax_front_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        handler.shlax_front_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
