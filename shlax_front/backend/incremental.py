"""Incremental package layers (``--incremental``): a RUN whose only change is packages added to its apt install
starts from the layer its previous version left and installs only the added packages.

Two halves, one per side of the backend's door:

- ``describe`` (planner, ``deltarule``): whether a RUN's script is one the delta rule understands - exactly one
  unconditional ``apt-get``/``apt install`` of plain package names, and besides it only commands that do the
  same thing whatever was installed before (``apt-get update``, ``apt-get clean``, ``rm``, ``set``, ``export``,
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

What dpkg's files must show after a delta as after a full install (the triggers it ran, ``status-old``, the
users and shared files maintainer scripts edit), and the checks that prove it, are ``dpkgstate``'s; the
executor's half runs them before the delta (``IncrementalLayers.before_run``) and after it (``spoiled``).

pip deltas are checked after the run (``PipCheck``): what pip left must be what a full install would leave.

npm deltas (``npmdelta``, ``--incremental``) span the COPY of the manifests and the ``npm ci`` after it: the
earlier RUN layer is found without the manifests' contents, the new ones are copied into it, and the tree
the delta leaves is checked against the lockfile (``before_npm``, then ``spoiled``).

Anything else builds the step in full; ``--explain`` says which and why.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from shlax_front.backend.aptplan import FullPlan
from shlax_front.backend.deltarule import LISTS_TARGET, MARK, DeltaInstall
from shlax_front.backend.dpkgstate import (
    ACCOUNTS,
    DPKG_LOG,
    DPKG_STATUS,
    DPKG_STATUS_OLD,
    PROVEN_TRIGGERS,
    _digests,
    _read,
    _stanzas,
    accounts_added,
    choices_differ,
    delta_updates,
    dpkg_runs_split,
    dpkg_triggers,
    earlier_split,
    earlier_updates,
    early_new,
    restore_status_old,
    shared_edits,
)
from shlax_front.backend.keys import step_key
from shlax_front.backend.npmdelta import (
    Manifests,
    NpmDelta,
    NpmInstall,
    config_refusal,
    copy_refusal,
    manifest_refusal,
    tree_refusal,
)
from shlax_front.backend.npmdelta import template_key as npm_template_key
from shlax_front.backend.rootfs import inside
from shlax_front.backend.store import file_lock, write_atomic

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shlax_front.backend.deltarule import PipInstall
    from shlax_front.backend.steps import CopyStep, RunStep
    from shlax_front.backend.wheelhouse import Ran

    #: what runs a command for ``PipCheck``: (argv, container or None for the delta's own) -> what ran
    RunIn = Callable[[Sequence[str], str | None], Ran]

#: the step before a RUN when it is a COPY: (its parent layer's key, its key inputs, the step)
Before = tuple[str, dict, "CopyStep"]

#: apt's record of the packages installed only as dependencies (``AptOrder``)
EXTENDED_STATES = "/var/lib/apt/extended_states"


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
    #: stops the build's running commands (the executor's), for a plan asked beside a delta the build gives up
    stop: Callable[[], None] = lambda: None

    def begin(self, run: RunIn) -> None:
        """The delta starts (``run`` runs as it runs): apt's plan is asked beside it when already known needed."""
        if self.plan is not None:
            self.plan.begin(run, self._parent)

    def saw(self, line: str) -> None:
        """A line the delta printed (apt's plan beside it may start once the delta's apt has read the lists)."""
        if self.plan is not None:
            self.plan.saw(line)

    def settle(self, stopping: bool) -> None:
        """The delta's run is over, and ``__call__`` did not take the plan's answer (the delta failed, or
        ``stopping``: the build stops): the plan beside it, if any, is dropped and its thread has ended."""
        if self.plan is not None:
            self.plan.settle(stopping, self.stop)

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
    #: the record of the full layer a delta starts from (its key, packages, lists, dpkg count): a kept delta's
    #: own record keeps it, so the next delta starts from that layer again (``IncrementalLayers.start``)
    base: dict | None = None
    #: the parent layer's mounted root (None: no parent), asked only when needed
    parent_root: Callable[[], str | None] = lambda: None
    #: /etc/passwd and /etc/group of the earlier layer (``accounts_added``)
    accounts: dict[str, str | None] = field(default_factory=dict)
    #: digests of the earlier layer's files maintainer scripts edit (``shared_edits``)
    shared: dict[str, str] = field(default_factory=dict)
    #: what the delta must prove or put right before it is kept (run by the step runner after the delta)
    check: PipCheck | AptOrder | None = None
    #: an npm delta: what its check after the run compares (``npmdelta``) and the COPY of the manifests the
    #: executor makes into the earlier layer before it runs
    npm: NpmDelta | None = None
    copy: CopyStep | None = None

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


def _dpkg_began(rootfs: str, size: int) -> bool:
    """Whether the delta's first dpkg run began (dpkg's log in its container grew past ``size``): apt downloads
    everything and is done with the package lists before it, so apt's plan may be asked beside it (``aptplan``)."""
    try:
        return os.path.getsize(inside(rootfs, DPKG_LOG)) > size
    except OSError:
        return False


def _same_apt_config(rootfs: str, parent_root: str | None) -> bool:
    """Whether the earlier layer (``rootfs``) has the parent's apt sources and configuration (what the
    ``apt-get update`` stand-in's record is checked against, ``aptlists``): the plan's update is then skipped
    when the delta's was, or follows it, never runs beside the delta's apt."""
    if parent_root is None:
        return False
    paths = ("etc/apt/sources.list", "etc/apt/apt.conf", "var/lib/dpkg/arch")
    folders = ("etc/apt/sources.list.d", "etc/apt/apt.conf.d")

    def config(root: str) -> tuple:
        listed = {
            d: sorted(os.listdir(inside(root, d))) if os.path.isdir(inside(root, d)) else [] for d in folders
        }
        files = [*paths, *(f"{d}/{name}" for d in folders for name in listed[d])]
        return tuple((path, _read(inside(root, path))) for path in files)

    try:
        return config(rootfs) == config(parent_root)
    except OSError:
        return False


def _updates_after_install(delta: DeltaInstall) -> bool:
    """Whether the script may update the package lists after its install (an ``update`` word after the package
    list): that update would run beside apt's plan, on the same lists; the plan is then asked after the delta."""
    return re.search(r"\bupdate\b", delta.rewritten.split(MARK, 1)[-1]) is not None


def _own_lists_mount(step: RunStep) -> str | None:
    """The target of a cache mount the Containerfile gives the RUN over apt's package lists (``target=/var/lib/apt``
    in Docker's apt recipe), or None: such lists are the mount's, not the host's that the delta rule follows."""
    for mount in step.mounts:
        written = mount.get("target") or mount.get("dst") or mount.get("destination") or ""
        target = posixpath.normpath("/" + written.lstrip("/"))
        if mount.type == "cache" and (LISTS_TARGET + "/").startswith(target.rstrip("/") + "/"):
            return target
    return None


def template_key(step: RunStep, parent: str, inputs: dict, delta: DeltaInstall) -> str:
    """Key of everything the step depends on but its package list: the parent layer, the other inputs, the
    script with the packages cut out, the network setting and the shell. The ARGs that fed the package list
    (``delta.variables``) are keyed by name, not value: their value is the list (ENV values are the parent's)."""
    shell_argv = list((step.original_argv or step.argv)[:-1])
    kept = {k: v for k, v in inputs.items() if k not in ("instruction", "argv", "context_files")}
    incremental = [shell_argv, delta.template, step.network]
    if delta.variables:
        kept["env"] = [pair for pair in kept.get("env", ()) if pair[0] not in delta.variables]
        incremental.append(list(delta.variables))
    return step_key(parent, {**kept, "incremental": incremental})


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

    def start(
        self,
        step: RunStep,
        parent: str,
        inputs: dict,
        lookup: Callable[[str], str | None],
        copied: Before | None = None,
    ) -> Start:
        """Where ``step`` (which missed its key) starts: the recorded layer, when only packages were added.
        ``copied``: the step before it when that is a COPY (its parent key, inputs and step), for npm."""
        delta = step.incremental
        if isinstance(delta, NpmInstall):
            return self._start_npm(step, inputs, lookup, delta, copied)
        if not isinstance(delta, DeltaInstall):
            return Start(delta or "")  # no install: nothing to say
        record = self.records().get(template_key(step, parent, inputs, delta))
        if not isinstance(record, dict) or not isinstance(record.get("packages"), list):
            said = (
                "no earlier layer of this install on the same parent layer, with the same options and script"
            )
            if delta.from_env:  # an ENV's value is in the config of the layers before the step
                said += f" (and ENV {', '.join(delta.from_env)}: its value is part of the layers before it)"
            return Start(said)
        gone = [p for p in record["packages"] if p not in delta.packages]
        if gone:
            return Start(f"{', '.join(gone)} removed or re-versioned")
        if not [p for p in delta.packages if p not in record["packages"]]:
            return Start("no package added")
        # the earlier layer is itself a delta: start again from the full layer it started from, with every
        # package added since, so the image has one layer more than a full build's, not one more per delta
        base = record.get("base")
        full = isinstance(base, dict) and isinstance(base.get("packages"), list)
        if full and isinstance(base, dict):
            record = base
        before = tuple(record["packages"])
        added = tuple(p for p in delta.packages if p not in before)
        lists = None
        if delta.deletes_lists and not any(c.target == LISTS_TARGET for c in step.cache_mounts):
            return Start("the RUN deletes the package lists it installs from (its earlier layer has none)")
        if delta.updates:
            own = _own_lists_mount(step)
            if own:
                return Start(
                    f"the RUN updates package lists in its own cache mount ({own}): the lists the earlier layer"
                    " was built with are not known"
                )
            if not any(c.target == LISTS_TARGET for c in step.cache_mounts):
                return Start("the RUN updates package lists it keeps in the image")
            lists = self.lists_fingerprint()
            if record.get("lists") != lists:
                return Start("the host's package lists changed since the earlier layer was built")
        image = lookup(str(record.get("key")))
        if image is None:
            if full:
                return Start("the full layer this install's earlier delta started from is gone")
            return Start("the earlier layer of this install is gone")
        argv = (*(step.argv[:-1]), delta.script_with(added))
        said = f"added {' '.join(added)} to the layer with {' '.join(before)}"
        check = PipCheck(delta.pip, delta.packages) if delta.pip is not None else None
        recorded = record.get("dpkg_updates")
        recorded = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else None
        base = {name: value for name, value in record.items() if name != "base"}
        return Start(
            said, image, replace(step, argv=argv), lists, check=check, recorded_updates=recorded, base=base
        )

    def _start_npm(
        self,
        step: RunStep,
        inputs: dict,
        lookup: Callable[[str], str | None],
        install: NpmInstall,
        before: Before | None,
    ) -> Start:
        """An npm delta starts from the RUN layer built on the same layer below the COPY of its manifests."""
        copy = before[2] if before is not None else None
        refused = copy_refusal(copy, install)
        if refused or before is None:
            return Start(refused or "no COPY before the install")
        record = self.records().get(npm_template_key(before[0], before[1], inputs, install))
        if not isinstance(record, dict) or not record.get("key"):
            return Start(
                "no earlier layer of this npm install with the same COPY on the same parent layer, options and"
                " script"
            )
        image = lookup(str(record["key"]))
        if image is None:
            return Start("the earlier layer of this install is gone")
        argv = (*(step.argv[:-1]), install.delta_script())
        said = "npm installed the lockfile's added packages on the earlier layer"
        return Start(said, image, replace(step, argv=argv), npm=NpmDelta(install), copy=copy)

    def before_npm(self, start: Start, rootfs: str, copy: Callable[[], object]) -> str | None:
        """The earlier layer's manifests are read, the new ones copied into it (``copy``: the COPY step's own
        copy), and why the change is not one a delta installs as ``npm ci`` would (None: the delta may run)."""
        assert start.npm is not None
        refused = config_refusal(rootfs, start.npm.install.cwd)
        if refused:
            return refused
        earlier = Manifests.read(rootfs, start.npm.install.cwd)
        if isinstance(earlier, str):
            return earlier
        copy()
        now = Manifests.read(rootfs, start.npm.install.cwd)
        if isinstance(now, str):
            return now
        return manifest_refusal(earlier, now, start.npm)

    def before_run(
        self, start: Start, rootfs: str, parent_root: Callable[[], str | None] = lambda: None
    ) -> str | None:
        """Note where dpkg's log of the earlier layer ends and its status files, before the delta runs in its
        container; an apt delta gets the check that orders apt's ``extended_states`` (``parent_root``: the
        parent layer's mounted root, for that check). Returns why the delta must not run at all (None: it may):
        what the earlier layer alone shows (``earlier_split``)."""
        delta = start.step.incremental if start.step is not None else None
        if isinstance(delta, NpmInstall):  # ``before_npm``'s
            return None
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
            start.check.plan = FullPlan(
                (*start.step.argv[:-1], delta.plan_script()),
                needed,
                # the earlier install's half already says it is needed: asked beside the delta
                ahead=bool(start.earlier_early) and not _updates_after_install(delta),
                downloaded=functools.partial(_dpkg_began, rootfs, start.dpkg_log_size),
                early_start=bool(start.earlier_early) and _same_apt_config(rootfs, parent_root()),
            )
        start.accounts = {path: _read(inside(rootfs, path)) for path in ACCOUNTS}
        start.shared = _digests(rootfs)
        return None

    def spoiled(self, start: Start, rootfs: str) -> str | None:
        """Why the delta run's result must not be kept (None: it is the image a full build gives): its update
        fetched new package lists (the TTL ran out, or ``--lists-ttl 0``), or dpkg processed a trigger not
        known to rebuild its files as a first install does."""
        if start.npm is not None:
            return tree_refusal(rootfs, start.npm)
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
            after = _read(inside(rootfs, DPKG_STATUS))
            if isinstance(start.check, AptOrder) and (earlier_status or after):
                # the parent's root is mounted already when the earlier layer has dpkg's files (``before_run``)
                root = start.parent_root()
                chose = choices_differ(
                    _read(inside(root, DPKG_STATUS)) if root else None, earlier_status, after
                )
                if chose:
                    return chose
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
        copied: Before | None = None,
        base: dict | None = None,
    ) -> None:
        """Note ``key`` as the last layer of ``step``'s install (``built`` now, or reused from the cache).
        ``updates``: a kept delta's ``Start.kept_updates``, what the next delta counts for this layer's install
        (its dpkg log holds two installs' runs; a reused layer keeps the count recorded with it). ``base``: a
        kept delta's ``Start.base``, the full layer the next delta starts from instead of this one (a reused
        layer keeps the one recorded with it)."""
        delta = step.incremental
        if isinstance(delta, NpmInstall) and copied is not None and not copy_refusal(copied[2], delta):
            self._store({npm_template_key(copied[0], copied[1], inputs, delta): {"key": key}})
            return
        if not isinstance(delta, DeltaInstall):
            return
        tkey = template_key(step, parent, inputs, delta)
        record: dict = {"key": key, "packages": list(delta.packages)}
        if not built:
            kept = [r.get("dpkg_updates") for r in self.records().values() if r.get("key") == key]
            updates = next((n for n in kept if isinstance(n, int)), None)
            bases = [r.get("base") for r in self.records().values() if r.get("key") == key]
            base = next((b for b in bases if isinstance(b, dict)), None)
        if updates is not None:
            record["dpkg_updates"] = updates
        if base is not None:
            record["base"] = base
        if delta.updates:
            # built now: the lists it was built with are the host's; reused: the ones recorded with it
            kept = [r.get("lists") for r in self.records().values() if r.get("key") == key]
            lists = self.lists_fingerprint() if built else next(iter(kept), None)
            if lists is not None:
                record["lists"] = lists
        # the layer's own facts, found by its key when it is reused after the install's record moved on to
        # another layer (a package added, then taken out again); no ``packages``: no install starts from it
        facts = {name: value for name, value in record.items() if name != "packages"}
        self._store({tkey: record, f"layer:{key}": facts})

    def _store(self, new: dict[str, dict]) -> None:
        """Merge ``new`` records into the file, under its lock (nothing written when they are there already)."""
        if all(self.records().get(name) == value for name, value in new.items()):
            return
        self.records().update(new)
        with file_lock(self.lock):
            data = self._read()
            data.update(new)
            write_atomic(self.path, json.dumps(data, indent=0, sort_keys=True))
