"""apt's plan of a full install: which packages it configures before its last dpkg run.

apt configures pre-dependencies first, each in a dpkg run of its own (``python3`` pre-depends on
``python3-minimal``, which pre-depends on ``python3.11-minimal``...), and the rest in its last run
(``dpkg --configure --pending``). dpkg's ``status-old`` is the status file from the start of that last run, so
which packages show there configured depends on that split, which apt makes for the whole package set. An apt
delta (``incremental``) can only rebuild a full install's copy when it knows that split: asked of apt itself.

``apt-get install -o Debug::pkgDPkgPM=1`` downloads the packages and then prints each dpkg call instead of
making it (dpkg is never run; apt's ``DPkg::Pre-Invoke``/``Post-Invoke`` hooks still are, so it runs as the
step's own script, which parks the base image's ``docker-clean`` hook away from the host's archive cache). Run
in a container of the layer the install starts from, with the step's mounts (the same package lists and
archives), it prints the calls a full install makes there: on bookworm, for ``curl procps python3
python3-venv tini less`` (one call a line)::

    /usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/libssl3...
    /usr/bin/dpkg --status-fd 17 --no-triggers --configure libssl3:amd64 libpython3.11-minimal:amd64 ...
    /usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure --recursive /tmp/apt-dpkg-install-...
    /usr/bin/dpkg --status-fd 17 --no-triggers --configure python3-minimal:amd64
    /usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure --recursive /tmp/apt-dpkg-install-...
    /usr/bin/dpkg --status-fd 17 --configure --pending

(the packages of a ``--recursive`` unpack are in a directory apt removes: only the configure calls name them).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shlax_front.backend.wheelhouse import Ran

    #: runs argv in a container with the step's environment and mounts -> what ran
    RunIn = Callable[[Sequence[str], str | None], Ran]

#: what makes apt print its dpkg calls instead of making them (an apt-get/apt option, before the packages)
PLAN_OPTION = "-o Debug::pkgDPkgPM=1"
#: the dpkg actions a plan of an install is understood with (anything else: not understood, no delta kept)
_UNDERSTOOD = frozenset({"--unpack", "--configure"})


def configured_early(output: str) -> frozenset[str] | str:
    """The names of the packages apt's plan (``output`` of an install with ``PLAN_OPTION``) configures in a dpkg
    call before its last one, or why the output is not understood (a string): no dpkg call, an action other
    than unpack and configure (a removal, a trigger run), or a last call that is not a configure."""
    calls = [line.split() for line in output.splitlines()]
    calls = [w for w in calls if w and posixpath.basename(w[0]) == "dpkg" and "--status-fd" in w]
    if not calls:
        return "apt's plan of a full install shows no dpkg run"
    early: set[str] = set()
    for n, words in enumerate(calls):
        action = next((w for w in words if w in DPKG_ACTIONS), None)
        if action not in _UNDERSTOOD:
            return f"apt's plan of a full install runs dpkg {action or 'without an action'}, not understood"
        last = n == len(calls) - 1
        if last and action != "--configure":
            return "apt's plan of a full install does not end with a dpkg configure run"
        if action == "--configure" and not last:
            names = [w for w in words[words.index(action) + 1 :] if not w.startswith("-")]
            early.update(name.split(":", 1)[0] for name in names)
    return frozenset(early)


#: dpkg's actions (``dpkg --help``) that apt may ask for
DPKG_ACTIONS = frozenset(
    {"--install", "--unpack", "--configure", "--triggers-only", "--remove", "--purge", "--set-selections"}
)


@dataclass
class FullPlan:
    """Asks apt, after a delta ran, which packages a full install of the step's whole package set configures
    before its last dpkg run (``early``), when the earlier install or the delta configured a package new to its
    layer early (``needed``; otherwise no container is made). ``argv``: the step's shell and script with every
    package and ``PLAN_OPTION``, run as the step ran in a container of the parent layer. ``failed``: why there
    is no answer (the delta is then not kept when it needed one)."""

    argv: tuple[str, ...]
    needed: Callable[[], bool]
    early: frozenset[str] | None = None
    failed: str | None = None

    def __call__(self, run: RunIn, container: Callable[[], str | None]) -> None:
        if not self.needed():
            return
        parent = container()
        if parent is None:
            self.failed = "no container of the parent layer to ask apt's plan of a full install in"
            return
        ran = run(self.argv, parent)
        if ran.returncode != 0:
            self.failed = f"apt's plan of a full install failed (exit status {ran.returncode})"
            return
        early = configured_early(ran.output)
        if isinstance(early, str):
            self.failed = early
        else:
            self.early = early
