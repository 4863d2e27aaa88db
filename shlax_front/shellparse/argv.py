"""The argv side of a simple command: wrappers that run another program (``sudo``, ``env A=b``, ``xargs``...),
the user ``su``/``sudo``/``gosu``/``runuser`` switch to, and the ``-c`` script a shell or ``su`` is given."""

from __future__ import annotations

import re

from shlax_front.shellparse.model import Word

#: Programs that run the command given in their arguments with the same effect on the image.
WRAPPERS = frozenset(
    {"exec", "sudo", "nohup", "eatmydata", "command", "builtin", "nice", "stdbuf", "chronic"}
)
#: Shells whose ``-c STRING`` argument is itself a script we can look into.
SHELLS = frozenset(
    {
        "sh",
        "bash",
        "dash",
        "ash",
        "/bin/sh",
        "/bin/bash",
        "/bin/dash",
        "/bin/ash",
        "/usr/bin/bash",
        "/usr/bin/env bash",
        "busybox sh",
    }
)
#: xargs options that take a separate value
_XARGS_VALUE_OPTIONS = frozenset(
    {
        "-a",
        "-d",
        "-E",
        "-I",
        "-L",
        "-n",
        "-P",
        "-s",
        "--arg-file",
        "--delimiter",
        "--max-args",
        "--max-procs",
        "--max-chars",
        "--max-lines",
        "--process-slot-var",
    }
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def shell_script(argv: tuple[Word, ...]) -> Word | None:
    """The ``-c`` string of ``sh -c STRING`` (None when the shell runs a file or reads stdin)."""
    if argv[0].value not in SHELLS and argv[0].value.rsplit("/", 1)[-1] not in ("sh", "bash", "dash", "ash"):
        return None
    i = 1
    while i < len(argv):
        v = argv[i].value
        if v == "-c" or (v.startswith("-") and not v.startswith("--") and v.endswith("c") and len(v) > 2):
            return argv[i + 1] if i + 1 < len(argv) else None
        if v.startswith("-") or v.startswith("+"):
            i += 1
            continue
        return None  # sh script.sh: a file we cannot see
    return None


#: ``su``-style programs: ``su [-] [USER] -c STRING`` runs STRING with USER's login shell as that user.
SWITCH_USER_SHELLS = frozenset({"su", "runuser"})
#: su options that take a value, short and long
_SU_VALUE_OPTIONS = {
    "-c": "command",
    "--command": "command",
    "-s": "shell",
    "--shell": "shell",
    "-g": "group",
    "--group": "group",
    "-G": "",
    "--supp-group": "",
    "-w": "",
    "--whitelist-environment": "",
    "-u": "user",
    "--user": "user",
}


def su_script(argv: tuple[Word, ...]) -> tuple[Word, str] | None:
    """(script word, user spec) of ``su [-] [USER] -c STRING`` / ``runuser -l USER -c STRING``; None when
    there is no ``-c`` string or the shell is set to something other than a POSIX shell."""
    values: dict[str, Word] = {}
    user: Word | None = None
    i = 1
    while i < len(argv):
        w = argv[i]
        v = w.value
        if v in ("-", "--") or not v.startswith("-"):
            if v not in ("-", "--") and user is None:
                user = w
            i += 1
            continue
        name, eq, attached = v.partition("=")
        if v.startswith("--"):
            key = _SU_VALUE_OPTIONS.get(name)
            if key is None and name in _SU_VALUE_OPTIONS:
                key = ""
        else:  # a cluster of short options: the first one that takes a value takes the rest or the next word
            key = None
            for pos, ch in enumerate(v[1:], 1):
                if f"-{ch}" in _SU_VALUE_OPTIONS:
                    key = _SU_VALUE_OPTIONS[f"-{ch}"]
                    attached, eq = v[pos + 1 :], "=" if v[pos + 1 :] else ""
                    break
        if key is None:
            i += 1
            continue
        if eq:
            if key and w.text == w.value:
                values[key] = Word(attached, attached, w.end - len(attached), w.end, w.dynamic)
            elif key:  # quoted: no 1:1 mapping onto the source, so its commands are never edited
                values[key] = Word(attached, "", -1, -1, w.dynamic)
            i += 1
        else:
            if key and i + 1 < len(argv):
                values[key] = argv[i + 1]
            i += 2
    script = values.get("command")
    if script is None or "user" in values:  # runuser -u USER CMD is a plain wrapper
        return None
    shell_word = values.get("shell")
    if shell_word is not None and (
        shell_word.dynamic or shell_word.value.rsplit("/", 1)[-1] not in ("sh", "bash", "dash", "ash")
    ):
        return None
    spec = user_text(user) if user is not None else "root"
    if "group" in values:
        spec += ":" + user_text(values["group"])
    return script, spec


def user_text(word: Word) -> str:
    """A user or group word as a spec: its value, or its text when it depends on a variable."""
    return word.text if word.dynamic else word.value


def inner_offset(word: Word) -> int | None:
    """Where the ``-c`` string's value starts in the source, when the value is the source text minus quotes."""
    t = word.text
    if len(t) >= 2 and t[0] == "'" and t[-1] == "'" and t[1:-1] == word.value:
        return word.start + 1
    if (
        len(t) >= 2
        and t[0] == '"'
        and t[-1] == '"'
        and t[1:-1] == word.value
        and not re.search(r'[\\$`"]', word.value)
    ):
        return word.start + 1
    if t == word.value:
        return word.start
    return None


def skip_wrappers(words: list[Word], env: list[Word]) -> tuple[int, str | None]:
    """(index of the real program after ``sudo``, ``env A=b``, ``exec``..., the user ``sudo``/``gosu``/
    ``runuser -u`` switch to or None), moving ``env``'s assignments to ``env``."""
    i = 0
    run_as: str | None = None
    while i < len(words):
        v = words[i].value
        base = v.rsplit("/", 1)[-1]
        if base in ("gosu", "su-exec") and i + 2 < len(words):
            run_as = user_text(words[i + 1])
            i += 2
            continue
        if base in ("sudo", "runuser"):
            switched = _switch_user_options(words, i + 1, base)
            if switched is None:
                break  # runuser without -u is su-like: ``nested_shell`` reads its -c string
            i, run_as = switched
            continue
        if base == "env":
            i += 1
            while i < len(words):
                w = words[i].value
                if "=" in w and _NAME.match(w.split("=", 1)[0]):
                    env.append(words[i])
                    i += 1
                elif w.startswith("-") and w not in ("-", "--"):
                    if w in ("-u", "--unset", "-C", "--chdir", "-S"):
                        i += 1
                    i += 1
                else:
                    break
            continue
        if base == "xargs":
            i += 1
            while i < len(words) and words[i].value.startswith("-"):
                if words[i].value in _XARGS_VALUE_OPTIONS:
                    i += 1
                i += 1
            continue
        if base in WRAPPERS:
            i += 1
            while i < len(words) and words[i].value.startswith("-"):
                if base == "nice" and words[i].value == "-n":
                    i += 1
                i += 1
            continue
        if "=" in v and _NAME.match(v.split("=", 1)[0]) and i == 0:
            env.append(words[i])
            i += 1
            continue
        break
    return i, run_as


#: sudo/runuser options that take a value (the user and group ones are read)
_SUDO_VALUE_OPTIONS = frozenset(
    {
        "-u",
        "--user",
        "-g",
        "--group",
        "-C",
        "--close-from",
        "-D",
        "--chdir",
        "-h",
        "--host",
        "-p",
        "--prompt",
        "-U",
        "--other-user",
        "-r",
        "--role",
        "-t",
        "--type",
        "-T",
        "--command-timeout",
        "-w",
        "--whitelist-environment",
        "-G",
        "--supp-group",
    }
)


def _switch_user_options(words: list[Word], i: int, base: str) -> tuple[int, str] | None:
    """(index after the options, user spec) of ``sudo [-u USER] [-g GROUP] CMD`` / ``runuser -u USER CMD``;
    None for ``runuser`` without ``-u`` (it then takes ``-c STRING`` like su)."""
    user: str | None = None
    group: str | None = None
    while i < len(words):
        v = words[i].value
        if v == "--":
            i += 1
            break
        if not v.startswith("-") or v == "-":
            break
        name, eq, attached = v.partition("=")
        if not v.startswith("--") and len(v) > 2 and v[:2] in _SUDO_VALUE_OPTIONS:
            name, eq, attached = v[:2], "=", v[2:]
        value = None
        if name in _SUDO_VALUE_OPTIONS:
            if eq:
                value = attached if not words[i].dynamic else "$?"
            elif i + 1 < len(words):
                i += 1
                value = user_text(words[i])
        if name in ("-u", "--user"):
            user = value
        elif name in ("-g", "--group"):
            group = value
        i += 1
    if base == "runuser" and user is None:
        return None
    spec = user if user is not None else "root"
    if spec.startswith("#") and spec[1:].isdigit():  # sudo's #uid form
        spec = spec[1:]
    if group is not None:
        spec += ":" + (group[1:] if group.startswith("#") and group[1:].isdigit() else group)
    return i, spec
