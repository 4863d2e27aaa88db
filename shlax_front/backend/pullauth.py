"""The registry login of a FROM pull: ``--authfile`` as given, ``--creds USER[:PASSWORD]`` through a private
auth file made for that one pull (never on buildah's command line, where the process list shows it).

The password may also come from ``$REGISTRY_PASSWORD`` when ``--creds`` names only the user.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

PASSWORD_ENV = "REGISTRY_PASSWORD"


def registry_of(ref: str) -> str:
    """The registry host of an image reference (``docker.io`` when the name has none)."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


@contextmanager
def authfile_for(ref: str, authfile: str | None, creds: str | None) -> Iterator[str | None]:
    """The auth file ``buildah pull`` of ``ref`` gets: None (buildah's default), ``authfile``, or a private
    copy of it (or an empty one) with ``creds`` for the image's registry, deleted after the pull."""
    if not creds:
        yield authfile
        return
    user, sep, password = creds.partition(":")
    if not sep:
        password = os.environ.get(PASSWORD_ENV, "")
    data: dict = {"auths": {}}
    if authfile:
        with open(authfile) as f:
            data = json.load(f)
        data.setdefault("auths", {})
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    data["auths"][registry_of(ref)] = {"auth": token}
    directory = tempfile.mkdtemp(prefix="shlax-front-auth-")
    try:
        path = os.path.join(directory, "auth.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)
