"""pip, in all its spellings: ``pip``, ``pip3``, ``pip3.11``, ``/venv/bin/pip``, ``python3 -m pip``.

The cache lives in the RUN user's ``$HOME/.cache/pip`` (or ``PIP_CACHE_DIR``). ``--no-cache-dir`` and
``PIP_NO_CACHE_DIR`` (pip disables its cache for ANY value of it, ``off`` and ``0`` included; only an empty
value is ignored) merely defeat the cache. pip's HTTP cache keeps nothing behind proxies that strip caching
headers, so the ``Pip`` action also carries what a host wheelhouse needs (specs, requirement files, index).
"""

from __future__ import annotations

import re

from shlax_front.actions import Wheelhouse
from shlax_front.managers.base import CLEAN, INSTALL, OTHER, CacheDir, Invocation, Manager

_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")


class Pip(Manager):
    name = "pip"
    family = "python"
    user_owned = True
    executables = frozenset({"pip", "pip2", "pip3"})
    executable_pattern = r"pip\d(\.\d+)?"
    install_verbs = frozenset({"install"})
    clean_verbs = frozenset({"cache"})
    value_options = frozenset(
        {
            "-r",
            "--requirement",
            "-c",
            "--constraint",
            "-e",
            "--editable",
            "-i",
            "--index-url",
            "--extra-index-url",
            "-f",
            "--find-links",
            "-t",
            "--target",
            "--prefix",
            "--root",
            "--src",
            "--platform",
            "--python-version",
            "--implementation",
            "--abi",
            "--upgrade-strategy",
            "--progress-bar",
            "--cache-dir",
            "--log",
            "--log-file",
            "--proxy",
            "--retries",
            "--timeout",
            "--exists-action",
            "--trusted-host",
            "--cert",
            "--client-cert",
            "--global-option",
            "--install-option",
            "-C",
            "--config-settings",
            "--no-binary",
            "--only-binary",
            "--python",
            "--report",
            "--root-user-action",
            "--keyring-provider",
            "--use-feature",
            "--use-deprecated",
            "--config-file",
            "--dry-run=",
        }
    )
    caches = (
        CacheDir("pip", "{home}/.cache/pip", "shared", host="pip-user", env="PIP_CACHE_DIR", standard=True),
    )
    defeating_flags = frozenset({"--no-cache-dir", "--no-cache"})
    defeating_env = frozenset({"PIP_NO_CACHE_DIR"})
    env_empty_disables = True
    description = "downloaded and built wheels"

    @classmethod
    def matches(cls, command) -> bool:
        return super().matches(command) or cls.program_words(command) == 3

    @classmethod
    def program_words(cls, command) -> int:
        argv = command.argv
        if (
            len(argv) >= 3
            and _PYTHON.fullmatch(argv[0].rsplit("/", 1)[-1])
            and argv[1] == "-m"
            and argv[2] in ("pip", "pip3")
        ):
            return 3
        return 1

    @classmethod
    def make(cls, command, role, verb, verb_word, options, operands, variables, **extra):
        if verb == "cache" and not (operands and operands[0].value in ("purge", "remove", "rm")):
            role = OTHER
        if role == CLEAN:
            return super().make(command, role, verb, verb_word, options, operands, variables)
        requirements, constraints, editable = [], [], []
        values = [w.value for w in options]
        i = 0
        while i < len(values):
            v = values[i]
            for short, longs, bucket in (
                ("-r", "--requirement", requirements),
                ("-c", "--constraint", constraints),
                ("-e", "--editable", editable),
            ):
                if v in (short, longs) and i + 1 < len(values):
                    bucket.append(values[i + 1])
                elif v.startswith(longs + "="):
                    bucket.append(v.split("=", 1)[1])
                elif v.startswith(short) and len(v) > 2 and not v.startswith("--"):
                    bucket.append(v[2:])
            i += 1
        inv = super().make(command, role, verb, verb_word, options, operands, variables)
        if role == INSTALL and not inv.packages and not requirements and not editable:
            role = OTHER  # ``pip install`` with nothing to install (``pip install --upgrade`` alone)
        return inv.__class__(
            **{
                **inv.__dict__,
                "role": role,
                "extra": {
                    "requirements": tuple(requirements),
                    "constraints": tuple(constraints),
                    "editable": tuple(editable),
                    "user": "--user" in values,
                    "tool": "pip",
                },
            }
        )

    @classmethod
    def wheelhouse(cls, inv: Invocation) -> Wheelhouse:
        return wheelhouse_of(inv)


def wheelhouse_of(inv: Invocation) -> Wheelhouse:
    """The wheelhouse spec of a pip-style install: its specs and requirement files, and the index options
    (pip's spellings, which uv's pip interface shares)."""
    values = list(inv.options)

    def opt(*names):
        out = []
        for i, v in enumerate(values):
            for n in names:
                if v == n and i + 1 < len(values):
                    out.append(values[i + 1])
                elif v.startswith(n + "=") and n.startswith("--"):
                    out.append(v.split("=", 1)[1])
        return out

    index = opt("-i", "--index-url")
    return Wheelhouse(
        packages=tuple(inv.packages),
        requirements=tuple(inv.extra.get("requirements", ())),
        constraints=tuple(inv.extra.get("constraints", ())),
        index_url=index[-1] if index else None,
        extra_index_urls=tuple(opt("--extra-index-url")),
        find_links=tuple(opt("-f", "--find-links")),
        no_index="--no-index" in values,
        pre="--pre" in values,
    )


MANAGERS = (Pip,)
