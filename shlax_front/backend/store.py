"""The cache root on the host: where package caches and the layer index live, and how they are locked.

Layout under the root (``--cache-dir``, else ``$XDG_CACHE_HOME/shlax-front``, else ``~/.cache/shlax-front``)::

    layers/index.json    cache key -> committed image id (plus the inputs, for --explain)
    layers/index.lock    fcntl lock for read-modify-write of the index
    layers/images.lock   held shared by every build from its index's load to its end, exclusive by ``cache
                         prune`` while it removes layer images: a build never loses an image it found cached
    apt/<cache>/<ID>-<VERSION_ID>-<arch>/   apt archives and lists, per distribution release and architecture
    pip-wheelhouse/      distributions pip downloaded, served back offline-first
    locks/<cache>.lock   one lock per package cache, so concurrent builds both succeed
    mounts/<id>-<digest>/  the Containerfile's own ``RUN --mount=type=cache`` caches (``cachemounts``)
    context/<context>.json  context files' content digests by stat (``statcache``)
    images/<ref>.json    what ``buildah inspect`` said of a FROM image, by id (``imagecache``)
    buildah-version.json the installed buildah's version, by its binary's stat (``budversion``)
    noop/<cwd, argv>.json  what the last build of a command line depended on, for the next no-op (``replay``)

Writes are atomic (temporary file + rename) so an interrupted build never leaves a half-written entry; a
damaged index or record is renamed ``*.corrupt`` with a warning and rebuilt, and a cache directory that cannot
be written is one line (``CacheDirError``), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import pwd
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shlax_front.backend import faults
from shlax_front.backend.keys import slot_view
from shlax_front.errors import BuildError, RefusedError

#: what the library has to say goes through logging: the CLI prints it, a library caller decides
log = logging.getLogger(__name__)

#: errors that say the cache directory cannot be written at all (not a bug of ours): one line, no traceback
UNWRITABLE = {errno.EROFS: "read-only", errno.EACCES: "not writable", errno.EPERM: "not writable"}
FULL = {errno.ENOSPC, errno.EDQUOT}
#: what a damaged record is renamed to, beside where it was
CORRUPT_SUFFIX = ".corrupt"


class CacheDirError(BuildError):
    """The cache directory cannot be written (read-only, not ours, full): the build cannot keep its layers."""


@contextlib.contextmanager
def cache_writes(what: Path):
    """Turn an OSError that means "this directory cannot be written" into one line naming ``what``."""
    try:
        yield
    except OSError as err:
        if err.errno in UNWRITABLE:
            raise CacheDirError(
                f"{what}: the cache directory is {UNWRITABLE[err.errno]} ({err.strerror}): "
                "give a writable one with --cache-dir"
            ) from None
        if err.errno in FULL:
            raise CacheDirError(f"{what}: no space left to write the cache ({err.strerror})") from None
        raise


#: suffix of the marker beside a cache directory that a build handed to its container's user for a RUN
#: (``hostcache``): written before the hand-over, removed after the hand-back
HANDOVER_SUFFIX = ".shlax-front-handover"


def handed_over(path: Path) -> bool:
    """Whether ``path`` is handed to a container's user by a build (running, or killed before it gave it
    back): its marker stands beside it, written by root or the invoking user, who alone may write there."""
    try:
        st = os.lstat(path.with_name(path.name + HANDOVER_SUFFIX))
    except OSError:
        return False
    return st.st_uid in (invoking_user()[0], 0)


def untrusted(path: Path) -> str | None:
    """Why ``path`` (a directory of the cache) may hold what someone else put there, or None: it must belong to
    the invoking user or root (or be handed over by a build of theirs: ``handed_over``), and nobody else may
    write it (group-writable only for the user's own group, as with a 002 umask and user private groups)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    uid, gid, _ = invoking_user()
    if st.st_uid not in (uid, 0) and not handed_over(path):
        return f"owned by uid {st.st_uid}"
    if st.st_mode & 0o002:
        return f"writable by anyone (mode {st.st_mode & 0o7777:04o})"
    if st.st_mode & 0o020 and st.st_gid not in (gid, 0):
        return f"writable by group {st.st_gid} (mode {st.st_mode & 0o7777:04o})"
    return None


def private(path: Path) -> bool:
    """Whether nobody but its trusted owner can reach into ``path``: ours (``untrusted`` finds nothing) and no
    permission bit for group or others, so what lies inside is out of other host users' reach whoever owns it."""
    try:
        return untrusted(path) is None and os.stat(path).st_mode & 0o077 == 0
    except OSError:
        return False


def check_trusted(root: Path) -> None:
    """Refuse a cache root (or one of its cache directories) that someone else could have filled: a poisoned
    layer index, wheel or cache mount would end up in images as if it had been built here. The Containerfiles'
    own cache mounts may belong to the uid a mount names (``RUN --mount=type=cache,uid=1000``, as buildah makes
    them): their directory ``mounts`` is then ``private`` (``cachemounts``), and what it holds is not weighed."""
    candidates = [root]
    for parent in (root, root / "caches", root / "mounts"):
        if parent.name == "mounts" and private(parent):
            continue
        with contextlib.suppress(OSError):
            candidates += sorted(p for p in parent.iterdir() if p.is_dir() and p not in candidates)
    for path in candidates:
        why = untrusted(path)
        if why:
            raise RefusedError(
                f"{path}: the cache directory is {why}: refusing to use it "
                "(make it yours and not writable by others, or give another --cache-dir)"
            )


def set_aside(path: Path, why: str) -> None:
    """Rename a damaged cache record to ``<name>.corrupt`` (kept for a look, never read again) and say so in one
    line; the caller carries on as if it were missing, so the next write rebuilds it."""
    with contextlib.suppress(FileNotFoundError):  # another build set it aside first
        os.replace(path, path.with_name(path.name + CORRUPT_SUFFIX))
        log.warning("%s: %s; set aside as %s%s", path, why, path.name, CORRUPT_SUFFIX)


def invoking_user() -> tuple[int, int, str]:
    """(uid, gid, home) of the person who ran us: SUDO_UID's account under sudo, else ourselves."""
    uid = int(os.environ.get("SUDO_UID", os.getuid()))
    try:
        entry = pwd.getpwuid(uid)
        gid = int(os.environ.get("SUDO_GID", entry.pw_gid)) if "SUDO_UID" in os.environ else os.getgid()
        home = entry.pw_dir if "SUDO_UID" in os.environ else os.path.expanduser("~")
    except KeyError:
        gid, home = os.getgid(), os.path.expanduser("~")
    return uid, gid, home


def default_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg) and "SUDO_UID" not in os.environ:  # the XDG spec: a relative one is ignored
        return Path(xdg) / "shlax-front"
    return Path(invoking_user()[2]) / ".cache" / "shlax-front"


@contextlib.contextmanager
def file_lock(path: Path, exclusive: bool = True, waiting: Callable[[str], None] | None = None):
    """Hold an fcntl lock on ``path`` (created if missing) for the duration of the block. When another build
    holds it, ``waiting`` (by default one line on stderr) hears what is waited for before the wait."""
    with cache_writes(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            (waiting or _say)(f"shlax-front: waiting for {lock_subject(path)} (in use by another build)")
            fcntl.flock(fd, mode)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _say(line: str) -> None:
    log.info("%s", line.removeprefix("shlax-front: "))


def lock_subject(path: Path) -> str:
    """What a lock file guards, in words: ``layers/index.lock`` is the layer index, ``locks/<x>.lock`` a cache."""
    if path.name == "index.lock":
        return f"the layer index {path.with_name('index.json')}"
    if path.name == "images.lock":
        return f"the cached layer images of {path.parent.parent}"
    name = path.name.removesuffix(".lock")
    if name.startswith("mount-"):
        return f"the cache mount {name.removeprefix('mount-')} ({path.parent.parent / 'mounts'})"
    return f"the {name} cache ({path})"


def write_atomic(path: Path, data: str) -> None:
    from shlax_front.backend import stale  # not at the top: a no-op replayed from its record never needs it

    with cache_writes(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # named after its writer: what a build killed before the rename left is deleted by the next one (stale)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{stale.owner()}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(data)
            faults.point("cache-write")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


@dataclass
class LayerIndex:
    """cache key -> image id, stored as one small JSON file; read once per build, merged on write.

    ``slots`` remember the inputs last used at a given place in a given Containerfile, so a miss can be
    explained ("context changed: app.py") without scanning images.
    """

    root: Path
    entries: dict[str, dict] = field(default_factory=dict)
    slots: dict[str, dict] = field(default_factory=dict)
    #: images an entry pointed at before a rebuild of the same key (``--no-cache``) replaced them: no key
    #: reaches them any more, so they are kept here for ``cache prune`` instead of being lost in the store
    superseded: dict[str, float] = field(default_factory=dict)
    #: stages of one build write at the same time: one at a time here, before the file lock between builds
    #: (which would also serialise them, but say it waits for "another build")
    _writing: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    #: closes the descriptor of the shared lock on ``images_lock_path`` (``load``)
    _images_held: weakref.finalize | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return self.root / "layers" / "index.json"

    @property
    def lock_path(self) -> Path:
        return self.root / "layers" / "index.lock"

    @property
    def images_lock_path(self) -> Path:
        return self.root / "layers" / "images.lock"

    def load(self, in_use: bool = True) -> LayerIndex:
        """Read the index (under a shared lock: never while a build writes it, and a cache directory that
        cannot be written fails here, before anything is built). A root others can write is refused.

        ``in_use`` (a build): the images the index points at are held (``hold_images``) until this index is
        released or collected, or the process ends (a build killed outright holds nothing)."""
        from shlax_front.backend import stale

        check_trusted(self.root)
        stale.sweep_writes(self.root)
        if in_use:
            self.hold_images()
        with file_lock(self.lock_path, exclusive=False):
            data = self._read()
        self.entries = data.get("entries", {})
        self.slots = data.get("slots", {})
        self.superseded = data.get("superseded", {})
        return self

    def hold_images(self) -> None:
        """Hold ``images_lock_path`` shared: ``cache prune`` removes layer images under it exclusive. Why: a
        build finds a step cached (the image listed) and makes its working container of that image later; a
        prune in between removed it, and the build failed ("image not known"). Waits, with a line, while a prune
        removes images."""
        if self._images_held is not None and self._images_held.alive:
            return
        path = self.images_lock_path
        with cache_writes(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                _say(f"shlax-front: waiting for {lock_subject(path)} (being pruned)")
                fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        self._images_held = weakref.finalize(self, os.close, fd)

    def release_images(self) -> None:
        """Let a prune remove the images again (``hold_images``); the build that loaded this index is over."""
        if self._images_held is not None:
            self._images_held()

    def _read(self) -> dict:
        """The index file's data; a damaged file (not JSON, not UTF-8, or JSON of another shape) is set aside
        and read as empty, so the index is rebuilt as layers are built again."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both
            data = None
        if not _index_shaped(data):
            set_aside(self.path, "not a layer index (damaged)")
            return {}
        return data

    def lookup(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry["image"] if entry else None

    def record(self, key: str, image: str, text: str, slot: str | None, inputs: dict) -> None:
        """Add one entry and merge it into the file under the lock (other builds may have written too)."""
        entry = {"image": image, "step": text, "created": time.time()}
        self.entries[key] = entry
        inputs = slot_view(inputs)
        if slot:
            self.slots[slot] = inputs
        with self._writing, file_lock(self.lock_path):
            data = self._read()
            previous = data.setdefault("entries", {}).get(key)
            if previous and previous["image"] != image:
                data.setdefault("superseded", {})[previous["image"]] = previous.get("created", 0)
                self.superseded[previous["image"]] = previous.get("created", 0)
            data["entries"][key] = entry
            if slot:
                data.setdefault("slots", {})[slot] = inputs
            write_atomic(self.path, json.dumps(data, indent=0, sort_keys=True))

    def remember_slot(self, slot: str, inputs: dict) -> None:
        """Record a slot's inputs on a hit too, so the next miss compares with the latest build."""
        inputs = slot_view(inputs)
        if self.slots.get(slot) == inputs:
            return
        self.slots[slot] = inputs
        with self._writing, file_lock(self.lock_path):
            data = self._read()
            data.setdefault("slots", {})[slot] = inputs
            write_atomic(self.path, json.dumps(data, indent=0, sort_keys=True))

    def forget(self, keys: set[str], superseded: set[str] | frozenset[str] = frozenset()) -> None:
        """Drop entries (by key) and superseded images (by id) from the index."""
        with self._writing, file_lock(self.lock_path):
            data = self._read()
            for key in keys:
                data.get("entries", {}).pop(key, None)
                self.entries.pop(key, None)
            for image in superseded:
                data.get("superseded", {}).pop(image, None)
                self.superseded.pop(image, None)
            write_atomic(self.path, json.dumps(data, indent=0, sort_keys=True))

    def unreachable(self) -> set[str]:
        """Superseded images that no entry points at any more."""
        live = {entry["image"] for entry in self.entries.values()}
        return set(self.superseded) - live


def _index_shaped(data: object) -> bool:
    """Whether ``data`` reads as a layer index: entries (key -> {"image": id, ...}), slots, superseded."""
    if not isinstance(data, dict):
        return False
    entries, slots, superseded = data.get("entries", {}), data.get("slots", {}), data.get("superseded", {})
    return (
        isinstance(entries, dict)
        and all(isinstance(e, dict) and isinstance(e.get("image"), str) for e in entries.values())
        and isinstance(slots, dict)
        and all(isinstance(s, dict) for s in slots.values())
        and isinstance(superseded, dict)
        and all(isinstance(t, (int, float)) for t in superseded.values())
    )
