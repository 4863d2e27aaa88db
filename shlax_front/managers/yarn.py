"""yarn (classic v1 layout): ``yarn``/``yarn install``/``yarn add``/``yarn global add``. Its cache
(root: /usr/local/share/.cache/yarn, others: ``$HOME/.cache/yarn``) is relocated with ``YARN_CACHE_FOLDER``."""

from __future__ import annotations

from shlax_front.managers.base import CLEAN, INSTALL, OTHER, CacheDir, Manager


class Yarn(Manager):
    name = "yarn"
    family = "node"
    user_owned = True
    executables = frozenset({"yarn", "yarnpkg"})
    value_options = frozenset(
        {
            "--cache-folder",
            "--modules-folder",
            "--registry",
            "--network-timeout",
            "--mutex",
            "--cwd",
            "--network-concurrency",
            "--global-folder",
            "--link-folder",
        }
    )
    caches = (CacheDir("yarn", "{home}/.cache/yarn", "locked", env="YARN_CACHE_FOLDER"),)
    description = "downloaded package tarballs"

    @classmethod
    def invocation(cls, command, variables):
        options, operands, verb_word = cls.split(command.args[1:])
        verb = verb_word.value if verb_word is not None else ""
        role, rest = OTHER, operands
        if verb in ("", "install"):
            role = INSTALL
        elif verb == "add":
            role = INSTALL
        elif verb == "global" and operands and operands[0].value == "add":
            role, rest = INSTALL, operands[1:]
        elif verb == "cache" and operands and operands[0].value == "clean":
            role, rest = CLEAN, []
        return cls.make(command, role, verb or "install", verb_word, options, rest, variables)


MANAGERS = (Yarn,)
