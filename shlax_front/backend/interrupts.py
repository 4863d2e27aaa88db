"""SIGTERM and SIGHUP taken as Ctrl-C while a build runs, so that its clean-up runs.

Why: a CI runner cancelling a job, ``timeout`` or a closed terminal end a process with SIGTERM or SIGHUP, whose
default action kills it on the spot: ``finally`` blocks never run, and the build's working containers, mounts
and temporary directories stay behind. Raised as ``KeyboardInterrupt`` instead, they unwind through the same
clean-up as Ctrl-C. Both the normal build (``api``) and a late edit redone from its record (``replay``) use it.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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


def deferred(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` runs whole, a Ctrl-C, SIGTERM or SIGHUP meanwhile acted on once it returns (or fails).

    Why: a layer's commit and its index entry belong together. Interrupted between the two (while ``buildah
    commit`` writes the image, or as its id comes back), the build lost the id of the image buildah had made:
    no index entry, never removed, an unnamed image no ``cache prune`` finds (seen: a SIGINT during the commit of
    an 80 MB layer). Held, the signal is raised again as soon as the entry is written. Only the main thread can
    hold signals (Python runs handlers there); elsewhere the function runs as it is."""

    @functools.wraps(function)
    def holding(*args: P.args, **kwargs: P.kwargs) -> R:
        if threading.current_thread() is not threading.main_thread():
            return function(*args, **kwargs)
        caught: list[int] = []

        def hold(signum: int, frame: object) -> None:
            caught.append(signum)

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) not in (signal.SIG_IGN, None):  # an ignored signal stays ignored
                previous[sig] = signal.signal(sig, hold)
        try:
            return function(*args, **kwargs)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if caught:  # its own handler now: KeyboardInterrupt, or the default action
                signal.raise_signal(caught[0])

    return holding
