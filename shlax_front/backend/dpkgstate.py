"""dpkg's state after an incremental apt layer: what a full apt install leaves in dpkg's files (its status file
and ``status-old``, its log, the triggers it ran, the users, groups and shared files maintainer scripts edit) that
a delta on the earlier layer must leave too, and the checks that prove it or say why the step is built in full.
``incremental`` runs them before and after the delta; they read the mounted roots and know nothing of steps.

dpkg triggers are one thing a delta can do differently from a full install: a cache a trigger rebuilds on top of an existing
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
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING

from shlax_front.backend.rootfs import inside

if TYPE_CHECKING:
    from collections.abc import Callable

    from shlax_front.backend.aptplan import FullPlan

#: packages whose dpkg triggers were shown to leave the same files after a delta as after a full install
#: (``ldconfig``: tests/buildah/test_build_incremental.py); another one's trigger in a delta run -> full build
PROVEN_TRIGGERS = frozenset({"libc-bin"})
DPKG_LOG = "/var/log/dpkg.log"
DPKG_STATUS = "/var/lib/dpkg/status"
#: dpkg's copy of its status file from before its last write (``restore_status_old``)
DPKG_STATUS_OLD = "/var/lib/dpkg/status-old"


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


#: the relations whose alternatives apt chooses among when it installs (Recommends too: an install may take them)
_CHOSEN_RELATIONS = ("Pre-Depends", "Depends", "Recommends")


def _fields(stanza: str) -> dict[str, str]:
    """A status stanza's fields (continuation lines joined)."""
    fields: dict[str, str] = {}
    name = None
    for line in stanza.splitlines():
        if line.startswith((" ", "\t")) and name is not None:
            fields[name] += " " + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value.strip()
    return fields


def _relation_names(value: str) -> list[list[str]]:
    """The package names of a relation field, by group: ``a (>= 1) | b:any, c`` -> [[a, b], [c]]."""
    return [
        [re.split(r"[\s(:\[]", alternative.strip(), maxsplit=1)[0] for alternative in group.split("|")]
        for group in value.split(",")
        if group.strip()
    ]


def _installed_packages(text: str | None) -> dict[str, dict[str, str]]:
    """{name: fields} of the packages a status file shows installed (any architecture, by name)."""
    out = {}
    for (name, _arch), stanza in _stanzas(text or ""):
        fields = _fields(stanza)
        if fields.get("Status", "").endswith(" installed"):
            out[name] = fields
    return out


def choices_differ(parent: str | None, earlier: str | None, after: str | None) -> str | None:
    """Why the packages a delta left may not be the ones a full install of the whole set chooses (None: no
    choice the two could make otherwise; dpkg status files of the parent layer, the earlier layer and the
    delta's). apt resolves an or-group (``pinentry-curses | pinentry``) or a virtual package by what is
    installed or already chosen: gpg-agent's earlier install took pinentry-curses (and libncursesw6); adding
    pinentry-tty, which provides pinentry, a full install takes pinentry-tty alone, the delta leaves both. So
    a delta is not kept when a package new to the layer in one install (the earlier one, or the delta) could
    meet such a relation of a package new in the other. Nor when the delta removed a package the earlier layer
    had installed (a conflict apt resolved by removing it: a full install would have chosen otherwise, or
    failed)."""
    if earlier is None and after is None:
        return None  # no dpkg in the layers: nothing installed that a choice could differ in
    if earlier is None or after is None:
        return "dpkg's status file is missing, so the packages apt chose are not known"
    base = _installed_packages(parent)
    had = _installed_packages(earlier)
    now = _installed_packages(after)
    removed = sorted(set(had) - set(now))
    if removed:
        return (
            f"the delta removed {', '.join(removed[:3])}, which the earlier layer had installed: a full install"
            " chooses its packages otherwise"
        )

    def version(packages: dict[str, dict[str, str]], name: str) -> str | None:
        return packages[name].get("Version") if name in packages else None

    half = {name: "earlier" for name in had if version(had, name) != version(base, name)}
    half.update({name: "delta" for name in now if version(now, name) != version(had, name)})
    meets: dict[str, set[str]] = {}
    for name in half:
        for provided in [name, *(g[0] for g in _relation_names(now[name].get("Provides", "")))]:
            meets.setdefault(provided, set()).add(name)
    for name in sorted(half):
        for relation in _CHOSEN_RELATIONS:
            for group in _relation_names(now[name].get(relation, "")):
                if len(group) == 1 and meets.get(group[0], set()) <= {group[0]}:
                    continue  # one real package: no choice
                other = sorted(q for alt in group for q in meets.get(alt, ()) if half[q] != half[name])
                if other:
                    return (
                        f"{name} ({half[name]} install) has `{relation}: {' | '.join(group)}`, which"
                        f" {other[0]} ({half[other[0]]} install) meets: a full install may choose otherwise"
                    )
    return None
