"""SIGTERM and SIGHUP taken as Ctrl-C while a build runs, so that its clean-up runs.

Why: a CI runner cancelling a job, ``timeout`` or a closed terminal end a process with SIGTERM or SIGHUP, whose
default action kills it on the spot: ``finally`` blocks never run, and the build's working containers, mounts
and temporary directories stay behind. Raised as ``KeyboardInterrupt`` instead, they unwind through the same
clean-up as Ctrl-C. Both the normal build (``api``) and a late edit redone from its record (``replay``) use it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``KeyboardInterrupt``; the previous handlers come back after
    (nothing changes outside the main thread, where Python allows no handler)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
