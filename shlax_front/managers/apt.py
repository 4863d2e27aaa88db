"""Debian/Ubuntu apt (``apt-get`` and ``apt``).

Caches: downloaded .debs in /var/cache/apt/archives and the package lists in /var/lib/apt/lists, both only
valid for one release and architecture (``os-release`` partition) and locked (apt takes its own locks, two
builds must not share one directory at once). The ``apt`` binary deletes downloaded debs unless
``APT::Keep-Downloaded-Packages`` is true, and the official images' ``docker-clean`` hook deletes them after
every dpkg run: both are neutralised for the run only. The lists are mounted only when the RUN updates
them before every install and deletes them afterwards: otherwise the image keeps them, and a later
``apt-get install`` without update relies on that.
"""

from __future__ import annotations

from shlax_front.managers.base import INSTALL, UPDATE, CacheDir, CleanHook, Invocation, Manager
from shlax_front.managers.paths import relation, rm_paths
from shlax_front.shell import Command, Script


class Apt(Manager):
    name = "apt"
    family = "system"
    executables = frozenset({"apt-get", "apt"})
    install_verbs = frozenset(
        {"install", "reinstall", "upgrade", "dist-upgrade", "full-upgrade", "build-dep", "satisfy"}
    )
    update_verbs = frozenset({"update"})
    clean_verbs = frozenset({"clean", "autoclean", "auto-clean", "dist-clean"})
    #: ``dist-clean`` (apt >= 2.7) also deletes the package lists
    clean_empties = {
        "clean": ("apt-cache",),
        "autoclean": ("apt-cache",),
        "auto-clean": ("apt-cache",),
        "dist-clean": ("apt-cache", "apt-lists"),
    }
    value_options = frozenset(
        {
            "-o",
            "--option",
            "-c",
            "--config-file",
            "-t",
            "--target-release",
            "--default-release",
            "-a",
            "--host-architecture",
            "--solver",
        }
    )
    caches = (
        CacheDir(
            "apt-cache",
            "/var/cache/apt",
            "locked",
            partition="os-release",
            what="downloaded .deb files",
            # a hook of the official images that deletes every downloaded .deb after dpkg runs
            clean_hook=CleanHook(
                "/etc/apt/apt.conf.d/docker-clean", "/etc/apt/docker-clean.shlax-front", "debs"
            ),
        ),
        CacheDir(
            "apt-lists",
            "/var/lib/apt/lists",
            "locked",
            partition="os-release",
            what="package lists",
            lists=True,
        ),
    )
    description = "downloaded .deb files and package lists"
    #: only the ``apt`` binary defaults to deleting downloaded packages
    executable_keep_flags = {
        "apt": (
            "-o APT::Keep-Downloaded-Packages=true",
            "the apt binary deletes downloaded packages otherwise",
        )
    }

    @classmethod
    def blocker(cls, cache, target, invs, script, ctx):
        if not cache.lists:
            return None
        why = _lists_blocker(invs, script, ctx.env, ctx.apt_lists_in_image, target)
        return f"{cls.name} lists not cached: {why}" if why else None


def _lists_blocker(
    invs: list[Invocation], script: Script, env, lists_in_image: bool, target: str
) -> str | None:
    """Why the package lists must not be mounted for this RUN (None: they may)."""
    installs = [i.command for i in invs if i.role == INSTALL]
    updates = [i.command for i in invs if i.role == UPDATE]
    # every install must follow an update that ran whenever the install's region ran (not one in a branch)
    if not installs or not all(any(u.start < c.start and u.encloses(c) for u in updates) for c in installs):
        return "no `apt-get update` before the install in this RUN (it uses the lists in the image)"
    if lists_in_image:
        return "an earlier RUN left apt lists in the image"
    last = max(c.start for c in installs + updates)

    def removes_after_every_update(cmd: Command) -> bool:
        return (
            cmd.start > last
            and not cmd.conditional == "inside $(...)"
            and all(cmd.encloses(u) for u in updates)
        )

    if any(i.verb in ("dist-clean",) and removes_after_every_update(i.command) for i in invs):
        return None
    for cmd, paths in rm_paths(script, env, None):
        if removes_after_every_update(cmd) and any(p and relation(p, target) == "inside" for _, p in paths):
            return None
    return "the RUN keeps the lists in the image (no `rm -rf /var/lib/apt/lists/*` after the install)"


MANAGERS = (Apt,)
