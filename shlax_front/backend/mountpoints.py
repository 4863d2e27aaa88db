"""RUN mount points, left in the layer as the installed ``buildah bud`` leaves them (``budversion``).

``buildah run`` creates whatever a mount's target needs (the target and missing parents) in the container's
root, and those entries would be committed with the layer. bud removes some and keeps others; the rules
below were measured against bud with chroot isolation for every mount kind (run-only files, host caches,
``RUN --mount`` bind/cache/tmpfs, secrets). ``MountPoints.before`` notes what a RUN's mounts will create
or cover, ``MountPoints.after`` puts the root back the way bud would leave it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
from collections.abc import Iterable
from dataclasses import dataclass

from shlax_front.backend.budversion import BudRules, installed
from shlax_front.backend.rootfs import inside
from shlax_front.backend.steps import RunMount

#: directories ``buildah run`` makes itself (bud's images have them too): never removed
ALWAYS_CREATED = ("/run", "/dev", "/proc", "/sys")


@dataclass
class MountPoints:
    """Paths in a container root that a RUN's mounts create or cover, and what to do with them after it."""

    #: entries buildah makes as mount points: removed after the run (when still empty)
    created: list[str]
    #: written ``RUN --mount`` targets already in the image: deleted after the run, as bud 1.28 does
    replaced: list[str]
    #: secret targets already in the image (files): deleted with the secret, as bud 1.28 does
    doomed: list[str]

    @classmethod
    def before(
        cls,
        rootfs: str,
        targets: list[str],
        mounts: Iterable[RunMount],
        secret_targets: Iterable[str],
        rules: BudRules | None = None,
    ) -> MountPoints:
        """What the run's mounts will do to ``rootfs``: ``targets`` are the run-only mounts (files, caches,
        CA bundle...), ``mounts`` the ``RUN --mount`` flags as written, ``secret_targets`` where secrets go;
        ``rules``: the bud version's (default: the installed one's)."""
        rules = rules or installed()
        created = missing_ancestors(rootfs, targets)
        replaced: list[str] = []  # written mount targets that were there before: bud deletes them too
        # RUN --mount targets as written: like buildah bud, remove the mount point, keep parents it made
        for m in mounts:
            if m.type == "secret":  # below
                continue
            target = m.get("target") or m.get("dst") or m.get("destination")
            if target and not os.path.lexists(inside(rootfs, target)) and not bud_keeps_mountpoint(target):
                created.append(inside(rootfs, target))
            elif target and not bud_keeps_mountpoint(target) and rules.deletes_covered_mount_targets:
                parent, name = posixpath.split(posixpath.normpath("/" + target.lstrip("/")))
                replaced.append(os.path.join(inside(rootfs, parent), name))
        # secret mount points as bud leaves them: kept below /var/, else removed - and (1.28) a target that
        # was already in the image outside /var/ is deleted with them (bud's own loss, matched)
        doomed = [inside(rootfs, t) for t in secret_targets if not bud_keeps_mountpoint(t)]
        created += [p for p in doomed if not os.path.lexists(p)]
        doomed = [p for p in doomed if os.path.lexists(p) and not os.path.isdir(p)]
        if not rules.deletes_covered_secret_files:
            doomed = []
        return cls(created, replaced, doomed)

    def after(self, rootfs: str) -> None:
        """Leave ``rootfs`` as bud would after the run (call it whether the run succeeded or not)."""
        for path in self.doomed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        remove_mountpoints(rootfs, self.created)
        delete_replaced(self.replaced)


def missing_ancestors(rootfs: str, targets: list[str]) -> list[str]:
    """For each mount target, the first path component that does not exist yet (buildah will create it)."""
    created = []
    for target in targets:
        current = "/"
        for part in [p for p in target.split("/") if p]:
            current = os.path.join(current, part)
            if current in ALWAYS_CREATED:  # buildah run makes these itself; bud's images have them too
                continue
            if not os.path.lexists(inside(rootfs, current)):
                created.append(inside(rootfs, current))
                break
    return created


def bud_keeps_mountpoint(target: str) -> bool:
    """Whether ``buildah bud`` (1.28 and 1.39, chroot isolation) leaves the mount point of a written
    ``RUN --mount`` in the layer when the RUN created it. Measured for cache, bind (file and directory) and
    tmpfs mounts alike: kept below ``/var/`` (``/var/cache/x``, ``/var/new/x``), removed anywhere else
    (``/root/.cache/pip``, ``/srv/x``, ``/varx/y``); parents the mount made stay in both cases. ``RUN
    --mount=type=cache,target=/root/.cache/pip pip install ...`` is the common real case (bud's image has no
    ``pip`` there)."""
    return ("/" + posixpath.normpath(target).lstrip("/")).startswith("/var/")


def delete_replaced(paths: list[str]) -> None:
    """Delete written ``RUN --mount`` targets that existed before the RUN, contents and all, as buildah bud
    1.28 does outside ``/var/`` (buildah#4927, #4739: ``--mount=type=tmpfs,target=/tmp`` leaves an image
    without ``/tmp``; a cache mount over an existing ``/root/.cache/pip`` deletes it). A bud bug that loses
    files, matched on 1.28 because the image must be bud's (1.39 keeps them: ``budversion``); checked with
    real bud for bind, cache and tmpfs."""
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)


def remove_mountpoints(rootfs: str, created: list[str]) -> None:
    """Delete the empty files/dirs buildah made as mount points, so they never reach a layer."""
    for path in created:
        if os.path.isdir(path) and not os.path.islink(path):
            for dirpath, _dirnames, filenames in os.walk(path, topdown=False):
                for name in filenames:
                    p = os.path.join(dirpath, name)
                    with contextlib.suppress(OSError):
                        if os.path.getsize(p) == 0:
                            os.unlink(p)
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        else:
            with contextlib.suppress(OSError):
                if os.path.getsize(path) == 0:
                    os.unlink(path)
