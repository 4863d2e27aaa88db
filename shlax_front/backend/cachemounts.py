"""``RUN --mount=type=cache`` as written by the user: a directory under the tool's cache root, bound for the run.

buildah 1.28 keeps these caches in ``/var/tmp/buildah-cache/<id>`` and joins ``id`` to that path as given, so
``id=../../../tmp/pwn`` writes anywhere on the host as root. Here an id is only a name: the directory is
``<cache root>/mounts/<readable part of the id>-<digest of the id>``, whatever the id holds. The rest is what
buildah does: the id defaults to the target; a new directory gets ``mode`` (default 0755, less the umask) and
``uid``/``gid`` (default 0), an existing one is left as it is; ``sharing=locked`` holds the cache for the
run alone (``private`` too: the run has it to itself), ``shared`` (the default) does not; ``ro`` mounts it
read-only. Cache mounts ``from=`` a stage or image are not on the host and go to buildah as written.
A directory another uid owns (``uid=1000``) or others may write (``mode=0777``) would let that host user fill
the cache (and make ``store.check_trusted`` refuse the whole cache root at the next build): before one is made,
``mounts`` is closed to everyone but its owner (0700), so nobody else reaches what it holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shlax_front.backend.steps import RunMount
from shlax_front.backend.store import cache_writes, file_lock

#: options of a cache mount that ``buildah run``'s bind mounts take as they are
PASSED_ON = {"nosuid", "nodev", "noexec", "rw", "readwrite", "ro", "readonly", "z", "Z", "bind-propagation"}
#: options read here (or, for ``type``, already read)
READ_HERE = {"type", "id", "target", "dst", "destination", "sharing", "mode", "uid", "gid"}
SHARING = ("shared", "locked", "private")


class CacheMountError(ValueError):
    """A cache mount option buildah would refuse (an unknown ``sharing``, a mode that is not octal...)."""


def is_host_cache(mount: RunMount) -> bool:
    """Whether ``mount`` is a user cache mount kept on the host (not one seeded ``from=`` a stage or image)."""
    return mount.type == "cache" and not mount.get("from")


def safe_name(cache_id: str) -> str:
    """A directory name for a cache id: readable, one path component, different for different ids."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", cache_id).strip("._")[:48] or "cache"
    return f"{readable}-{hashlib.sha256(cache_id.encode(errors='surrogateescape')).hexdigest()[:16]}"


@dataclass(frozen=True)
class CacheMount:
    """One user cache mount, read: where it goes, who owns a new directory, whether the run holds it alone."""

    id: str
    target: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    exclusive: bool = False
    options: tuple[str, ...] = ()

    @classmethod
    def read(cls, mount: RunMount) -> CacheMount:
        target = mount.get("target") or mount.get("dst") or mount.get("destination")
        if not target:
            raise CacheMountError("a cache mount needs a target")
        sharing = mount.get("sharing") or "shared"
        if sharing not in SHARING:
            raise CacheMountError(f"sharing={sharing}: expected one of {', '.join(SHARING)}")
        try:
            mode = int(mount.get("mode") or "755", 8)
            uid = int(mount.get("uid") or "0")
            gid = int(mount.get("gid") or "0")
        except ValueError as err:
            raise CacheMountError(f"cache mount: {err}") from None
        unknown = [k for k, _ in mount.options if k not in PASSED_ON | READ_HERE | {"source", "src"}]
        if unknown:
            raise CacheMountError(f"{unknown[0]}: unknown cache mount option")
        options = tuple(f"{k}={v}" if v else k for k, v in mount.options if k in PASSED_ON)
        return cls(mount.get("id") or target, target, mode, uid, gid, sharing != "shared", options)


class CacheMounts:
    """The user cache mounts of RUN steps, under ``<root>/mounts``, locked under ``<root>/locks``."""

    def __init__(self, root: Path):
        self.root = root

    def directory(self, cache: CacheMount) -> Path:
        return self.root / "mounts" / safe_name(cache.id)

    def prepare(self, mount: RunMount) -> str:
        """The ``buildah run --mount`` value binding the cache's directory at the target (made if new)."""
        cache = CacheMount.read(mount)
        directory = self.directory(cache)
        if not directory.is_dir():
            with cache_writes(directory):
                directory.parent.mkdir(parents=True, exist_ok=True)
            if cache.mode & 0o022 or (os.getuid() == 0 and (cache.uid, cache.gid) != (0, 0)):
                with cache_writes(
                    directory
                ):  # others could write it: nobody else may reach it (store.private)
                    os.chmod(directory.parent, 0o700)
            with cache_writes(directory), contextlib.suppress(FileExistsError):  # another build's stands
                os.mkdir(directory, cache.mode)
                if os.getuid() == 0:  # rootless, the invoking user is the container's root already
                    os.chown(directory, cache.uid, cache.gid)
        # writable unless the mount says ro (buildah refuses a second rw/ro, so one is added only when none is)
        written = any(o in ("ro", "readonly", "rw", "readwrite") for o in cache.options)
        options = cache.options if written else (*cache.options, "rw")
        return ",".join(["type=bind", f"source={directory}", f"target={cache.target}", *options])

    @contextlib.contextmanager
    def held(self, mounts: Iterable[RunMount]) -> Iterator[None]:
        """Hold the locks of the ``sharing=locked``/``private`` caches among ``mounts`` (in one global order,
        so two builds never deadlock) for the duration of the block."""
        caches = sorted(
            {CacheMount.read(m).id for m in mounts if is_host_cache(m) and CacheMount.read(m).exclusive}
        )
        with contextlib.ExitStack() as stack:
            for cache_id in caches:
                stack.enter_context(file_lock(self.root / "locks" / f"mount-{safe_name(cache_id)}.lock"))
            yield
