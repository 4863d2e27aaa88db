"""Incremental package layers (``--incremental``): a RUN whose only change is packages added to its apt install
starts from the layer its previous version left and installs only the added packages.

Two halves, one per side of the backend's door:

- ``describe`` (planner): whether a RUN's script is one the delta rule understands - exactly one unconditional
  ``apt-get``/``apt install`` of plain package names, and besides it only commands that do the same thing
  whatever was installed before (``apt-get update``, ``apt-get clean``, ``rm``, ``set``, ``export``,
  ``true``). It records the script with the package list cut out (``template``: what must not change) and
  the script the run would execute (the rewritten one, with the cache settings) with a marker where the
  package list goes.
- ``IncrementalLayers`` (executor): per template key (the parent layer's key and every other input of the
  step, with the template in place of the script) the key of the last layer built or reused for it and its
  package set, in ``layers/incremental.json`` under the cache root. When the new set only adds names to the
  recorded one and that layer is still in storage, the step starts from it and runs the script with only
  the added packages (same options, same update, same clean-up). The layer is committed under the step's
  full key, so the next unchanged build reuses it like any other.

The packages a full build would get depend on the package lists too. A RUN that updates them with the lists
kept on the host is only built incrementally while the host's lists are the ones the earlier layer was built
with (their release files, by content); when the update in the delta run itself brings new lists, the step
is built again in full. A RUN that updates lists kept in the image is always built in full; one that does
not update at all reads the lists of its parent layer, the same in both builds.

dpkg triggers are the other thing a delta can do differently: a cache a trigger rebuilds on top of an existing
one is not always the one a first build makes (man-db's ``index.db`` and its per-language directories are
not). A delta run in which dpkg processed a trigger of a package not in ``PROVEN_TRIGGERS`` (read from
``/var/log/dpkg.log``, the lines the run added) is thrown away and the step built in full.

update-alternatives needs no such rule: it writes a link group's file with its choices and slaves sorted by
name, and picks the highest priority, so a group an added package joins reads as after a full install (the
apt test adds ``less`` to the ``pager`` group of the earlier layer).

dpkg's ``status-old`` (its copy of the status file from before its last write) is rebuilt as a full install
leaves it (``restore_status_old``) only when that copy is the status from the start of apt's last dpkg run.
dpkg also writes the file after every 251st update of a run, so a full install of more packages than about
80 may leave a copy from the middle of that run, which follows dpkg's own configure order and updates its log
does not show: a delta whose full install may reach that write is built in full (``mid_run_write``; the example
app's nodejs npm install). apt configures pre-dependencies before its last run, each in a dpkg run of its own
(python3's python3-minimal), so the copy shows them configured: which ones a full install configures early is
asked of apt (``aptplan``: its plan of a full install, in a container of the parent layer, only when the earlier
install or the delta configured a package new to its layer early), and a delta whose layers configured other
ones early is not kept. The updates are counted in dpkg's log, the earlier install's last run and the
delta's (``last_run_updates``), and estimated from the packages when a log is not there or not as expected.

pip deltas are checked after the run (``PipCheck``): what pip left must be what a full install would leave.

Anything else builds the step in full; ``--explain`` says which and why.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from shlax_front.backend.aptplan import PLAN_OPTION, FullPlan
from shlax_front.backend.keys import step_key
from shlax_front.backend.rootfs import inside
from shlax_front.backend.store import file_lock, write_atomic

if TYPE_CHECKING:  # the front end is only needed by the planner's half
    from collections.abc import Callable, Sequence

    from shlax_front import actions as A
    from shlax_front.backend.steps import RunStep
    from shlax_front.backend.wheelhouse import Ran
    from shlax_front.shell import Word

    #: what runs a command for ``PipCheck``: (argv, container or None for the delta's own) -> what ran
    RunIn = Callable[[Sequence[str], str | None], Ran]

#: packages whose dpkg triggers were shown to leave the same files after a delta as after a full install
#: (``ldconfig``: tests/buildah/test_build_incremental.py); another one's trigger in a delta run -> full build
PROVEN_TRIGGERS = frozenset({"libc-bin"})
DPKG_LOG = "/var/log/dpkg.log"
DPKG_STATUS = "/var/lib/dpkg/status"
#: dpkg's copy of its status file from before its last write (``restore_status_old``)
DPKG_STATUS_OLD = "/var/lib/dpkg/status-old"
#: apt's record of the packages installed only as dependencies (``AptOrder``)
EXTENDED_STATES = "/var/lib/apt/extended_states"
#: where apt's package lists live in the image (a host cache when the RUN deletes them afterwards)
LISTS_TARGET = "/var/lib/apt/lists"
#: where the package list stood in ``DeltaInstall.template`` / ``rewritten``
MARK = "\x00packages\x00"
#: commands a delta run may repeat: they leave the same files whatever the layer already had
REPEATABLE = frozenset({"rm", "set", "export", "true", ":"})
#: what the text between two package names may be (the RUN's continuation lines are already joined)
_BETWEEN = re.compile(r"(?:\s|\\\n)*")
#: a package operand that is not a plain name: a removal (``foo-``), a glob or regex, a local .deb file
_NOT_A_NAME = re.compile(r"[-+]$|[*?\[\]^$]|^[./~]")


@dataclass(frozen=True)
class PipInstall:
    """The pip of a delta-able install: its program words (``/venv/bin/pip``, ``python3 -m pip``) and its
    options as the shell passes them (``--no-cache-dir``, ``--user``, ``--index-url URL``)."""

    program: tuple[str, ...]
    options: tuple[str, ...]


@dataclass(frozen=True)
class DeltaInstall:
    """A RUN the delta rule understands. ``packages``: the install's names as the shell sees them, in order;
    ``words``: the same as written (quotes kept); ``template``: the RUN's script with the package list
    replaced by ``MARK``; ``rewritten``: the script the executor runs (the passes' rewrite applied), ``MARK``
    where the package list goes."""

    packages: tuple[str, ...]
    words: tuple[str, ...]
    template: str
    rewritten: str
    #: the script runs ``apt-get update``: the package lists it installs from are the host's, or new ones
    updates: bool = False
    #: a pip install: how to ask the same pip what a full install would do (``PipCheck``)
    pip: PipInstall | None = None
    #: the script deletes apt's package lists: the earlier layer has none to install from, unless they are
    #: the host's (mounted for a RUN that updates them)
    deletes_lists: bool = False

    def script_with(self, packages: tuple[str, ...]) -> str:
        """The script to run that installs only ``packages`` (names of ``self.packages``), as written."""
        written = dict(zip(self.packages, self.words, strict=True))
        return self.rewritten.replace(MARK, " ".join(written[p] for p in packages))

    def plan_script(self) -> str:
        """The script that asks apt for its plan of a full install of every package (``aptplan``): the step's
        own, its install printing dpkg's calls instead of making them."""
        return self.rewritten.replace(MARK, f"{PLAN_OPTION} {' '.join(self.words)}")


def describe(action: A.Action, runs: str, pip: bool = True) -> DeltaInstall | str | None:
    """What the delta rule makes of a RUN's action whose step runs the script ``runs``: a ``DeltaInstall``,
    the reason it cannot (a string), or None when the RUN installs nothing (nothing to say about it).
    ``pip``: pip installs too (``--incremental``); by default only apt's, because a pip delta and its proof
    took longer than a full install from the warm wheelhouse (README)."""
    from shlax_front import actions as A

    if not isinstance(action, A.RunLike):
        return None
    installs = (action.installs if isinstance(action, A.Run) else ()) or (
        (action,) if isinstance(action, A.Install) else ()
    )
    if not installs:
        return None
    if isinstance(action, A.Npm):
        return (
            f"{action.tool} installs are built in full: a delta is not proven to leave the node_modules"
            " (and its .package-lock.json) a full install writes"
        )
    if not (isinstance(action, A.Packages) and action.manager == "apt" or isinstance(action, A.Pip)):
        kinds = sorted({str(getattr(i, "manager", None) or getattr(i, "tool", "?")) for i in installs})
        if isinstance(action, A.Run):
            return "more than one install, or one that runs conditionally"
        return f"only apt and pip installs are built incrementally (this RUN runs {', '.join(kinds)})"
    if isinstance(action, A.Pip) and not pip:
        return "pip deltas are built only with --incremental (with their proof they cost more than they save)"
    if action.exec_form:
        return "exec form"
    if action.heredocs:
        return "a heredoc RUN"
    assert isinstance(action.run, str)
    edits = action.caching.edits if action.caching is not None and runs != action.run else ()
    return describe_script(action.run, edits, runs)


def describe_script(text: str, edits: tuple[tuple[int, int, str], ...], runs: str) -> DeltaInstall | str:
    """``describe`` for a shell-form script ``text`` that runs as ``runs`` (``edits`` applied to it)."""
    from shlax_front import managers, shell
    from shlax_front.managers.base import CLEAN, INSTALL, UPDATE
    from shlax_front.passes import apply_edits

    script = shell.parse(text)
    if script.opaque:
        return f"script not understood ({script.opaque})"
    install = None
    updates = False
    for cmd in script.commands:
        manager = managers.find(cmd)
        inv = manager.invocation(cmd, {}) if manager is not None else None
        if inv is not None and inv.role == INSTALL and install is None and inv.name in ("apt", "pip"):
            install = inv
            continue
        if cmd.depth or cmd.start < 0:
            return "a nested shell script"
        if inv is not None and inv.name == "apt" and inv.role in (UPDATE, CLEAN):
            updates |= inv.role == UPDATE
            continue
        if inv is not None and inv.name == "pip" and inv.role == CLEAN:
            continue
        if inv is None and cmd.name in REPEATABLE:
            continue
        return f"the RUN also runs `{' '.join(cmd.argv[:3])}`"
    if install is None:
        return "no apt or pip install found in the script"
    if install.verb != "install":
        return f"{install.name} {install.verb} is not a plain install"
    if install.command.depth or install.command.start < 0:
        return "the install runs in a nested shell script"
    if install.dynamic or install.command.conditional:
        return "the package list is computed at run time"
    operands = _operands(install)
    if not operands:
        return "no package named"
    if install.name == "pip":
        refused = _pip_refusal(install, operands)
        if refused:
            return refused
    elif any(w.dynamic or _NOT_A_NAME.search(w.value) for w in operands):
        return "a package operand is not a plain name (variable, glob, removal or file)"
    start, end = operands[0].start, operands[-1].end
    for before, after in zip(operands, operands[1:], strict=False):
        if not _BETWEEN.fullmatch(text[before.end : after.start]):
            return "options among the package names"
    if len({w.value for w in operands}) != len(operands):
        return "a package named twice"
    refused = _removal_refusal(script, install.name)
    if refused:
        return refused
    if any(e[0] < end and e[1] > start or start < e[0] < end for e in edits):
        return "the cache rewrite changes the package list"
    cut = (start, end, MARK)
    template = apply_edits(text, [cut])
    rewritten = apply_edits(text, [*(edits or ()), cut])
    if rewritten.replace(MARK, text[start:end]) != runs:
        return "the cache rewrite could not be reproduced"
    pip = None
    if install.name == "pip":
        options, _, _ = install.manager.split(
            install.command.args[install.manager.program_words(install.command) :]
        )
        program = install.command.argv[: install.manager.program_words(install.command)]
        pip = PipInstall(tuple(program), tuple(w.value for w in options))
    return DeltaInstall(
        packages=tuple(w.value for w in operands),
        words=tuple(w.text for w in operands),
        template=template,
        rewritten=rewritten,
        updates=updates,
        pip=pip,
        deletes_lists=_deletes_lists(script),
    )


#: what a delta-able RUN may delete: the content of directories no install reads and no check of the delta
#: does (downloads, temporary files, documentation, apt's own logs, debconf's backups, a user's caches).
#: Anything else may be what the install reads (apt's sources or lists, dpkg's database or its log that the
#: trigger check reads, the pip that runs): the delta starts from a layer where it is already gone.
_REMOVABLE = (
    "/var/cache/apt",
    "/tmp",
    "/var/tmp",
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/info",
    "/var/log/apt",
    "/root/.cache",
)
_REMOVABLE_GLOBS = ("/var/cache/debconf/*-old", "/home/*/.cache/*")
#: files no package ships that the image may lose before or after the install alike: the official images'
#: hook that deletes downloaded .debs (Docker's documented apt cache-mount recipe removes it first; it
#: only empties the cache, which shlax-front parks it away from anyway)
_REMOVABLE_FILES = ("/etc/apt/apt.conf.d/docker-clean",)


def _removal_refusal(script, manager: str) -> str | None:
    """Why the ``rm`` commands of a delta-able script stop the delta (None: they may run again)."""
    from shlax_front.managers.paths import relation, rm_paths

    for _cmd, paths in rm_paths(script, {}, None):
        for word, path in paths:
            if path is None or not path.startswith("/"):
                return f"the RUN deletes `{word.text}`, a path not known before it runs"
            lists = relation(path, LISTS_TARGET)
            if manager == "apt" and (lists == "inside" or lists and posixpath.normpath(path) == LISTS_TARGET):
                continue  # ``start`` decides: only with the lists kept on the host
            if any(relation(path, root) == "inside" for root in _REMOVABLE) or path in _REMOVABLE_FILES:
                continue
            if any(fnmatch.fnmatchcase(path, glob) for glob in _REMOVABLE_GLOBS):
                continue
            return f"the RUN deletes {path}, which the install or the delta's checks may read"
    return None


def _deletes_lists(script) -> bool:
    """The script deletes apt's package lists (``rm -rf /var/lib/apt/lists/*``, ``apt-get dist-clean``)."""
    from shlax_front.managers.paths import relation, rm_paths

    return any(
        path is not None and relation(path, LISTS_TARGET) is not None
        for _cmd, paths in rm_paths(script, {}, None)
        for _word, path in paths
    ) or any(cmd.name in ("apt-get", "apt") and "dist-clean" in cmd.argv for cmd in script.commands)


def _operands(inv) -> list[Word]:
    """The install's package words, in order (the manager's own split of its arguments)."""
    _, operands, _ = inv.manager.split(inv.command.args[inv.manager.program_words(inv.command) :])
    return operands


#: pip options that read requirements from files (only names on the command line are compared)
_PIP_FILES = ("-r", "--requirement", "-c", "--constraint")
#: pip options that install somewhere a delta merges into differently from a first install (``--target``
#: skips what exists there, ``bin/`` included) or from a source tree
_PIP_ELSEWHERE = ("-t", "--target", "--prefix", "--root", "-e", "--editable")
#: a pip operand that is not a requirement on an index name: a path, an URL, an archive
_NOT_A_REQUIREMENT = re.compile(r"^[./~]|/|://|@|\.(whl|zip|tar\.gz|tgz|tar\.bz2)$", re.I)


def _option_named(value: str, names: tuple[str, ...]) -> bool:
    """``value`` (an option word) is one of ``names``, as ``--name``, ``--name=x`` or a joined ``-rFILE``."""
    return any(
        value == n or value.startswith(n + "=") or (not n.startswith("--") and value.startswith(n))
        for n in names
    )


def _pip_refusal(install, operands: list[Word]) -> str | None:
    """Why a pip install cannot be built incrementally, or None."""
    words = install.command.args[install.manager.program_words(install.command) :]
    options, _, _ = install.manager.split(words)
    for w in options:
        if w.dynamic:
            return "a pip option is computed at run time"
        if not w.value.startswith("-"):
            continue  # an option's value
        if _option_named(w.value, _PIP_FILES):
            return "pip reads requirement or constraint files (only names on its command line are built incrementally)"
        if _option_named(w.value, _PIP_ELSEWHERE):
            return f"pip {w.value.split('=', 1)[0]} merges into what exists differently from a first install"
    if any(w.dynamic or _NOT_A_REQUIREMENT.search(w.value) for w in operands):
        return "a pip operand is not a plain requirement (variable, path, URL or archive)"
    return None


# --------------------------------------------------------------------------------------------------------------
# The executor's side
# --------------------------------------------------------------------------------------------------------------


@dataclass
class PipCheck:
    """The proof a pip delta owes before it is kept: the distributions it left (``pip inspect`` in the delta's
    container: name, version, whether requested) are those of the parent layer with what a full install of
    every requirement there would install (``pip install --dry-run --report`` in a container of the parent
    layer, the same options, environment, mounts and wheelhouse) in their place. A dependency the index or
    the wheelhouse now has newer than the earlier layer took, a distribution the earlier install brought
    and the full one no longer needs, a package added that the earlier layer had only as a dependency (pip
    would not mark it requested): each differs, and the step is built in full."""

    pip: PipInstall
    #: every requirement of the full install, as the shell passes them
    packages: tuple[str, ...]
    #: a working container of the parent layer (made and removed by the executor)
    parent: str | None = None
    #: why the delta must not be kept (None: it left what a full install would)
    verdict: str | None = None

    def __call__(self, run: RunIn) -> None:
        program = list(self.pip.program)
        scope = ["--user"] if "--user" in self.pip.options else []
        full = ["install", "--dry-run", "--quiet", "--report", "-", *self.pip.options, *self.packages]
        would = run([*program, *full], self.parent)
        before = run([*program, "inspect", *scope], self.parent)
        after = run([*program, "inspect", *scope], None)
        if any(r.returncode != 0 for r in (would, before, after)):
            self.verdict = "pip could not say what a full install would leave (pip 22.2 or later needed)"
            return
        try:
            expected = _installed(before.stdout)
            for item in _json(would.stdout).get("install", []):
                expected[canonical_name(item["metadata"]["name"])] = (
                    item["metadata"]["version"],
                    bool(item.get("requested")),
                )
            left = _installed(after.stdout)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.verdict = "pip's report of what a full install would leave was not understood"
            return
        differ = [
            f"{name} {left.get(name, ('none',))[0]} (a full install: {expected.get(name, ('none',))[0]}"
            f"{', requested' if expected.get(name, ('', False))[1] else ''})"
            for name in sorted(set(expected) | set(left))
            if expected.get(name) != left.get(name)
        ]
        if differ:
            self.verdict = f"the pip delta left {'; '.join(differ[:3])}"


def canonical_name(name: str) -> str:
    """PEP 503: ``Charset_Normalizer`` and ``charset-normalizer`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _json(text: str) -> dict:
    """The JSON object pip printed (whatever it printed before it)."""
    data, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def _installed(inspect_output: str) -> dict[str, tuple[str, bool]]:
    """{name: (version, requested)} of ``pip inspect``'s output."""
    return {
        canonical_name(d["metadata"]["name"]): (d["metadata"]["version"], bool(d.get("requested")))
        for d in _json(inspect_output)["installed"]
    }


@dataclass
class AptOrder:
    """apt's ``extended_states`` (which packages were installed only as dependencies) as a full install leaves
    it. apt writes the file keeping the entries it read from it in their order, then appends the packages it
    newly marked automatic in the order of its package cache. After a delta the earlier install's entries
    come first and the added packages' dependencies after them; a full install has both in cache order. The
    entries the parent layer did not have are taken out and marked again in one ``apt-mark auto`` of the
    image's own apt, with the step's mounts (the same package lists, so the same cache order); apt-mark
    writes no package cache with ``Dir::Cache::pkgcache`` empty. When it fails or leaves other entries, the
    file is put back and the delta is not kept. Nothing runs when the new entries are all the earlier
    install's or all the delta's (apt wrote them in one go, in cache order)."""

    #: the delta's container, mounted
    rootfs: str
    #: the parent layer's mounted root (None: no parent, ``FROM scratch``), asked only when needed
    parent_root: Callable[[], str | None]
    #: the earlier layer's entries (None: not known)
    earlier: set[tuple[str, str]] | None = None
    verdict: str | None = None
    #: apt's plan of a full install, asked when an install configured a new package early (``aptplan``)
    plan: FullPlan | None = None
    #: makes a working container of the parent layer, for the plan (the executor's; it removes ``parent``)
    make_parent: Callable[[], str] | None = None
    parent: str | None = None

    def __call__(self, run: RunIn) -> None:
        if self.plan is not None:
            self.plan(run, self._parent)
        self._order(run)

    def _parent(self) -> str | None:
        if self.parent is None and self.make_parent is not None:
            self.parent = self.make_parent()
        return self.parent

    def _order(self, run: RunIn) -> None:
        path = inside(self.rootfs, EXTENDED_STATES)
        left = _read(path)
        if not left:
            return
        stanzas = _stanzas(left)
        if self.earlier is not None and (not self.earlier or all(key in self.earlier for key, _ in stanzas)):
            return  # the new entries are all the earlier install's or all the delta's: in cache order already
        root = self.parent_root()
        had = {key for key, _ in _stanzas((_read(inside(root, EXTENDED_STATES)) if root else None) or "")}
        added = [key for key, _ in stanzas if key not in had]
        if len(added) < 2 or self.earlier is not None and self.earlier <= had:
            return  # nothing to put in order
        kept = [stanza.strip("\n") + "\n\n" for key, stanza in stanzas if key not in added]
        names = [f"{name}:{arch}" if arch else name for name, arch in added]
        _write(path, "".join(kept))
        marked = run([*APT_MARK, *names], None)
        now = _read(path)
        if marked.returncode != 0 or now is None or _entries(now) != _entries(left):
            _write(path, left)
            self.verdict = "apt-mark could not write apt's extended_states as a full install does"


#: apt-mark of the image, writing no package cache (a full install's layer has none it did not write)
APT_MARK = ("apt-mark", "-qq", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "auto")


def _entries(text: str) -> list[tuple[tuple[str, str], str]]:
    """The stanzas of a dpkg-style file, whatever their order and blank lines."""
    return sorted((key, stanza.strip("\n")) for key, stanza in _stanzas(text))


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


@dataclass
class Start:
    """Where a step begins under ``--incremental``: the earlier layer's ``image`` and the ``step`` that installs
    only the added packages, or neither with ``why`` saying why the step builds in full."""

    why: str
    image: str | None = None
    step: RunStep | None = None
    #: the host's apt lists the delta run starts with (``lists_fingerprint``), when the script updates them
    lists: str | None = None

    def explained(self, reason: str | None) -> str | None:
        if not self.why:
            return reason
        said = f"built incrementally: {self.why}" if self.image else f"not incremental: {self.why}"
        return f"{reason}; {said}" if reason else said

    #: how long dpkg's log was before the delta run (what the run added is after it)
    dpkg_log_size: int = 0
    #: dpkg's status and status-old in the earlier layer (``restore_status_old``)
    dpkg_status: tuple[str | None, str | None] | None = None
    #: dpkg's log in the earlier layer (the delta's lines are what its run appends) and the status updates of
    #: the earlier install's last dpkg run counted there (``earlier_updates``; None: not counted)
    dpkg_log: str | None = None
    earlier_updates: int | None = None
    #: the packages new to the earlier layer its install configured before its last dpkg run (``early_new``)
    earlier_early: set[tuple[str, str]] = field(default_factory=set)
    #: the count recorded with the earlier layer when a delta built it (its log's last run is the delta's alone)
    recorded_updates: int | None = None
    #: the earlier install's and the delta's counts together, once the delta is kept (recorded with its layer)
    kept_updates: int | None = None
    #: the parent layer's mounted root (None: no parent), asked only when needed
    parent_root: Callable[[], str | None] = lambda: None
    #: /etc/passwd and /etc/group of the earlier layer (``accounts_added``)
    accounts: dict[str, str | None] = field(default_factory=dict)
    #: digests of the earlier layer's files maintainer scripts edit (``shared_edits``)
    shared: dict[str, str] = field(default_factory=dict)
    #: what the delta must prove or put right before it is kept (run by the step runner after the delta)
    check: PipCheck | AptOrder | None = None

    def redone(self, reason: str | None, why: str) -> str:
        """The explanation once the delta run could not be kept (``why``) and the step was built in full
        (``reason``: the one ``explained`` gave, whose "built incrementally" no longer holds)."""
        reason = (reason or "").removesuffix(f"built incrementally: {self.why}").removesuffix("; ")
        said = f"not incremental: {why} (built in full)"
        return f"{reason}; {said}" if reason else said


def _delta_early(start: Start, rootfs: str) -> set[tuple[str, str]]:
    """``early_new`` of the delta (run in ``rootfs``, on the earlier layer whose status files ``start`` has)."""
    earlier_status = (start.dpkg_status or (None, None))[0]
    status, old = _read(inside(rootfs, DPKG_STATUS)), _read(inside(rootfs, DPKG_STATUS_OLD))
    return early_new(earlier_status, status, old) if earlier_status and status and old else set()


def _plan_needed(start: Start, rootfs: str) -> bool:
    """apt's plan of a full install is asked only when the earlier install or the delta configured a package new
    to its layer before its last dpkg run (anything else: the two last runs are the full install's)."""
    return bool(start.earlier_early or _delta_early(start, rootfs))


def dpkg_triggers(log: str, offset: int) -> list[str]:
    """The packages whose triggers dpkg processed (``trigproc`` lines) in ``log`` after byte ``offset``."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            added = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in added.splitlines():
        words = line.split()
        if len(words) >= 4 and words[2] == "trigproc":
            out.append(words[3].split(":", 1)[0])
    return out


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return None


def _stanzas(text: str) -> list[tuple[tuple[str, str], str]]:
    """((package, architecture), stanza) of a dpkg status file, in order."""
    out = []
    for stanza in text.split("\n\n"):
        if not stanza.strip():
            continue
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith(" ")
        )
        out.append(((fields.get("Package", "").strip(), fields.get("Architecture", "").strip()), stanza))
    return out


def _last_write(status: str, status_old: str) -> dict[tuple[str, str], str]:
    """The packages dpkg's last write changed (their stanzas in ``status_old``, from before that write)."""
    now = dict(_stanzas(status))
    return {key: stanza for key, stanza in _stanzas(status_old) if now.get(key) != stanza}


def _changed(before: str, after: str) -> set[tuple[str, str]]:
    """The packages whose stanza in the status file ``after`` is not the one in ``before``."""
    was = dict(_stanzas(before))
    return {key for key, stanza in _stanzas(after) if was.get(key) != stanza}


def dpkg_runs_split(
    rootfs: str,
    parent_root: Callable[[], str | None],
    earlier_status: str | None,
    earlier_old: str | None,
    counted: tuple[int | None, int | None] = (None, None),
    plan: FullPlan | None = None,
) -> str | None:
    """Why ``restore_status_old`` cannot rebuild a full install's ``status-old`` (None: it can). Its rule holds
    when the copy is the status file from the start of apt's last dpkg run, and that run unpacked-then-configured
    the packages of the install it did not configure before, so that the copy shows them unpacked and those
    configured in earlier runs installed. It does not hold:

    - when dpkg wrote its status file during that run (``mid_run_write``): a full install of many packages;
    - when apt configured packages new to the layer in an earlier dpkg run (it configures pre-dependencies
      first: python3's python3-minimal) and a full install would not configure the same ones early: which ones
      is apt's choice for the whole set, asked of apt (``plan``: ``aptplan.FullPlan``, None or failed: not
      known). An upgrade configured early (a library dpkg itself needs: bookworm-security's libzstd1, in the
      real test) is configured early by a full install too.

    An earlier install or a delta whose copy shows a package new to its layer configured (either cause) that
    apt's plan does not configure early, or a full install that may write mid-run, is built in full.
    ``counted``: the updates of the earlier install's and the delta's last runs counted in dpkg's log
    (``last_run_updates``), when both could be."""
    status, delta_old = _read(inside(rootfs, DPKG_STATUS)), _read(inside(rootfs, DPKG_STATUS_OLD))
    if not (status and delta_old and earlier_status and earlier_old):
        return None  # nothing to rebuild (``restore_status_old`` writes nothing either)
    root = parent_root()
    parent = (_read(inside(root, DPKG_STATUS)) if root else None) or ""
    earlier, delta = counted
    both = earlier + delta if earlier is not None and delta is not None else None
    return (
        mid_run_write("the earlier install", parent, earlier_status, earlier)
        or mid_run_write("a full install", parent, status, both)
        or _early_split(parent, earlier_status, earlier_old, status, delta_old, plan)
    )


def _early_split(
    parent: str, earlier_status: str, earlier_old: str, status: str, delta_old: str, plan: FullPlan | None
) -> str | None:
    """Why the packages new to the layer that the earlier install and the delta configured before their last
    dpkg runs are not the ones apt's plan of a full install configures before its own (None: they are, or
    there are none; a package the full install upgrades is left out of the comparison as ``_split`` does)."""
    seen = early_new(parent, earlier_status, earlier_old) | early_new(earlier_status, status, delta_old)
    if not seen:
        return None
    if plan is None or plan.early is None:
        why = _split("the earlier install", parent, earlier_status, earlier_old) or _split(
            "the delta", earlier_status, status, delta_old
        )
        return f"{why} ({plan.failed})" if plan is not None and plan.failed else why
    had = dict(_stanzas(parent))
    new = {key[0] for key, _stanza in _stanzas(status) if key not in had}
    planned, names = plan.early & new, {name for name, _arch in seen}
    if planned == names:
        return None
    only_full, only_here = sorted(planned - names), sorted(names - planned)
    said = [
        f"a full install configures {', '.join(only_full[:3])} early (apt's plan), the delta's layers did not"
    ]
    said = said if only_full else []
    if only_here:
        said.append(
            f"the delta's layers configured {', '.join(only_here[:3])} early, a full install does not"
        )
    return f"{'; '.join(said)}: its status-old would differ"


def earlier_split(
    parent_root: Callable[[], str | None],
    earlier_status: str | None,
    earlier_old: str | None,
    earlier_updates: int | None = None,
) -> str | None:
    """The earlier install's part of ``dpkg_runs_split`` known from the earlier layer alone, a status file dpkg
    may have written during its last run: asked before the delta runs, which it would otherwise throw away
    after running it (an added package to the example app's nodejs/npm install cost the delta and then the
    full install). Packages it configured in an earlier run are compared with apt's plan after the delta ran
    (the plan is asked in the delta's run, with its mounts)."""
    if not (earlier_status and earlier_old):
        return None
    root = parent_root()
    parent = (_read(inside(root, DPKG_STATUS)) if root else None) or ""
    return mid_run_write("the earlier install", parent, earlier_status, earlier_updates)


def earlier_updates(
    log: str | None,
    parent_root: Callable[[], str | None],
    earlier_status: str | None,
    early: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> int | None:
    """``last_run_updates`` of the earlier install, from the earlier layer's dpkg ``log``: its lines are the ones
    after the parent layer's log (the base image's and earlier RUNs' runs are in both). None when either log is
    not there or the earlier one does not continue the parent's (rotated, truncated, removed and made again)."""
    if log is None or not earlier_status:
        return None
    root = parent_root()
    parent_log = (_read(inside(root, DPKG_LOG)) if root else None) or ""
    if not log.startswith(parent_log):
        return None
    parent = (_read(inside(root, DPKG_STATUS)) if root else None) or ""
    return last_run_updates(log[len(parent_log) :], parent, earlier_status, early)


#: what dpkg writes to its log (``log_message``: a run's start, status changes, actions, conffile decisions)
DPKG_LOG_KINDS = frozenset(
    {"startup", "status", "install", "upgrade", "configure", "trigproc", "remove", "purge", "conffile"}
)
_DPKG_LOG_LINE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (\S+) \S")


def last_run_updates(
    added: str,
    before: str,
    after: str,
    early: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> int | None:
    """How many times dpkg updated its status in the last run of an install whose log lines are ``added`` and
    which took the status file from ``before`` to ``after``: the ``status`` lines after the run's ``startup``
    line, and one per conffile of each package the run configured, which the log does not show (a full install's
    last run, build-essential procps less git curl openssh-client sqlite3 unzip: 257 lines + 10 conffiles, the
    267 updates strace counted). None when unsure: a line that is not dpkg's, no run, a last line cut short, or a
    package new to the layer the last run did not configure (an earlier run did, or the lines are not the
    install's alone: a layer a delta built, whose last run is the delta's). ``early``: packages configured in an
    earlier run that apt's plan of a full install configures early too (``dpkg_runs_split`` refuses the delta
    otherwise): the full install's last run does not configure them either, so they are not looked for."""
    if not added.endswith("\n"):
        return None
    kinds = []
    for line in added.splitlines():
        match = _DPKG_LOG_LINE.match(line)
        if match is None or match.group(1) not in DPKG_LOG_KINDS:
            return None
        kinds.append(match.group(1))
    if "startup" not in kinds:
        return None
    run = added.splitlines()[len(kinds) - kinds[::-1].index("startup") :]
    now = dict(_stanzas(after))
    had = dict(_stanzas(before))
    configured = set()
    for line in run:
        words = line.split()
        if words[2] == "configure" and len(words) > 3:
            name, _, arch = words[3].partition(":")
            configured.add((name, arch))
    new = {key for key in now if key not in had} - set(early)
    if not new or not new <= configured or not configured <= now.keys():
        return None
    logged = sum(1 for line in run if line.split()[2] == "status")
    return logged + sum(_conffiles(now[key]) for key in configured)


def delta_updates(
    log: str | None,
    earlier_log: str | None,
    earlier_status: str | None,
    status: str | None,
    early: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> int | None:
    """``last_run_updates`` of the delta, from the lines its run appended to the earlier layer's dpkg log."""
    if (
        log is None
        or earlier_log is None
        or not (earlier_status and status)
        or not log.startswith(earlier_log)
    ):
        return None
    return last_run_updates(log[len(earlier_log) :], earlier_status, status, early)


#: dpkg writes its status file - and so ``status-old``, its copy of the one before - after every 251st update
#: of a run (``MAXUPDATES`` 250, lib/dpkg/dbmodify.c), not only when the run ends
DPKG_UPDATES_PER_WRITE = 251
#: at most this many status updates per package apt's last dpkg run configures, besides one per conffile: 3 for
#: most (unpacked, half-configured, installed), 6 for ca-certificates whose trigger the run processed too, in
#: the example app's install (nodejs npm, 417 packages, 1253 updates logged)
UPDATES_PER_PACKAGE = 6
#: and besides them all (triggers processed); also the margin on updates counted in dpkg's log: what a full
#: install's last run may do that the earlier install's and the delta's last runs did not (a trigger processed
#: once more: 2-3 updates, 6 for ca-certificates), or that neither the log nor the conffiles show (none of the
#: 267 a strace counted; the example app with file: 12 updates unlogged by 23fa548's count, 11 conffiles).
#: Measured, the two last runs counted more than the full install's, never less: git curl procps less then
#: build-essential openssh-client sqlite3 unzip 97 + 172 against 267 (libc-bin's trigger in both), build-essential
#: procps less then tree 190 + 3 against 193
UPDATES_BESIDES = 20


def mid_run_write(who: str, before: str, after: str, counted: int | None = None) -> str | None:
    """Why the ``status-old`` of ``who``, which took the status file from ``before`` to ``after``, may be a copy
    dpkg wrote during its last run (None: it is the one from the run's start). Such a copy shows every
    package configured before that write installed and the rest unpacked: where the write falls depends on
    dpkg's own configure order and on updates its log does not show: one per conffile, as dpkg installs it
    (strace of a full install: each of the 10 updates the log did not show came after a package with
    conffiles logged 'unpacked'). The example app's full install (417 packages configured in its last run,
    1253 updates logged, 9 conffiles) left npm unpacked in its copy, libc-bin and ca-certificates with
    triggers pending, all else installed; with ``file`` added, npm and four other node packages. Below
    ``DPKG_UPDATES_PER_WRITE`` updates for all the packages it changed and their conffiles, no such write.

    ``counted``: the updates of the last run(s) counted in dpkg's log (``last_run_updates``; a full install's
    last run configures what the earlier install's and the delta's configured in theirs), used instead of the
    estimate of ``UPDATES_PER_PACKAGE`` a package, which is about twice what most packages take (3): the
    62 packages of build-essential procps less took 190, estimated 412. ``UPDATES_BESIDES`` is added to both."""
    now = dict(_stanzas(after))
    changed = _changed(before, after)
    if counted is not None:
        updates = counted + UPDATES_BESIDES
        how = f"{counted} updates counted in dpkg's log + {UPDATES_BESIDES}"
    else:
        updates = sum(UPDATES_PER_PACKAGE + _conffiles(now[key]) for key in changed) + UPDATES_BESIDES
        how = f"{updates} updates estimated, not counted in dpkg's log"
    if updates < DPKG_UPDATES_PER_WRITE:
        return None
    return (
        f"{who} changes {len(changed)} packages: dpkg may write its status file during its last run (every"
        f" {DPKG_UPDATES_PER_WRITE} updates; {how}), and the status-old it leaves then follows dpkg's own"
        " configure order"
    )


def early_new(before: str, after: str, after_old: str) -> set[tuple[str, str]]:
    """The packages new to its layer that an install which took the status file from ``before`` to ``after``
    (``after_old`` its status-old) configured before its last dpkg run (or that its copy, written during that
    run, shows configured): changed by the install, not by dpkg's last write."""
    had = dict(_stanzas(before))
    early = _changed(before, after) - set(_last_write(after, after_old))
    return {key for key in early if key not in had}


def _split(who: str, before: str, after: str, after_old: str) -> str | None:
    """Why ``who``, which took the status file from ``before`` to ``after`` (``after_old`` its status-old),
    configured a package new to its layer before its last dpkg run, or its copy was written during that run
    (None: neither)."""
    new = sorted(name for name, _arch in early_new(before, after, after_old))
    if not new:
        return None
    return (
        f"{who} configured {', '.join(new[:3])}{' ...' if len(new) > 3 else ''} in an earlier dpkg run"
        " than its last, which a full install splits its own way"
    )


def _conffiles(stanza: str) -> int:
    """How many conffiles a status stanza lists (its ``Conffiles`` field's lines)."""
    lines = stanza.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("Conffiles:"):
            count = 0
            for rest in lines[n + 1 :]:
                if not rest.startswith(" "):
                    break
                count += 1
            return count
    return 0


#: the files where maintainer scripts add system users and groups (``adduser --system``)
ACCOUNTS = ("/etc/passwd", "/etc/group")


def _names(text: str | None) -> list[str]:
    return [line.split(":", 1)[0] for line in (text or "").splitlines() if ":" in line]


def accounts_added(
    rootfs: str, parent_root: Callable[[], str | None], earlier: dict[str, str | None]
) -> str | None:
    """Why the users and groups the delta's maintainer scripts added may not be a full install's (None: they
    are). ``adduser --system`` takes the first free id, in the order apt configures the packages: adding
    uuid-runtime to an install of tcpdump gave uuidd 101 (tcpdump had 100), where a full install configures
    uuid-runtime first and gives it 100 (and its files that owner). The ids are a full install's only when
    the delta added at most one user and one group and the earlier install none."""
    if not earlier:
        return None
    root = None
    for path in ACCOUNTS:
        had = set(_names(earlier.get(path)))
        added = [name for name in _names(_read(inside(rootfs, path))) if name not in had]
        if not added:
            continue
        if len(added) > 1:
            return f"the delta added {', '.join(added)} to {path}, whose ids a full install may give in another order"
        root = root or parent_root() or ""
        before = set(_names(_read(inside(root, path)) if root else None))
        theirs = [name for name in had if name not in before]
        if theirs:
            return (
                f"the delta added {added[0]} to {path} after the earlier install's {', '.join(sorted(theirs)[:3])}:"
                " a full install may give their ids in another order"
            )
    return None


#: where maintainer scripts edit files other packages' scripts edit too (``add-shell``, ``ucf``, ``install-info``;
#: debconf's ``*.dat-old``, its database from before the last package's write)
SHARED_EDITS = ("/etc", "/var/lib/ucf", "/usr/share/info/dir", "/var/cache/debconf")
#: such files a delta leaves as a full install does, or that another check covers (``accounts_added``);
#: ldconfig writes its cache whole from the libraries present
SHARED_EDITS_HANDLED = frozenset(
    {"/etc/ld.so.cache"}
    | {
        f"{path}{end}"
        for path in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
        for end in ("", "-")
    }
)


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _digests(rootfs: str | None) -> dict[str, str]:
    """{path in the image: sha256} of the regular files under ``SHARED_EDITS`` (symlinks not followed)."""
    out: dict[str, str] = {}
    if not rootfs:
        return out
    for top in SHARED_EDITS:
        host = inside(rootfs, top)
        walked = (
            [(os.path.dirname(host), [], [os.path.basename(host)])] if os.path.isfile(host) else os.walk(host)
        )
        for dirpath, _dirs, files in walked:
            for name in files:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    digest = _digest(path)
                    if digest is not None:
                        out["/" + os.path.relpath(path, rootfs)] = digest
    return out


def shared_edits(rootfs: str, parent_root: Callable[[], str | None], earlier: dict[str, str]) -> str | None:
    """Why a file the delta's maintainer scripts edited may not read as after a full install (None: it does).
    Scripts append to files shared between packages in the order apt configures them: ``add-shell`` of csh
    then of mksh, or the other way round in a full install (``/etc/shells`` differed from bud's); debconf's
    ``config.dat-old`` holds the database from before the last package configured (adding tzdata to
    ca-certificates: ca-certificates' entries in it after a delta, not after bud's full build). A file the
    delta changed that the earlier install had changed too (from the parent layer's) builds in full."""
    changed = [
        path
        for path, digest in _digests(rootfs).items()
        if path in earlier and earlier[path] != digest and path not in SHARED_EDITS_HANDLED
    ]
    if not changed:
        return None
    root = parent_root()
    both = [
        path for path in sorted(changed) if (_digest(inside(root, path)) if root else None) != earlier[path]
    ]
    if both:
        return (
            f"the delta and the earlier install both edited {', '.join(both[:3])}, which a full install"
            " edits in its own order"
        )
    return None


def restore_status_old(rootfs: str, earlier_status: str | None, earlier_old: str | None) -> None:
    """Make dpkg's ``status-old`` (its copy of the status file from before its last write) the one a full
    install leaves. apt's last dpkg run configures every package the run unpacked, so a full install's copy
    shows all of them unpacked (conffiles ``newconffile``, libc-bin's trigger pending); a delta's shows only
    the added ones. The packages the earlier layer's install unpacked are read from its own copy (what its
    last write changed) and put back as that copy has them, unless the delta changed them since. Nothing is
    written when a file is missing. Only right when dpkg wrote no status file during the full install's last
    run, nor apt configured new packages before it (``dpkg_runs_split`` refuses the delta otherwise)."""
    status_path, old_path = inside(rootfs, DPKG_STATUS), inside(rootfs, DPKG_STATUS_OLD)
    status, delta_old = _read(status_path), _read(old_path)
    if not (status and delta_old and earlier_status and earlier_old):
        return
    by_delta = _last_write(status, delta_old)
    by_earlier = _last_write(earlier_status, earlier_old)
    earlier_now = dict(_stanzas(earlier_status))
    stanzas = []
    for key, stanza in _stanzas(status):
        if key in by_delta:
            stanza = by_delta[key]
        elif key in by_earlier and earlier_now.get(key) == stanza:
            stanza = by_earlier[key]
        stanzas.append(stanza)
    rebuilt = "\n\n".join(s.strip("\n") for s in stanzas) + "\n\n" if stanzas else ""
    if rebuilt == delta_old:
        return
    with open(old_path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(rebuilt)


def template_key(step: RunStep, parent: str, inputs: dict, delta: DeltaInstall) -> str:
    """Key of everything the step depends on but its package list: the parent layer, the other inputs, the
    script with the packages cut out, the network setting and the shell."""
    shell_argv = list((step.original_argv or step.argv)[:-1])
    kept = {k: v for k, v in inputs.items() if k not in ("instruction", "argv", "context_files")}
    return step_key(
        parent,
        {**kept, "incremental": [shell_argv, delta.template, step.network]},
    )


class IncrementalLayers:
    """The record of the last layer per template key (``layers/incremental.json``), read once per build,
    merged under its lock on every write."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = Path(root) / "layers" / "incremental.json"
        self.lock = Path(root) / "layers" / "incremental.lock"
        self._records: dict[str, dict] | None = None

    def records(self) -> dict[str, dict]:
        if self._records is None:
            self._records = self._read()
        return self._records

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def start(self, step: RunStep, parent: str, inputs: dict, lookup: Callable[[str], str | None]) -> Start:
        """Where ``step`` (which missed its key) starts: the recorded layer, when only packages were added."""
        delta = step.incremental
        if not isinstance(delta, DeltaInstall):
            return Start(delta or "")  # no install: nothing to say
        record = self.records().get(template_key(step, parent, inputs, delta))
        if not isinstance(record, dict) or not isinstance(record.get("packages"), list):
            return Start("no earlier layer of this install with the same options and script")
        before = tuple(record["packages"])
        gone = [p for p in before if p not in delta.packages]
        if gone:
            return Start(f"{', '.join(gone)} removed or re-versioned")
        added = tuple(p for p in delta.packages if p not in before)
        if not added:
            return Start("no package added")
        lists = None
        if delta.deletes_lists and not any(c.target == LISTS_TARGET for c in step.cache_mounts):
            return Start("the RUN deletes the package lists it installs from (its earlier layer has none)")
        if delta.updates:
            if not any(c.target == LISTS_TARGET for c in step.cache_mounts):
                return Start("the RUN updates package lists it keeps in the image")
            lists = self.lists_fingerprint()
            if record.get("lists") != lists:
                return Start("the host's package lists changed since the earlier layer was built")
        image = lookup(str(record.get("key")))
        if image is None:
            return Start("the earlier layer of this install is gone")
        argv = (*(step.argv[:-1]), delta.script_with(added))
        said = f"added {' '.join(added)} to the layer with {' '.join(before)}"
        check = PipCheck(delta.pip, delta.packages) if delta.pip is not None else None
        recorded = record.get("dpkg_updates")
        recorded = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else None
        return Start(said, image, replace(step, argv=argv), lists, check=check, recorded_updates=recorded)

    def before_run(
        self, start: Start, rootfs: str, parent_root: Callable[[], str | None] = lambda: None
    ) -> str | None:
        """Note where dpkg's log of the earlier layer ends and its status files, before the delta runs in its
        container; an apt delta gets the check that orders apt's ``extended_states`` (``parent_root``: the
        parent layer's mounted root, for that check). Returns why the delta must not run at all (None: it may):
        what the earlier layer alone shows (``earlier_split``)."""
        delta = start.step.incremental if start.step is not None else None
        if start.check is None and isinstance(delta, DeltaInstall) and delta.pip is None:
            earlier = _read(inside(rootfs, EXTENDED_STATES)) or ""
            start.check = AptOrder(rootfs, parent_root, {key for key, _ in _stanzas(earlier)})
        start.parent_root = parent_root
        try:
            start.dpkg_log_size = os.path.getsize(inside(rootfs, DPKG_LOG))
        except OSError:
            start.dpkg_log_size = 0
        start.dpkg_status = (_read(inside(rootfs, DPKG_STATUS)), _read(inside(rootfs, DPKG_STATUS_OLD)))
        start.dpkg_log = _read(inside(rootfs, DPKG_LOG))
        earlier_status, earlier_old = start.dpkg_status
        if earlier_status and earlier_old:
            root = parent_root()
            parent = (_read(inside(root, DPKG_STATUS)) if root else None) or ""
            start.earlier_early = early_new(parent, earlier_status, earlier_old)
        counted = earlier_updates(start.dpkg_log, parent_root, earlier_status, start.earlier_early)
        start.earlier_updates = counted if counted is not None else start.recorded_updates
        refused = earlier_split(parent_root, *start.dpkg_status, start.earlier_updates)
        if refused:
            return refused
        if isinstance(start.check, AptOrder) and isinstance(delta, DeltaInstall) and start.step is not None:
            needed = functools.partial(_plan_needed, start, rootfs)
            start.check.plan = FullPlan((*start.step.argv[:-1], delta.plan_script()), needed)
        start.accounts = {path: _read(inside(rootfs, path)) for path in ACCOUNTS}
        start.shared = _digests(rootfs)
        return None

    def spoiled(self, start: Start, rootfs: str) -> str | None:
        """Why the delta run's result must not be kept (None: it is the image a full build gives): its update
        fetched new package lists (the TTL ran out, or ``--lists-ttl 0``), or dpkg processed a trigger not
        known to rebuild its files as a first install does."""
        if start.lists is not None and self.lists_fingerprint() != start.lists:
            return "the update in the delta run brought new package lists"
        triggered = sorted(
            set(dpkg_triggers(inside(rootfs, DPKG_LOG), start.dpkg_log_size)) - PROVEN_TRIGGERS
        )
        if triggered:
            return f"dpkg ran the trigger of {', '.join(triggered)}, whose files a delta may leave otherwise"
        if start.check is not None and start.check.verdict:
            return start.check.verdict
        if start.dpkg_status is not None:
            earlier_status = start.dpkg_status[0]
            delta = delta_updates(
                _read(inside(rootfs, DPKG_LOG)),
                start.dpkg_log,
                earlier_status,
                _read(inside(rootfs, DPKG_STATUS)),
                _delta_early(start, rootfs),
            )
            counted = (start.earlier_updates, delta)
            plan = start.check.plan if isinstance(start.check, AptOrder) else None
            split = dpkg_runs_split(rootfs, start.parent_root, *start.dpkg_status, counted, plan)
            if split:
                return split
            accounts = accounts_added(rootfs, start.parent_root, start.accounts)
            if accounts:
                return accounts
            edited = shared_edits(rootfs, start.parent_root, start.shared)
            if edited:
                return edited
            restore_status_old(rootfs, *start.dpkg_status)
            if start.earlier_updates is not None and delta is not None:
                start.kept_updates = start.earlier_updates + delta
        return None

    def lists_fingerprint(self) -> str:
        """The host's apt package lists, by the content of their release files (every release partition)."""
        digest = hashlib.sha256()
        for path in sorted(self.root.glob("caches/apt-lists/*/*Release")):
            digest.update(f"{path.parent.name}/{path.name}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"unreadable")
        return digest.hexdigest()

    def remember(
        self,
        step: RunStep,
        parent: str,
        inputs: dict,
        key: str,
        built: bool = True,
        updates: int | None = None,
    ) -> None:
        """Note ``key`` as the last layer of ``step``'s install (``built`` now, or reused from the cache).
        ``updates``: a kept delta's ``Start.kept_updates``, what the next delta counts for this layer's install
        (its dpkg log holds two installs' runs; a reused layer keeps the count recorded with it)."""
        delta = step.incremental
        if not isinstance(delta, DeltaInstall):
            return
        tkey = template_key(step, parent, inputs, delta)
        record: dict = {"key": key, "packages": list(delta.packages)}
        if not built:
            kept = [r.get("dpkg_updates") for r in self.records().values() if r.get("key") == key]
            updates = next((n for n in kept if isinstance(n, int)), None)
        if updates is not None:
            record["dpkg_updates"] = updates
        if delta.updates:
            # built now: the lists it was built with are the host's; reused: the ones recorded with it
            kept = [r.get("lists") for r in self.records().values() if r.get("key") == key]
            lists = self.lists_fingerprint() if built else next(iter(kept), None)
            if lists is not None:
                record["lists"] = lists
        if self.records().get(tkey) == record:
            return
        self.records()[tkey] = record
        with file_lock(self.lock):
            data = self._read()
            data[tkey] = record
            write_atomic(self.path, json.dumps(data, indent=0, sort_keys=True))
