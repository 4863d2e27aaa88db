"""Arch Linux pacman. ``-S`` installs (``-Sy``/``-Syu`` refresh first), ``-Sc``/``-Scc`` empty the package
cache. Only the package cache is mounted: the sync databases must stay in the image for later ``-S``."""

from __future__ import annotations

from shlax_front.managers.base import CLEAN, INSTALL, OTHER, CacheDir, Manager


class Pacman(Manager):
    name = "pacman"
    family = "system"
    executables = frozenset({"pacman"})
    value_options = frozenset(
        {
            "--root",
            "-r",
            "--dbpath",
            "-b",
            "--cachedir",
            "--config",
            "--arch",
            "--gpgdir",
            "--hookdir",
            "--logfile",
            "--overwrite",
            "--ignore",
            "--ignoregroup",
            "--assume-installed",
        }
    )
    caches = (CacheDir("pacman-pkg", "/var/cache/pacman/pkg", "locked", partition="os-release"),)
    description = "downloaded packages"

    @classmethod
    def invocation(cls, command, variables):
        words = command.args[1:]
        options, operands = [], []
        i = 0
        while i < len(words):
            w = words[i]
            if w.value.startswith("-"):
                options.append(w)
                if w.value in cls.value_options and i + 1 < len(words):
                    options.append(words[i + 1])
                    i += 1
            else:
                operands.append(w)
            i += 1
        letters = "".join(
            w.value[1:] for w in options if w.value.startswith("-") and not w.value.startswith("--")
        )
        longs = {w.value for w in options if w.value.startswith("--")}
        sync = "S" in letters or "--sync" in longs
        upgrade_file = "U" in letters or "--upgrade" in longs
        role = OTHER
        update = False
        if sync:
            if "c" in letters or "--clean" in longs:
                role = CLEAN
            elif any(c in letters for c in "sigpl") or longs & {
                "--search",
                "--info",
                "--groups",
                "--print",
                "--list",
            }:
                role = OTHER
            else:
                role = INSTALL
                update = "y" in letters or "--refresh" in longs
        elif upgrade_file:
            role = INSTALL
        verb = "-S" if sync else ("-U" if upgrade_file else "")
        return cls.make(command, role, verb, None, options, operands, variables, update=update)


MANAGERS = (Pacman,)
