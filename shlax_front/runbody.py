"""What a shell-form RUN with heredocs runs, read once the way BuildKit runs it, for every consumer.

BuildKit distinguishes two forms (the Dockerfile reference, "Here-Documents"):

- ``RUN <<EOF`` alone, one heredoc: the body *is* the script. It is written to a file and executed, so a
  ``#!`` line picks the interpreter (``#!/usr/bin/env python3``); without one, SHELL runs it.
- anything else (``RUN <<EOF bash``, ``RUN python3 <<EOF``, ``RUN cat <<EOF > f``, several heredocs): the
  command line, each body and its terminator go to SHELL as one script, which feeds each body to its command's
  standard input (``bash`` then reads its script from there).

Install recognition reads a body as shell only where a POSIX shell runs it: the script form without a
foreign shebang, and the stdin form whose command is ``sh``/``bash`` (``script``); the build lowers both forms
for buildah 1.28, which cannot parse heredocs (``heredoc_run``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shlax_front.syntax import Heredoc

#: ``<<EOF`` (optionally ``<<-``, quoted delimiter) as the whole command of a RUN
_SCRIPT_ONLY = re.compile(r"\s*<<-?\s*(['\"]?)[A-Za-z0-9_.-]+\1\s*")
#: ``<<EOF bash [-opts]`` or ``bash [-opts] <<EOF``: a POSIX shell reading its script on stdin
_STDIN_SHELL = re.compile(
    r"\s*(?:<<(?P<d1>['\"]?)(?P<n1>[A-Za-z0-9_.-]+)(?P=d1)\s+(?:/usr)?(?:/bin/)?(?:sh|bash)(?:\s+-[a-z]+)*"
    r"|(?:/usr)?(?:/bin/)?(?:sh|bash)(?:\s+-[a-z]+)*\s+<<(?P<d2>['\"]?)(?P<n2>[A-Za-z0-9_.-]+)(?P=d2))\s*"
)
#: where the build mounts a script-form body that names its own interpreter (read-only, for that RUN only)
SCRIPT_DIR = "/run/shlax-front"


@dataclass(frozen=True)
class RunBody:
    """How a heredoc RUN runs: ``script_form`` when the body is the script (``RUN <<EOF`` alone), and
    ``script``, the shell text install recognition may read (None: not run by a POSIX shell as a script)."""

    script_form: bool
    script: str | None


def read(command: str, heredocs: Sequence[Heredoc]) -> RunBody:
    """The form of a shell-form RUN whose line is ``command`` and whose bodies are ``heredocs``."""
    if is_script_form(command, heredocs):
        body = heredocs[0].content
        return RunBody(True, None if _foreign_shebang(body) else body)
    return RunBody(False, stdin_shell_script(command, heredocs))


def is_script_form(command: str, heredocs: Sequence[Heredoc]) -> bool:
    return len(heredocs) == 1 and bool(_SCRIPT_ONLY.fullmatch(command))


def script_body(command: str, heredocs: Sequence[Heredoc]) -> str | None:
    """The script a ``RUN <<EOF`` runs through SHELL (or a ``#!/bin/sh`` line): its body; None for other forms
    and for a body run by another interpreter (a rewrite could not keep that)."""
    body = read(command, heredocs)
    return body.script if body.script_form else None


def stdin_shell_script(command: str, heredocs: Sequence[Heredoc]) -> str | None:
    """``RUN <<EOF bash`` / ``RUN sh <<EOF``: the body a POSIX shell reads on stdin (not for ``<<-``)."""
    if len(heredocs) != 1 or heredocs[0].chomp:
        return None
    m = _STDIN_SHELL.fullmatch(command)
    if not m or (m.group("n1") or m.group("n2")) != heredocs[0].name:
        return None
    return heredocs[0].content


def full_command(command: str, heredocs: Sequence[Heredoc], body: str | None = None) -> str:
    """The text BuildKit hands SHELL for the stdin form: the line, each body and its terminator (``body``
    replaces the first one's content, for a rewritten body)."""
    text = command
    for n, h in enumerate(heredocs):
        text += "\n" + (body if n == 0 and body is not None else h.content) + h.name
    return text


def heredoc_run(
    command: str, heredocs: Sequence[Heredoc], shell: tuple[str, ...], line: int
) -> tuple[tuple[str, ...], list[tuple[str, str, int]]]:
    """(argv, files) that run a heredoc RUN the way BuildKit does, for a builder that cannot parse heredocs.

    The script form with a ``#!`` line runs as a file (mounted for that RUN only, so its interpreter reads it);
    without one SHELL runs the body. The stdin form gives SHELL the whole text."""
    if is_script_form(command, heredocs):
        body = heredocs[0].content
        if body.startswith("#!"):
            path = f"{SCRIPT_DIR}/heredoc-{line}"
            return (path,), [(path, body, 0o755)]
        return (*shell, body), []
    return (*shell, full_command(command, heredocs)), []


def _foreign_shebang(body: str) -> bool:
    """A ``#!`` line naming another interpreter than ``sh``."""
    if not body.startswith("#!"):
        return False
    interp = body.split("\n", 1)[0][2:].strip().split()
    return (interp[-1].rsplit("/", 1)[-1] if interp else "") != "sh"
