"""The rpm family: dnf (4 and 5), yum, microdnf, tdnf.

dnf and yum delete downloaded rpms after an install unless ``keepcache`` is on: ``--setopt=keepcache=1``
on the command line keeps them for that run only. Metadata is kept in the same directory and refreshed
by the manager when stale, so mounting it never makes an install use outdated data.
"""

from __future__ import annotations

from shlax_front.managers.base import CacheDir, Manager

_VERBS = frozenset(
    {
        "install",
        "in",
        "reinstall",
        "update",
        "upgrade",
        "up",
        "groupinstall",
        "localinstall",
        "distro-sync",
        "downgrade",
        "builddep",
        "group",
        "module",
        "makecache",
        "check-update",
    }
)
_VALUE = frozenset(
    {
        "--setopt",
        "--enablerepo",
        "--disablerepo",
        "--installroot",
        "--releasever",
        "-c",
        "--config",
        "-x",
        "--exclude",
        "--repo",
        "--repoid",
        "-d",
        "--debuglevel",
        "-e",
        "--errorlevel",
        "--repofrompath",
        "--forcearch",
        "--downloaddir",
        "--destdir",
        "--enableplugin",
        "--disableplugin",
        "--nobest",
        "--color",
        "--rpmverbosity",
    }
    - {"--nobest"}
)


class Dnf(Manager):
    name = "dnf"
    family = "system"
    executables = frozenset({"dnf", "dnf-3", "dnf4", "dnf5"})
    install_verbs = _VERBS - {"makecache", "check-update"}
    update_verbs = frozenset({"makecache", "check-update"})
    clean_verbs = frozenset({"clean"})
    value_options = _VALUE
    caches = (
        CacheDir("dnf-cache", "/var/cache/dnf", "locked", partition="os-release"),
        CacheDir(
            "libdnf5-cache",
            "/var/cache/libdnf5",
            "locked",
            partition="os-release",
            only_for=frozenset({"dnf", "dnf5"}),
        ),
    )
    keep_flags = ("--setopt=keepcache=1",)
    description = "downloaded rpms and repository metadata"

    @classmethod
    def make(cls, command, role, verb, verb_word, options, operands, variables, **extra):
        # ``dnf group install X`` / ``dnf module install X``: the sub-verb decides
        if verb in ("group", "module"):
            sub = operands[0].value if operands else ""
            role = "install" if sub in ("install", "enable", "update", "upgrade") else "other"
            operands = operands[1:]
        return super().make(command, role, verb, verb_word, options, operands, variables)


class Yum(Dnf):
    name = "yum"
    executables = frozenset({"yum"})
    caches = (CacheDir("yum-cache", "/var/cache/yum", "locked", partition="os-release"),)


class Microdnf(Dnf):
    name = "microdnf"
    executables = frozenset({"microdnf"})
    install_verbs = frozenset({"install", "reinstall", "update", "upgrade", "module", "download"}) - {
        "download"
    }
    caches = (CacheDir("microdnf-cache", "/var/cache/yum", "locked", partition="os-release"),)
    keep_flags = ()
    description = "repository metadata (microdnf does not keep rpms)"


class Tdnf(Dnf):
    name = "tdnf"
    executables = frozenset({"tdnf"})
    caches = (CacheDir("tdnf-cache", "/var/cache/tdnf", "locked", partition="os-release"),)
    keep_flags = ()
    description = "repository metadata"


MANAGERS = (Dnf, Yum, Microdnf, Tdnf)
