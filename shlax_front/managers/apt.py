"""Debian/Ubuntu apt (``apt-get`` and ``apt``).

Caches: downloaded .debs in /var/cache/apt/archives and the package lists in /var/lib/apt/lists, both only
valid for one release and architecture (``os-release`` partition) and locked (apt takes its own locks, two
builds must not share one directory at once). The ``apt`` binary deletes downloaded debs unless
``APT::Keep-Downloaded-Packages`` is true, and the official images' ``docker-clean`` hook deletes them after
every dpkg run: both are neutralised for the run only (``passes.py`` decides when lists may be mounted).
"""

from __future__ import annotations

from shlax_front.managers.base import CacheDir, Manager


class Apt(Manager):
    name = "apt"
    family = "system"
    executables = frozenset({"apt-get", "apt"})
    install_verbs = frozenset(
        {"install", "reinstall", "upgrade", "dist-upgrade", "full-upgrade", "build-dep", "satisfy"}
    )
    update_verbs = frozenset({"update"})
    clean_verbs = frozenset({"clean", "autoclean", "auto-clean", "dist-clean"})
    #: clean-up verbs that also delete the package lists (apt >= 2.7)
    lists_clean_verbs = frozenset({"dist-clean"})
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
            "apt-cache", "/var/cache/apt", "locked", partition="os-release", what="downloaded .deb files"
        ),
        CacheDir("apt-lists", "/var/lib/apt/lists", "locked", partition="os-release", what="package lists"),
    )
    description = "downloaded .deb files and package lists"
    #: a hook of the official images that deletes every downloaded .deb after dpkg runs
    clean_hook = "/etc/apt/apt.conf.d/docker-clean"
    #: only the ``apt`` binary defaults to deleting downloaded packages
    keep_option = "-o APT::Keep-Downloaded-Packages=true"


MANAGERS = (Apt,)
