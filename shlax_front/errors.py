"""Errors a user can cause, each with a place.

Every user error carries the file and the 1-based line it is about, so the CLI can print it as one
line (``Containerfile:12: COPY needs a source and a destination``) and exit with status 2. An error about
the whole file (unreadable, no such ``--target``) names the file alone (``Containerfile: ...``).
"""

from __future__ import annotations


class ShlaxError(Exception):
    """Base of every error the CLI reports as one line with exit status 2."""

    exit_code = 2


class ParseError(ShlaxError):
    """The Containerfile (or recipe) cannot be read. ``str(err)`` starts with ``PATH:LINE:``.

    Some errors are about the file as a whole and have no line: it cannot be read, or ``--target`` names no stage
    in it. Those have ``line=None`` and read ``PATH: message``: a line number is never made up (lines count
    from 1, so a ``line`` of 0 is taken as "no line" too).
    """

    def __init__(
        self, message: str, path: str = "Containerfile", line: int | None = 1, text: str | None = None
    ):
        self.message = message
        self.path = path
        self.line = line or None
        self.text = text
        where = f"{path}: {message}" if self.line is None else f"{path}:{self.line}: {message}"
        if text is not None:
            snippet = text.strip().splitlines()[0] if text.strip() else text
            if len(snippet) > 80:
                snippet = snippet[:77] + "..."
            where += f": {snippet}"
        super().__init__(where)


class BuildError(ShlaxError):
    """A build step failed; the message names the step's location and carries the output tail."""

    exit_code = 1

    def __init__(self, message: str, path: str | None = None, line: int | None = None, output_tail: str = ""):
        self.message = message
        self.path = path
        self.line = line
        self.output_tail = output_tail
        where = f"{path}:{line}: {message}" if path and line else message
        super().__init__(where)


class RunFailed(BuildError):
    """A ``RUN`` whose command exited with a status other than 0: the build exits with that status, as bud does
    (``RUN exit 3``: 3, a command not found: 127), so a script can tell one failure from another. A status
    outside 1-255 (buildah itself killed) is 1."""

    def __init__(self, message: str, path: str | None, line: int | None, output_tail: str, status: int):
        super().__init__(message, path, line, output_tail)
        self.exit_code = status if 0 < status < 256 else 1


class RefusedError(BuildError):
    """The build asks for something it may not have (a path leading out of the context): refused before
    anything runs, a usage error (exit status 2)."""

    exit_code = 2
