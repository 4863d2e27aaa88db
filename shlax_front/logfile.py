"""``build --logfile FILE``, as bud: everything the build writes, on stdout (the image id) and stderr (progress,
warnings, errors) and what its subprocesses write there, goes to FILE (made 0600, emptied first) instead.

The file is opened before anything else runs (``__main__`` asks ``redirect`` before the no-op replay), so a no-op
finished from its record writes there too. A build started again inside buildah's user namespace (rootless)
inherits the redirected output: the variable ``REDIRECTED`` tells it the file is open already, and not to empty it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from shlax_front.errors import ShlaxError

REDIRECTED = "SHLAX_FRONT_LOGFILE_OPEN"


def given(args: Sequence[str]) -> str | None:
    """The last ``--logfile`` value of a ``build`` command line (before ``--``), or None."""
    if not args or args[0] != "build":
        return None
    found = None
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            break
        if arg == "--logfile" and rest:
            found = rest.pop(0)
        elif arg.startswith("--logfile="):
            found = arg.partition("=")[2]
    return found


def redirect(path: str | None) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``; a path that cannot be
    written is one line, exit status 2, before the build starts."""
    if not path or os.environ.get(REDIRECTED) == path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as err:
        raise ShlaxError(f"--logfile {path}: {err.strerror}") from None
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ[REDIRECTED] = path
