"""npm: ``install``/``i``/``ci``/``add``... with the cache in ``$HOME/.npm`` (``npm_config_cache``).
``npm cache clean --force`` only empties that cache."""

from __future__ import annotations

from shlax_front.managers.base import OTHER, CacheDir, Manager


class Npm(Manager):
    name = "npm"
    family = "node"
    user_owned = True
    executables = frozenset({"npm"})
    install_verbs = frozenset(
        {
            "install",
            "i",
            "in",
            "ins",
            "inst",
            "insta",
            "instal",
            "isnt",
            "isnta",
            "isntal",
            "isntall",
            "add",
            "ci",
            "clean-install",
            "ic",
            "install-clean",
            "isntall-clean",
            "install-ci-test",
            "cit",
            "install-test",
            "it",
            "update",
            "up",
            "upgrade",
            "udpate",
        }
    )
    clean_verbs = frozenset({"cache"})
    value_options = frozenset(
        {
            "--prefix",
            "--registry",
            "--cache",
            "--tag",
            "--omit",
            "--include",
            "-w",
            "--workspace",
            "--loglevel",
            "--userconfig",
            "--globalconfig",
            "--only",
            "--install-strategy",
            "--before",
            "--cpu",
            "--os",
            "--libc",
        }
    )
    caches = (
        CacheDir("npm", "{home}/.npm", "shared", host="npm-user", env="npm_config_cache", standard=True),
    )
    description = "downloaded package tarballs"

    @classmethod
    def make(cls, command, role, verb, verb_word, options, operands, variables, **extra):
        if verb == "cache":
            if operands and operands[0].value == "clean":
                return super().make(command, role, verb, verb_word, options, [], variables)
            role = OTHER
        return super().make(command, role, verb, verb_word, options, operands, variables)


MANAGERS = (Npm,)
