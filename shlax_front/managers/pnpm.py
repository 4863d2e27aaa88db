"""pnpm: ``install``/``i``/``add``/``fetch``, store in ``$HOME/.local/share/pnpm/store``
(``npm_config_store_dir``); ``pnpm store prune`` only empties it."""

from __future__ import annotations

from shlax_front.managers.base import CLEAN, INSTALL, OTHER, CacheDir, Manager


class Pnpm(Manager):
    name = "pnpm"
    family = "node"
    user_owned = True
    executables = frozenset({"pnpm"})
    value_options = frozenset(
        {
            "--filter",
            "-F",
            "--store-dir",
            "--registry",
            "-C",
            "--dir",
            "--reporter",
            "--network-concurrency",
            "--child-concurrency",
            "--loglevel",
        }
    )
    #: standard: for root the store is mounted where pnpm looks for it, never relocated: pnpm writes the store's
    #: path into ``node_modules/.modules.yaml`` (``storeDir``), and a relocated one (``/tmp/.shlax-front-pnpm``)
    #: differed from bud's image; a later ``pnpm install`` in the image (pnpm 8, CI=true) then deleted
    #: node_modules and installed it again from scratch, as pnpm does when the store is not the recorded one
    caches = (
        CacheDir(
            "pnpm", "{home}/.local/share/pnpm/store", "locked", env="npm_config_store_dir", standard=True
        ),
    )
    description = "the content-addressed package store"

    @classmethod
    def invocation(cls, command, variables):
        options, operands, verb_word = cls.split(command.args[1:])
        verb = verb_word.value if verb_word is not None else ""
        role, rest = OTHER, operands
        if verb in ("install", "i", "add", "fetch", "update", "up", "upgrade"):
            role = INSTALL
        elif verb == "store" and operands and operands[0].value == "prune":
            role, rest = CLEAN, []
        return cls.make(command, role, verb, verb_word, options, rest, variables)


MANAGERS = (Pnpm,)
