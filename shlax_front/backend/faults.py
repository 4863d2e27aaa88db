"""Named points where a build can be made to fail on purpose, so that tests can check what a failure leaves.

A build that is interrupted (Ctrl-C), fails or is killed outright at any moment must leave the host caches usable
and nothing behind once the next build has run: no working container, no mount, no half-written cache entry.
The moments that matter most are between two writes that belong together; each is a named point here, and a
test picks one through the environment::

    SHLAX_FRONT_FAULT=layer-committed:kill shlax-front build ...

``point[:action]``, several separated by commas. Actions: ``raise`` (an ``InjectedFault``, the default),
``interrupt`` (the ``KeyboardInterrupt`` of a Ctrl-C) and ``kill`` (SIGKILL: no clean-up code runs). Unset, a
point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "SHLAX_FRONT_FAULT"

#: every point, and the moment it stands for
POINTS = {
    "layer-committed": "a layer committed to the image store, its index entry not written yet",
    "cache-write": "a cache record (layer index, digests, checked packages) written to its temporary file, "
    "not renamed into place yet",
    "wheelhouse-filled": "pip download has filled the host wheelhouse, the resolution record not written yet",
    "host-caches-used": "a RUN has written to the host package caches (apt archives and lists, wheelhouse), "
    "the caches not handed back nor unlocked yet",
}
ACTIONS = ("raise", "interrupt", "kill")


class InjectedFault(RuntimeError):
    """The failure a ``raise`` fault point throws."""


def chosen() -> dict[str, str]:
    """point -> action, as the environment asks (unknown points and actions are refused: a typo in a test
    would otherwise test nothing)."""
    spec = os.environ.get(ENV, "")
    out = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition(":")
        action = action or "raise"
        if name not in POINTS or action not in ACTIONS:
            raise ValueError(
                f"{ENV}: unknown fault {item!r} (points: {', '.join(POINTS)}; actions: {ACTIONS})"
            )
        out[name] = action
    return out


def point(name: str) -> None:
    """Fail here if the environment asks for a fault at ``name`` (one of ``POINTS``)."""
    if ENV not in os.environ:
        return
    assert name in POINTS, name
    action = chosen().get(name)
    if action == "raise":
        raise InjectedFault(f"injected fault at {name}")
    if action == "interrupt":
        raise KeyboardInterrupt  # what Python's SIGINT handler raises
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
