"""uv: ``uv pip install``, ``uv pip sync``, ``uv sync``, ``uv add``, ``uv tool install``.

Its cache is ``$HOME/.cache/uv`` (``UV_CACHE_DIR``); ``--no-cache``/``-n`` defeat it. ``UV_NO_CACHE`` set in
the environment is left alone (no value of it is known to switch it off again), so such RUNs stay as written.
"""

from __future__ import annotations

from shlax_front.actions import Wheelhouse
from shlax_front.managers.base import CLEAN, INSTALL, OTHER, CacheDir, Invocation, Manager
from shlax_front.managers.pip import wheelhouse_of


class Uv(Manager):
    name = "uv"
    family = "python"
    user_owned = True
    executables = frozenset({"uv"})
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
            "--index",
            "--default-index",
            "-f",
            "--find-links",
            "-p",
            "--python",
            "--target",
            "--prefix",
            "--cache-dir",
            "--extra",
            "--group",
            "--only-group",
            "--no-group",
            "--package",
            "--directory",
            "--project",
            "--index-strategy",
            "--link-mode",
            "--config-file",
            "--with",
            "-w",
            "--override",
            "--resolution",
            "--prerelease",
            "--exclude-newer",
            "--keyring-provider",
            "-P",
            "--upgrade-package",
            "--reinstall-package",
            "--no-binary-package",
            "--no-build-package",
            "--color",
            "--compile",
        }
        - {"--compile"}
    )
    caches = (CacheDir("uv", "{home}/.cache/uv", "shared", env="UV_CACHE_DIR", standard=True),)
    defeating_flags = frozenset({"--no-cache", "-n"})
    defeating_env = frozenset({"UV_NO_CACHE"})
    description = "downloaded and built wheels"

    @classmethod
    def invocation(cls, command, variables):
        options, operands, verb_word = cls.split(command.args[1:])
        verb = verb_word.value if verb_word is not None else ""
        role = OTHER
        sub = operands[0].value if operands else ""
        rest = operands
        if verb == "pip":
            if sub in ("install", "sync"):
                role, rest = INSTALL, operands[1:]
        elif verb in ("sync", "add"):
            role = INSTALL
        elif verb == "tool" and sub == "install":
            role, rest = INSTALL, operands[1:]
        elif verb == "cache" and sub in ("clean", "prune"):
            role, rest = CLEAN, []
        inv = cls.make(
            command, role, verb if verb != "pip" else f"pip {sub}", verb_word, options, rest, variables
        )
        values = [w.value for w in options]
        reqs = [values[i + 1] for i, v in enumerate(values[:-1]) if v in ("-r", "--requirement")]
        if verb == "pip" and sub == "sync":
            reqs += list(inv.packages)
        return inv.__class__(
            **{
                **inv.__dict__,
                "extra": {
                    "requirements": tuple(reqs),
                    "tool": "uv",
                    "user": False,
                    "constraints": (),
                    "editable": (),
                },
            }
        )

    @classmethod
    def wheelhouse(cls, inv: Invocation) -> Wheelhouse:
        return wheelhouse_of(inv)


MANAGERS = (Uv,)
