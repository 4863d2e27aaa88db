"""openSUSE/SLES zypper. Raw repository metadata is cached in /var/cache/zypp; packages are only kept when
a repository has ``keeppackages`` set, which would have to be written into the image, so they are not."""

from __future__ import annotations

from shlax_front.managers.base import CacheDir, Manager


class Zypper(Manager):
    name = "zypper"
    family = "system"
    executables = frozenset({"zypper"})
    install_verbs = frozenset(
        {
            "install",
            "in",
            "update",
            "up",
            "dist-upgrade",
            "dup",
            "patch",
            "source-install",
            "si",
            "install-new-recommends",
            "inr",
        }
    )
    update_verbs = frozenset({"refresh", "ref"})
    clean_verbs = frozenset({"clean", "cc"})
    value_options = frozenset(
        {
            "-r",
            "--repo",
            "--from",
            "-t",
            "--type",
            "-R",
            "--root",
            "--installroot",
            "-D",
            "--reposd-dir",
            "-C",
            "--cache-dir",
            "--raw-cache-dir",
            "--solv-cache-dir",
            "--pkg-cache-dir",
            "-c",
            "--config",
            "--releasever",
        }
    )
    caches = (CacheDir("zypp-cache", "/var/cache/zypp", "locked", partition="os-release"),)
    description = "repository metadata"


MANAGERS = (Zypper,)
