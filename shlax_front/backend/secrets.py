"""Build secrets: ``--secret id=ID,src=PATH`` on the command line, ``RUN --mount=type=secret`` in the file.

A secret is handed to one RUN as a read-only file and to nothing else. Its CONTENT never enters the image
nor the layer cache key - only the mount options as written do (like ``buildah bud`` and BuildKit, which
do not rebuild a step because a token was rotated). The copy mounted into the container is a private file
(owner and mode from the mount's ``uid``/``gid``/``mode``) deleted as soon as the RUN ends.

Reading of the mount follows BuildKit, a superset of ``buildah bud`` 1.28 (which only knows ``id``,
``target``, ``required``, ``mode``, ``uid``, ``gid`` and crashes on a bare ``required``): the id defaults
to ``source``/``src`` or the target's basename, the target to ``/run/secrets/<id>``, the mode to 0400.
A relative target is taken from ``/`` as bud 1.28 does (BuildKit would join it to the WORKDIR).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from shlax_front.errors import BuildError, ShlaxError

SECRETS_DIR = "/run/secrets"
FLAG_SYNTAX = "expected --secret id=ID[,src=PATH|,env=VAR][,type=file|env]"
_TRUE = ("", "1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


class SecretError(BuildError):
    """A RUN needs a secret the command line does not provide (a usage error: exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Secret:
    """One ``--secret``: its id and either a host file (``path``) or a value read from our environment."""

    id: str
    path: str | None = None
    value: bytes | None = None

    def content(self) -> bytes:
        if self.value is not None:
            return self.value
        assert self.path is not None
        with open(self.path, "rb") as f:
            return f.read()


def parse_secret_flag(spec: str, environ: Mapping[str, str] | None = None) -> Secret:
    """``id=ID,src=PATH`` / ``id=ID,env=VAR`` / ``id=ID,type=env,src=VAR`` as ``buildah bud --secret``
    reads them: ``src`` defaults to the id; a file must exist now (bud checks before building); an unset
    environment variable is an empty secret (bud does the same). ``id=ID`` alone with no file ``ID`` but a
    variable ``ID`` set is that variable, as ``docker build --secret id=API_TOKEN`` reads it (docker prefers the
    variable; bud, which only knows the file, is followed when both are there)."""
    environ = os.environ if environ is None else environ
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in ("id", "src", "source", "env", "type"):
            raise ShlaxError(f"--secret {spec}: {FLAG_SYNTAX}")
        fields["src" if key == "source" else key] = value
    secret_id = fields.get("id", "")
    kind = fields.get("type", "env" if "env" in fields else "file")
    if not secret_id or kind not in ("file", "env"):
        raise ShlaxError(f"--secret {spec}: {FLAG_SYNTAX}")
    source = fields.get("env") or fields.get("src") or secret_id
    if kind == "env":
        return Secret(secret_id, value=environ.get(source, "").encode())
    path = os.path.abspath(source)
    if not os.path.isfile(path) and set(fields) == {"id"} and secret_id in environ:
        return Secret(secret_id, value=environ[secret_id].encode())
    if not os.path.isfile(path):
        raise ShlaxError(f"--secret {spec}: {path}: no such file")
    return Secret(secret_id, path=path)


def secrets_by_id(specs: tuple[str, ...] | list[str]) -> dict[str, Secret]:
    """The ``--secret`` flags of one build, by id (a later flag for the same id wins, as in bud)."""
    out: dict[str, Secret] = {}
    for spec in specs:
        secret = parse_secret_flag(spec)
        out[secret.id] = secret
    return out


@dataclass(frozen=True)
class SecretMount:
    """A ``RUN --mount=type=secret`` read with defaults filled in."""

    id: str
    target: str
    required: bool = False
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


def read_secret_mount(options: tuple[tuple[str, str], ...]) -> SecretMount:
    """The mount's options (``RunMount.options``, expanded) as a ``SecretMount``; ValueError when unusable."""
    values = dict(options)
    if "env" in values:
        raise ValueError("secret env= (secret as an environment variable) is not supported by this backend")
    target = values.get("target") or values.get("dst") or values.get("destination") or ""
    secret_id = values.get("id") or values.get("source") or values.get("src") or ""
    if not secret_id and target:
        secret_id = posixpath.basename(target.rstrip("/"))
    if not secret_id:
        raise ValueError("secret mount needs an id (or a target)")
    target = posixpath.join("/", target) if target else f"{SECRETS_DIR}/{secret_id}"
    required = values.get("required")
    if required is not None and required not in _TRUE + _FALSE:
        raise ValueError(f"invalid value for required: {required}")
    return SecretMount(
        secret_id,
        posixpath.normpath(target),
        required=required is not None and required in _TRUE,
        mode=int(values["mode"], 8) if values.get("mode") else 0o400,
        uid=int(values["uid"]) if values.get("uid") else 0,
        gid=int(values["gid"]) if values.get("gid") else 0,
    )


def write_secret_file(secret: Secret, mount: SecretMount, directory: str, n: int) -> str:
    """A private copy of the secret for one RUN, owned and moded as the mount says; its host path."""
    path = os.path.join(directory, f"secret{n}")
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret.content())
    os.chown(path, mount.uid, mount.gid)
    os.chmod(path, mount.mode)
    return path
