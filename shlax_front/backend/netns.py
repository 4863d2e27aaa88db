"""Run a command with no network but loopback: ``python -m shlax_front.backend.netns -- CMD ARGS...``.

Why it exists: under ``--isolation chroot`` buildah 1.28 takes ``--network none`` but only leaves
``/etc/resolv.conf`` out; the RUN still shares the host's network namespace and can reach any address.
``--offline`` promises a build that needs no network, so for chroot isolation the executor starts
``buildah run`` itself in a fresh network namespace. Nothing buildah does for a RUN needs the network
(the image store is local), so the whole ``buildah run`` process can live there.

Loopback is brought up, as ``--network none`` does with the oci runtime: a RUN that starts a local
server and talks to it (a test suite, a database initialisation) must still work offline.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
SIOCSIFFLAGS = 0x8914
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40


def enter_empty_network_namespace() -> None:
    """Move this process into a new network namespace holding only an up loopback interface."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot create a network namespace: {os.strerror(errno)}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING)
        fcntl.ioctl(sock, SIOCSIFFLAGS, request)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m shlax_front.backend.netns -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        enter_empty_network_namespace()
    except OSError as err:
        print(f"shlax-front: --offline: {err.strerror or err}", file=sys.stderr)
        return 125
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        print(f"shlax-front: cannot run {argv[0]}: {err.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
