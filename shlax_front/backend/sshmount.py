"""``--ssh`` and ``RUN --mount=type=ssh``: an SSH agent reachable from one RUN, never stored in the image.

buildah 1.28's ``run --mount`` knows no ``type=ssh`` ("incorrect mount format"), so the mount is made here as
bud makes it: the agent's socket bound at the mount's target (default ``/run/buildkit/ssh_agent.N``) and
``SSH_AUTH_SOCK`` pointing at it for that RUN. ``--ssh ID=SOCKET`` forwards an agent; ``--ssh ID=KEY[,KEY]``
starts an agent for the build holding those keys (``ssh-agent``, stopped when the build ends). An id the
command line does not give is skipped, or refused when the mount says ``required``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from shlax_front.backend.flags import SshSource
from shlax_front.backend.steps import RunStep
from shlax_front.errors import ShlaxError

_TRUE = ("", "1", "t", "true", "True", "TRUE")


class SshError(ShlaxError):
    """A RUN asks for an SSH agent the command line does not give (a usage error)."""


def ssh_volumes(
    step: RunStep, sockets: Mapping[str, str]
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(volumes, env, targets) for ``step``'s ssh mounts."""
    volumes: list[str] = []
    env: list[tuple[str, str]] = []
    targets: list[str] = []
    for n, mount in enumerate(m for m in step.mounts if m.type == "ssh"):
        ident = mount.get("id") or "default"
        socket = sockets.get(ident)
        if socket is None:
            if mount.get("required") in _TRUE and mount.get("required") is not None:
                where = f"{step.location.path}:{step.location.line}"
                raise SshError(
                    f"{where}: {step.excerpt}: ssh agent {ident!r} is required (give it with --ssh {ident})"
                )
            continue
        target = (
            mount.get("target")
            or mount.get("dst")
            or mount.get("destination")
            or f"/run/buildkit/ssh_agent.{n}"
        )
        volumes.append(f"{socket}:{target}")
        targets.append(target)
        if not env:
            env.append(("SSH_AUTH_SOCK", target))
    return volumes, env, targets


@contextmanager
def agents(sources: Mapping[str, SshSource]) -> Iterator[dict[str, str]]:
    """The socket of each ``--ssh`` id: the one given, or an agent started now with the keys (stopped after)."""
    sockets: dict[str, str] = {}
    started: list[tuple[str, str]] = []  # (pid, directory)
    try:
        for ident, source in sources.items():
            if source.socket:
                sockets[ident] = source.socket
                continue
            if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
                raise ShlaxError(f"--ssh {ident}=...: key files need ssh-agent and ssh-add, not found")
            directory = tempfile.mkdtemp(prefix="shlax-front-ssh-")
            socket = os.path.join(directory, "agent.sock")
            out = subprocess.run(["ssh-agent", "-a", socket, "-s"], capture_output=True, text=True)
            pid = next(
                (w.split("=")[1].rstrip(";") for w in out.stdout.split() if w.startswith("SSH_AGENT_PID=")),
                "",
            )
            started.append((pid, directory))
            if out.returncode != 0 or not pid:
                raise ShlaxError(f"--ssh {ident}: ssh-agent did not start")
            env = {**os.environ, "SSH_AUTH_SOCK": socket, "SSH_ASKPASS": "/bin/false", "DISPLAY": ""}
            for key in source.keys:
                added = subprocess.run(
                    ["ssh-add", key], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
                )
                if added.returncode != 0:
                    raise ShlaxError(
                        f"--ssh {ident}={key}: ssh-add refused the key (one with a passphrase needs an agent)"
                    )
            sockets[ident] = socket
        yield sockets
    finally:
        for pid, directory in started:
            if pid.isdigit():
                subprocess.run(["kill", pid], capture_output=True)
            shutil.rmtree(directory, ignore_errors=True)
