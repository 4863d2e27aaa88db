"""Registry settings as buildah and podman users keep them, and credentials kept off command lines.

buildah itself reads ``registries.conf`` (an ``insecure = true`` registry, mirrors; ``CONTAINERS_REGISTRIES_CONF``
names another file), the ``certs.d`` CA directories and the default auth file (``REGISTRY_AUTH_FILE`` or
``${XDG_RUNTIME_DIR}/containers/auth.json``), so nothing of that is repeated here. ``--authfile`` is passed on.
``--creds USER:PASSWORD`` is never put on buildah's command line, where any user sees it in the process list: it
is written to a private auth file (mode 0600, in a private directory, deleted after the build) named by
``--authfile``; with a password missing (``--creds USER``) it is read from ``REGISTRY_PASSWORD``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from shlax_front.errors import ShlaxError

PASSWORD_ENV = "REGISTRY_PASSWORD"


@dataclass
class RegistryAuth:
    """How buildah authenticates to registries during one build."""

    authfile: str | None = None
    _private_dir: str | None = field(default=None, repr=False)

    @classmethod
    def create(cls, authfile: str | None, creds: str | None, registries: list[str]) -> RegistryAuth:
        """From ``--authfile``/``--creds``: ``creds`` is valid for every registry of ``registries`` (hosts)."""
        if authfile and not os.path.isfile(authfile):
            raise ShlaxError(f"--authfile {authfile}: no such file")
        if not creds:
            return cls(authfile)
        user, sep, password = creds.partition(":")
        if not sep:
            password = os.environ.get(PASSWORD_ENV, "")
        if not user or not password:
            raise ShlaxError(
                f"--creds: expected USER:PASSWORD (or USER with the password in ${PASSWORD_ENV})"
            )
        auths: dict = {}
        if authfile:
            with contextlib.suppress(OSError, ValueError):
                with open(authfile, encoding="utf-8") as f:
                    auths = json.load(f).get("auths", {})
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        for host in registries:
            auths[host] = {"auth": token}
        private = tempfile.mkdtemp(prefix="shlax-front-auth-")
        path = os.path.join(private, "auth.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"auths": auths}, f)
        return cls(path, private)

    def flags(self) -> list[str]:
        return ["--authfile", self.authfile] if self.authfile else []

    def close(self) -> None:
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None


def registry_host(reference: str) -> str:
    """``HOST`` of ``HOST/REPO[:TAG]`` (docker.io when the first part is not a host)."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"
