"""Who a user named in a Containerfile is inside the container: its ``/etc/passwd`` and ``/etc/group``.

The front end leaves a ``USER`` given by name unresolved (only the image knows it). A host cache mounted for
that user, or a directory made for it, must belong to its uid/gid, so they are read from the container's
own mounted root, as the run itself would resolve them.
"""

from __future__ import annotations

import dataclasses

from shlax_front.backend.rootfs import inside
from shlax_front.backend.steps import HostCache


def resolve_owner(cache: HostCache, rootfs: str) -> HostCache:
    """A cache for a USER given by name: its uid/gid from the container's /etc/passwd (root if unknown)."""
    if cache.uid is not None and cache.gid is not None:
        return cache
    uid = gid = 0
    name = cache.user or ""
    user, _, group = name.partition(":")
    for line in read_lines(inside(rootfs, "/etc/passwd")):
        fields = line.split(":")
        if len(fields) > 3 and (fields[0] == user or fields[2] == user):
            uid, gid = int(fields[2]), int(fields[3])
            break
    else:
        if user.isdigit():
            uid = gid = int(user)
    if group:
        for line in read_lines(inside(rootfs, "/etc/group")):
            fields = line.split(":")
            if len(fields) > 2 and (fields[0] == group or fields[2] == group):
                gid = int(fields[2])
                break
    return dataclasses.replace(
        cache,
        uid=cache.uid if cache.uid is not None else uid,
        gid=cache.gid if cache.gid is not None else gid,
    )


def copy_owner(rootfs: str, userspec: str) -> tuple[int, int]:
    """The owner bud 1.28 gives what it makes for ``userspec`` (``userForCopy``, as for ``COPY --chown`` and the
    WORKDIR it creates): ``0:0`` for none; a number alone is ``N:N`` whatever ``/etc/passwd`` says; ``N:M``
    as given; a name, or a group name, looked up in the container as the run would resolve it."""
    if not userspec:
        return 0, 0
    user, _, group = userspec.partition(":")
    if user.isdigit() and (not group or group.isdigit()):
        return int(user), int(group or user)
    owner = resolve_owner(HostCache("workdir", "/", uid=None, gid=None, user=userspec), rootfs)
    return owner.uid or 0, owner.gid or 0


def user_id(rootfs: str, name: str, default: int = 0) -> int:
    """The uid of the account ``name`` in the container's /etc/passwd, ``default`` when it has none."""
    return next(
        (
            int(f[2])
            for f in (line.split(":") for line in read_lines(inside(rootfs, "/etc/passwd")))
            if len(f) > 2 and f[0] == name
        ),
        default,
    )


def read_lines(path: str) -> list[str]:
    """The lines of a text file, none when it cannot be read (an image without /etc/group is fine)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []
