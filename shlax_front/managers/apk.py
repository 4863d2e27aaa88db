"""Alpine apk.

``apk add --no-cache`` fetches fresh indexes and keeps nothing; with a cache directory mounted at
/etc/apk/cache the same install becomes ``apk add --update-cache``: same packages, same image, but the
downloads stay in the cache. ``--virtual NAME`` groups are kept as written. An ``apk add`` without
``--no-cache`` keeps its index in the image, so then nothing is mounted.
"""

from __future__ import annotations

from shlax_front.managers.base import INSTALL, UPDATE, CacheDir, Manager


class Apk(Manager):
    name = "apk"
    family = "system"
    executables = frozenset({"apk"})
    install_verbs = frozenset({"add", "upgrade", "fix"})
    update_verbs = frozenset({"update"})
    clean_verbs = frozenset({"cache"})  # only ``apk cache clean``/``purge``: see is_cleanup
    value_options = frozenset(
        {
            "-X",
            "--repository",
            "-t",
            "--virtual",
            "-p",
            "--root",
            "--arch",
            "--cache-dir",
            "--keys-dir",
            "--repositories-file",
            "--cache-max-age",
        }
    )
    caches = (CacheDir("apk-cache", "/etc/apk/cache", "locked", partition="os-release"),)
    replaced_flags = {"--no-cache": "--update-cache"}
    description = "downloaded .apk files and indexes"

    @classmethod
    def make(cls, command, role, verb, verb_word, options, operands, variables, **extra):
        values = [w.value for w in options]
        virtual = None
        for i, v in enumerate(values):
            if v in ("-t", "--virtual") and i + 1 < len(values):
                virtual = values[i + 1]
            elif v.startswith("--virtual="):
                virtual = v.split("=", 1)[1]
        if verb == "cache" and not (operands and operands[0].value in ("clean", "purge")):
            role = "other"
        return super().make(command, role, verb, verb_word, options, operands, variables, virtual=virtual)

    @classmethod
    def blocker(cls, cache, target, invs, script, ctx):
        adds = [i for i in invs if i.role in (INSTALL, UPDATE)]
        if all("--no-cache" in i.options for i in adds):
            return None
        return f"{cls.name} cache not mounted: an apk command without --no-cache keeps its index in the image"


MANAGERS = (Apk,)
