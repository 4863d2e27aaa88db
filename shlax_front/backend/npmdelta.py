"""Incremental npm layers (``--incremental``): ``npm ci`` from a lockfile the step before copies, when the only
change is dependencies added to ``package.json`` and entries added to ``package-lock.json``.

The usual file copies the manifests and installs in the next step (``COPY package.json package-lock.json ./``
then ``RUN npm ci``): an added dependency changes the COPY's layer and so the RUN's parent. The delta spans
both steps: the earlier RUN layer is found by the key of the COPY's parent with the COPY's instruction and the
RUN's inputs, without the manifests' contents (``template_key``); the new manifests are copied into it as the
COPY step copies them, and ``npm install --no-save`` with the step's own options reifies only what the
lockfile adds (``npm ci`` deletes ``node_modules`` and reifies the whole lockfile; ``npm install`` on an
existing tree adds the nodes it lacks and leaves the others).

Before the delta runs (``manifest_refusal``), the old and new manifests must show only additions: every
entry of the old lockfile unchanged (a shared dependency upgraded, moved or removed builds in full), the
root's other fields unchanged, ``package.json`` in sync with the lockfile's root (``npm ci`` fails
otherwise, ``npm install`` would resolve), no install scripts anywhere (``hasInstallScript``: in a full
install they run for every package, in a delta only for the new ones; the root's install and prepare
scripts), no workspaces, links or bundled packages, no platform-dependent or optional entries.

After it (``tree_refusal``), the tree must be the lockfile's, as ``npm ci`` leaves it: every package
directory a lockfile path, every installed path one, with its version; the ``.bin`` links its entries name;
``node_modules/.package-lock.json`` (the hidden lockfile) equal to the lockfile's entries of what is
installed; the manifests as copied. Anything else: the delta is thrown away and the step built in full.
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shlax_front.backend.keys import step_key
from shlax_front.backend.rootfs import inside

if TYPE_CHECKING:
    from shlax_front.backend.steps import CopyStep

#: where ``npm_delta`` puts the verb of the install in ``NpmInstall.template`` / ``rewritten``
VERB = "\x00npm-verb\x00"
#: what replaces ``npm ci`` in the delta run: an install on the existing tree that writes no manifest
DELTA_VERB = "install --no-save"
#: the files a COPY before the install may copy for the install to be a delta (npm-shrinkwrap.json: npm
#: prefers it to the lockfile; .npmrc: its options would be part of the contents the lookup skips)
MANIFESTS = frozenset({"package.json", "package-lock.json"})
#: npm ci's own spellings
CI_VERBS = frozenset({"ci", "clean-install", "ic", "install-clean", "isntall-clean"})
#: options that mean the same to ``npm ci`` and ``npm install`` and change nothing else the delta relies on
SAME_OPTIONS = frozenset(
    {
        "--omit=dev",
        "--production",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--no-progress",
        "--quiet",
        "-q",
        "--silent",
        "-s",
        "--prefer-offline",
    }
)
#: root scripts ``npm ci`` runs that a delta would run otherwise (or not at all); ``dependencies`` runs when
#: node_modules changes
ROOT_SCRIPTS = (
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
    "dependencies",
)
#: lockfile fields that make an entry's installation depend on the platform or on flags the check does not follow
UNPROVEN_FIELDS = (
    "hasInstallScript",
    "link",
    "inBundle",
    "optional",
    "devOptional",
    "peer",
    "os",
    "cpu",
    "libc",
)
#: where a lockfile entry's tarball may come from (git, file: and link: sources are prepared or linked otherwise)
REGISTRY_URLS = ("https://", "http://")
#: npm configuration files a delta does not read (their options could make ``npm install`` and ``npm ci`` differ):
#: the project's, root's and the global ones (npm's prefix /usr/local or /usr)
NPMRC = ("{cwd}/.npmrc", "/root/.npmrc", "/usr/local/etc/npmrc", "/usr/etc/npmrc", "/etc/npmrc")
#: the root's dependency fields, compared with the lockfile's root entry
DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")


@dataclass(frozen=True)
class NpmInstall:
    """An ``npm ci`` the delta rule understands: ``template`` is the RUN's script as written and ``rewritten``
    the one the executor runs, each with ``VERB`` where the verb stood; ``verb`` as written; ``cwd`` the
    directory it runs in (the WORKDIR); ``omits_dev``: whether dev dependencies are left out by its options."""

    template: str
    rewritten: str
    verb: str
    cwd: str
    omits_dev: bool = False

    def delta_script(self) -> str:
        return self.rewritten.replace(VERB, DELTA_VERB)


def copy_refusal(copy: CopyStep | None, install: NpmInstall) -> str | None:
    """Why the step before the install is not a COPY of the manifests into its directory (None: it is)."""
    if copy is None:
        return "the step before the npm install is not a COPY of its package.json and package-lock.json"
    if copy.from_stage is not None or copy.from_image or copy.add or copy.heredocs or copy.exclude:
        return "the COPY before the npm install is not a plain COPY from the context"
    if not copy.sources or any(posixpath.basename(s) != s or s not in MANIFESTS for s in copy.sources):
        return f"the COPY before the npm install copies more than {' and '.join(sorted(MANIFESTS))}"
    if "package-lock.json" not in copy.sources or "package.json" not in copy.sources:
        return "the COPY before the npm install does not copy both package.json and package-lock.json"
    if posixpath.normpath(copy.dest) != posixpath.normpath(install.cwd):
        return "the COPY before the npm install copies elsewhere than the directory npm runs in"
    return None


def template_key(copy_parent: str, copy_inputs: dict, run_inputs: dict, install: NpmInstall) -> str:
    """The key of the earlier RUN layer: the COPY's parent, the COPY's inputs but the manifests' contents, the
    RUN's inputs but its parent (the COPY's layer) and the script with the verb cut out."""
    copied = {k: v for k, v in copy_inputs.items() if k not in ("context", "context_files")}
    run = {k: v for k, v in run_inputs.items() if k != "context_files"}
    return step_key(copy_parent, {"npm-delta": [copied, run, install.template]})


@dataclass
class Manifests:
    """The manifests and hidden lockfile of an install directory, as read from a root."""

    package: dict
    lock: dict
    hidden: dict | None
    lock_bytes: bytes = b""
    package_bytes: bytes = b""

    @classmethod
    def read(cls, rootfs: str, cwd: str) -> Manifests | str:
        where = inside(rootfs, cwd)
        try:
            package_bytes = _bytes(os.path.join(where, "package.json"))
            lock_bytes = _bytes(os.path.join(where, "package-lock.json"))
            package, lock = json.loads(package_bytes), json.loads(lock_bytes)
        except (OSError, ValueError) as err:
            return f"the npm manifests could not be read ({err.__class__.__name__})"
        if os.path.lexists(os.path.join(where, "npm-shrinkwrap.json")):
            return "an npm-shrinkwrap.json is in the install's directory"
        hidden = None
        try:
            hidden = json.loads(_bytes(os.path.join(where, "node_modules", ".package-lock.json")))
        except (OSError, ValueError):
            hidden = None
        if not isinstance(package, dict) or not isinstance(lock, dict):
            return "the npm manifests are not JSON objects"
        return cls(package, lock, hidden if isinstance(hidden, dict) else None, lock_bytes, package_bytes)


def _bytes(path: str) -> bytes:
    if os.path.islink(path):
        raise OSError("a link")
    with open(path, "rb") as f:
        return f.read()


@dataclass
class NpmDelta:
    """What the delta rule learnt before the run, for the check after it."""

    install: NpmInstall
    #: the lockfile paths installed after a full install of the new lockfile
    expected: set[str] = field(default_factory=set)
    manifests: Manifests | None = None
    added: tuple[str, ...] = ()


def config_refusal(rootfs: str, cwd: str) -> str | None:
    """Why npm's configuration in the earlier layer may make the delta's ``npm install`` differ from ``npm ci``
    (None: it has no npmrc where npm looks for the root user, the project or the global config; a home's
    under /home is refused too, for a RUN under another USER)."""
    paths = [p.format(cwd=cwd.rstrip("/")) for p in NPMRC]
    try:
        paths += [f"/home/{name}/.npmrc" for name in sorted(os.listdir(inside(rootfs, "/home")))]
    except OSError:
        pass
    found = [path for path in paths if os.path.lexists(inside(rootfs, path))]
    if found:
        return f"npm reads {found[0]}, whose options a delta is not proven under"
    return None


def manifest_refusal(before: Manifests, after: Manifests, delta: NpmDelta) -> str | None:
    """Why the change from ``before`` (the earlier layer's manifests, as its install read them) to ``after``
    (the ones the COPY brings) is not only added dependencies that a delta installs as ``npm ci`` would
    (None: it is; ``delta`` then knows what must be installed)."""
    old_pkg, new_pkg = before.package, after.package
    if "workspaces" in new_pkg or "workspaces" in old_pkg:
        return "the npm project has workspaces"
    scripts = new_pkg.get("scripts") or {}
    run = [name for name in ROOT_SCRIPTS if isinstance(scripts, dict) and name in scripts]
    if run:
        return f"package.json has {', '.join(run)} scripts that npm ci runs"
    rest = {k: v for k, v in new_pkg.items() if k != "dependencies"}
    if rest != {k: v for k, v in old_pkg.items() if k != "dependencies"}:
        return "package.json changed besides its dependencies"
    old_deps, new_deps = old_pkg.get("dependencies") or {}, new_pkg.get("dependencies") or {}
    if not isinstance(old_deps, dict) or not isinstance(new_deps, dict):
        return "package.json's dependencies are not an object"
    changed = sorted(name for name, spec in old_deps.items() if new_deps.get(name) != spec)
    if changed:
        return f"dependencies removed or re-versioned in package.json ({', '.join(changed[:3])})"
    added = tuple(sorted(set(new_deps) - set(old_deps)))
    if not added:
        return "no dependency added to package.json"
    old_lock, new_lock = before.lock, after.lock
    for top in ("name", "version", "lockfileVersion", "requires"):
        if old_lock.get(top) != new_lock.get(top):
            return f"the lockfile's {top} changed"
    if new_lock.get("lockfileVersion") not in (2, 3):
        return "the lockfile is not lockfileVersion 2 or 3 (no packages section)"
    old_entries, new_entries = old_lock.get("packages"), new_lock.get("packages")
    if not isinstance(old_entries, dict) or not isinstance(new_entries, dict):
        return "the lockfile has no packages section"
    root = new_entries.get("")
    if not isinstance(root, dict):
        return "the lockfile has no root entry"
    for name in DEPENDENCY_FIELDS:
        if (root.get(name) or {}) != (new_pkg.get(name) or {}):
            return f"package-lock.json is not in sync with package.json ({name}): npm ci refuses it"
    old_root = old_entries.get("") or {}
    if {k: v for k, v in root.items() if k != "dependencies"} != {
        k: v for k, v in old_root.items() if k != "dependencies"
    }:
        return "the lockfile's root entry changed besides its dependencies"
    for path, entry in old_entries.items():
        if path and new_entries.get(path) != entry:
            new = new_entries.get(path)
            if not isinstance(new, dict):
                return f"{path} is no longer in the lockfile"
            versions = f"{entry.get('version')} -> {new.get('version')}" if isinstance(entry, dict) else ""
            return f"the lockfile entry {path} changed ({versions}): an added package moves or upgrades it"
    for path, entry in new_entries.items():
        if not path:
            continue
        if not isinstance(entry, dict) or not path.startswith("node_modules/"):
            return f"the lockfile entry {path!r} is not a package under node_modules"
        resolved = entry.get("resolved")
        if not entry.get("integrity") or resolved is not None and not str(resolved).startswith(REGISTRY_URLS):
            return f"{path} is not a registry tarball with an integrity in the lockfile (git, file or link)"
        flags = [name for name in UNPROVEN_FIELDS if entry.get(name)]
        if flags:
            return f"{path} has {', '.join(flags)} in the lockfile (install scripts and optional, platform or linked packages are not built incrementally)"
    omits = _omits_dev(before, delta.install)
    if isinstance(omits, str):
        return omits
    if omits is None and any(isinstance(e, dict) and e.get("dev") for e in new_entries.values()):
        return "dev dependencies are added and whether the install leaves them out is not known"
    delta.expected = {
        path for path, entry in new_entries.items() if path and not (omits and entry.get("dev"))
    }
    delta.manifests, delta.added = after, added
    return None


def _omits_dev(before: Manifests, install: NpmInstall) -> bool | None | str:
    """Whether the install leaves dev dependencies out: the earlier layer shows it (its hidden lockfile has
    all of the old lockfile's entries, or all but the dev ones), else its options say so (None: not known);
    or why the earlier layer is not its lockfile's tree."""
    entries = before.lock.get("packages") or {}
    every = {path for path in entries if path}
    dev = {path for path in every if isinstance(entries[path], dict) and entries[path].get("dev")}
    if before.hidden is None or not isinstance(before.hidden.get("packages"), dict):
        return "the earlier layer has no node_modules/.package-lock.json"
    installed = set(before.hidden["packages"])
    if dev and installed == every - dev:
        return True
    if installed == every:
        if dev and install.omits_dev:
            return "the earlier layer has dev dependencies its options leave out"
        return False if dev else (True if install.omits_dev else None)
    return "the earlier layer's node_modules is not its lockfile's tree"


def tree_refusal(rootfs: str, delta: NpmDelta) -> str | None:
    """Why the tree the delta left in ``rootfs`` is not the one ``npm ci`` leaves (None: it is)."""
    install, manifests = delta.install, delta.manifests
    assert manifests is not None
    now = Manifests.read(rootfs, install.cwd)
    if isinstance(now, str):
        return now
    if now.lock_bytes != manifests.lock_bytes or now.package_bytes != manifests.package_bytes:
        return "the delta's npm rewrote package.json or package-lock.json"
    entries = manifests.lock["packages"]
    if now.hidden is None:
        return "the delta left no node_modules/.package-lock.json"
    hidden_top = {k: v for k, v in now.hidden.items() if k != "packages"}
    lock_top = {
        k: manifests.lock.get(k)
        for k in ("name", "version", "lockfileVersion", "requires")
        if k in manifests.lock
    }
    if hidden_top != lock_top:
        return "the delta's node_modules/.package-lock.json differs from the lockfile's header"
    if now.hidden.get("packages") != {p: entries[p] for p in delta.expected}:
        return (
            "the delta's node_modules/.package-lock.json is not the lockfile's entries of what is installed"
        )
    base = inside(rootfs, install.cwd)
    found = _package_dirs(os.path.join(base, "node_modules"), "node_modules")
    if isinstance(found, str):
        return found
    if set(found) != delta.expected:
        extra, missing = sorted(set(found) - delta.expected), sorted(delta.expected - set(found))
        return (
            f"the delta's node_modules differs from the lockfile (extra {extra[:2]}, missing {missing[:2]})"
        )
    for path, version in found.items():
        if version != entries[path].get("version"):
            return f"{path} is {version}, the lockfile says {entries[path].get('version')}"
    return _bin_refusal(base, entries, delta.expected)


def _package_dirs(directory: str, rel: str) -> dict[str, str | None] | str:
    """{lockfile path: version} of the packages under the node_modules ``directory``, nested ones included;
    or why that folder holds what no install writes."""
    found: dict[str, str | None] = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for name in names:
        full = os.path.join(directory, name)
        if name in (".bin", ".package-lock.json") and rel == "node_modules" or name == ".bin":
            continue
        if os.path.islink(full) or not os.path.isdir(full):
            return f"{rel}/{name} is not a package directory"
        if name.startswith("@"):
            for scoped in sorted(os.listdir(full)):
                more = _package(os.path.join(full, scoped), f"{rel}/{name}/{scoped}")
                if isinstance(more, str):
                    return more
                found.update(more)
            continue
        more = _package(full, f"{rel}/{name}")
        if isinstance(more, str):
            return more
        found.update(more)
    return found


def _package(directory: str, rel: str) -> dict[str, str | None] | str:
    try:
        with open(os.path.join(directory, "package.json"), "rb") as f:
            version = json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return f"{rel} has no package.json"
    found: dict[str, str | None] = {rel: version}
    nested = os.path.join(directory, "node_modules")
    if os.path.isdir(nested) and not os.path.islink(nested):
        more = _package_dirs(nested, f"{rel}/node_modules")
        if isinstance(more, str):
            return more
        found.update(more)
    return found


def _bin_refusal(base: str, entries: dict, expected: set[str]) -> str | None:
    """The ``.bin`` folders hold exactly the links the installed entries' ``bin`` fields name, each pointing at
    its package's file (``bin-links``: a relative link from ``.bin``)."""
    wanted: dict[str, dict[str, str]] = {}
    for path in expected:
        bins = entries[path].get("bin") or {}
        if not isinstance(bins, dict):
            return f"{path}'s bin field in the lockfile is not understood"
        parent = (
            path.rsplit("/node_modules/", 1)[0] + "/node_modules"
            if "/node_modules/" in path
            else "node_modules"
        )
        folder = posixpath.join(parent, ".bin")
        for name, target in bins.items():
            link = posixpath.relpath(posixpath.normpath(posixpath.join(path, str(target))), folder)
            wanted.setdefault(folder, {})[posixpath.basename(str(name))] = link
    folders = set(wanted) | {
        posixpath.join(posixpath.relpath(d, base), ".bin")
        for d, _, _ in os.walk(os.path.join(base, "node_modules"))
        if os.path.basename(d) == "node_modules" and os.path.isdir(os.path.join(d, ".bin"))
    }
    for folder in sorted(folders):
        where = os.path.join(base, folder)
        try:
            links = {name: os.readlink(os.path.join(where, name)) for name in os.listdir(where)}
        except OSError:
            links = {}
        if links != wanted.get(folder, {}):
            return f"{folder} is not the links the lockfile's bin fields name"
    return None


def describe_npm(action, runs: str, edits: tuple[tuple[int, int, str], ...]) -> NpmInstall | str:
    """What the delta rule makes of an npm RUN (``deltarule.describe``): an ``NpmInstall`` when its script is
    one unconditional ``npm ci`` with options that mean the same to ``npm install``, besides it only
    ``npm cache clean`` and commands a run may repeat; else why it is built in full."""
    from shlax_front import managers, shell
    from shlax_front.backend.deltarule import REPEATABLE
    from shlax_front.managers.base import CLEAN, INSTALL
    from shlax_front.passes import apply_edits

    if action.exec_form:
        return "exec form"
    if action.heredocs:
        return "a heredoc RUN"
    if action.verb not in CI_VERBS:
        return (
            f"npm {action.verb} is built in full: only `npm ci` from a lockfile the step before copies is"
            " built incrementally"
        )
    walked = action.step
    if walked is None:
        return "the build does not know the RUN's directory"
    configured = sorted(n for n in walked.scope.variables() if n.lower().startswith("npm_config_"))
    if configured:
        return f"{configured[0]} sets an npm option a delta is not proven under"
    text = action.run
    script = shell.parse(text)
    if script.opaque:
        return f"script not understood ({script.opaque})"
    install = None
    for cmd in script.commands:
        manager = managers.find(cmd)
        inv = manager.invocation(cmd, {}) if manager is not None else None
        if cmd.depth or cmd.start < 0:
            return "a nested shell script"
        if inv is not None and inv.name == "npm" and inv.role == INSTALL and install is None:
            install = inv
            continue
        if inv is not None and inv.name == "npm" and inv.role == CLEAN:
            continue
        if inv is None and cmd.name in REPEATABLE:
            continue
        return f"the RUN also runs `{' '.join(cmd.argv[:3])}`"
    if install is None or install.verb_word is None or install.verb not in CI_VERBS:
        return "no npm ci found in the script"
    if install.command.conditional or install.command.more_args or install.dynamic:
        return "the npm ci runs conditionally or with computed arguments"
    _, operands, _ = install.manager.split(
        install.command.args[install.manager.program_words(install.command) :]
    )
    if operands:
        return "npm ci names packages"
    for word in install.option_words:
        if word.dynamic or word.value not in SAME_OPTIONS:
            return f"npm option {word.text} is not known to mean the same to npm install on an existing tree"
    verb = install.verb_word
    if any(e[0] < verb.end and e[1] > verb.start for e in edits):
        return "the cache rewrite changes the npm command"
    cut = (verb.start, verb.end, VERB)
    template = apply_edits(text, [cut])
    rewritten = apply_edits(text, [*edits, cut])
    if rewritten.replace(VERB, verb.text) != runs:
        return "the cache rewrite could not be reproduced"
    omits = any(w.value in ("--omit=dev", "--production") for w in install.option_words)
    return NpmInstall(template, rewritten, verb.text, walked.scope.workdir, omits)
