"""``shlax-front cache ls|du|prune``: the host package caches, the cached layers and the no-op records, under one
root.

The no-op records (``noop/<digest>.json``, written by ``backend.replay`` after each CLI build, one per working
directory and command line) pile up as directories and command lines change; ``du`` counts them and ``prune``
removes them. Removing one is always safe: a record is written whole (a temporary file renamed over it), a build
that finds none takes the normal path and writes it again; only the temporary files of a write in progress are
left alone (the next build deletes those a killed build left).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import click

from shlax_front.backend.hostcache import RECORDS_SUFFIX, records_directory
from shlax_front.errors import ShlaxError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str, option: str = "--older-than") -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` (or plain seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ShlaxError(f"{option} {text}: expected a number with s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def _root(cache_dir: str | None) -> Path:
    from shlax_front.backend.store import default_root

    return Path(cache_dir) if cache_dir else default_root()


def _caches(root: Path) -> list[Path]:
    """Every package cache directory (partitions included) under the root, then the Containerfiles' own
    ``RUN --mount=type=cache`` directories (``mounts/``)."""
    out = []
    base = root / "caches"
    if base.is_dir():
        for cache in sorted(base.iterdir()):
            if cache.name.endswith(RECORDS_SUFFIX):  # a cache's freshness records: listed and pruned with it
                continue
            if not cache.is_dir():  # a hand-over marker (hostcache): the next build that mounts it clears it
                continue
            parts = [
                p
                for p in sorted(cache.iterdir())
                if p.is_dir() and re.fullmatch(r"[\w.]+-[\w.]+-\w+", p.name)
            ]
            out += parts or [cache]
    mounts = root / "mounts"
    if mounts.is_dir():
        out += sorted(p for p in mounts.iterdir() if p.is_dir())
    return out


def _name(root: Path, cache: Path) -> str:
    """A cache as listed: ``apt-lists/debian-12-amd64`` under ``caches/``, ``mounts/<id>-<digest>``."""
    if cache.is_relative_to(root / "caches"):
        return str(cache.relative_to(root / "caches"))
    return str(cache.relative_to(root))


def _lock(root: Path, cache: Path) -> Path:
    """The lock a build holds while it uses ``cache`` (hostcache, cachemounts)."""
    if cache.parent == root / "mounts":
        return root / "locks" / f"mount-{cache.name}.lock"
    return root / "locks" / f"{cache.relative_to(root / 'caches').as_posix().replace('/', '-')}.lock"


def _size(path: Path) -> tuple[int, int, float]:
    """(bytes, files, newest mtime) under path."""
    total = files = 0
    newest = 0.0
    for p in path.rglob("*"):
        try:
            st = p.lstat()
        except OSError:
            continue
        if p.is_file():
            total += st.st_size
            files += 1
        newest = max(newest, st.st_mtime)
    return total, files, newest


def _noop_records(root: Path) -> list[Path]:
    """The no-op records under the root (never a record's temporary file: its writer is renaming it)."""
    from shlax_front.backend.replay import DIRECTORY

    directory = root / DIRECTORY
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith(".") and p.is_file())


def _records_size(records: list[Path]) -> tuple[int, float]:
    """(bytes, newest mtime) of the records (one removed meanwhile counts as nothing)."""
    total, newest = 0, 0.0
    for p in records:
        try:
            st = p.lstat()
        except OSError:
            continue
        total += st.st_size
        newest = max(newest, st.st_mtime)
    return total, newest


def _remove_records(records: list[Path], cutoff: float | None) -> int:
    """Delete the records (each still older than ``cutoff`` when one is given: a build may have written it
    again since it was listed); the bytes freed."""
    freed = 0
    for p in records:
        try:
            st = p.lstat()
            if cutoff is None or st.st_mtime < cutoff:
                p.unlink()
                freed += st.st_size
        except OSError:
            continue
    return freed


CACHE_EXAMPLES = """\b
Examples:
  shlax-front cache ls                  # package caches and cached layers
  shlax-front cache du                  # their size on disk
  shlax-front cache prune --dry-run     # what a prune would remove
  shlax-front cache prune --older-than 30d --force
"""


@click.group("cache", epilog=CACHE_EXAMPLES)
def cache_command() -> None:
    """Inspect and prune the host package caches and cached layers."""


@cache_command.command(
    "ls", epilog="\b\nExample:\n  shlax-front cache ls --json   # the root, its caches, each layer's step"
)
@click.option("--cache-dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def ls_command(cache_dir, as_json):
    """List package caches and cached layers."""
    from shlax_front.backend.store import LayerIndex

    root = _root(cache_dir)
    caches = [{"path": str(p), "name": _name(root, p)} for p in _caches(root)]
    index = LayerIndex(root).load(in_use=False)
    layers = [
        {"key": key, "image": e["image"], "step": e.get("step", ""), "created": e.get("created")}
        for key, e in sorted(index.entries.items(), key=lambda kv: kv[1].get("created", 0))
    ]
    if as_json:
        click.echo(json.dumps({"root": str(root), "caches": caches, "layers": layers}, indent=2))
        return
    click.echo(f"cache root: {root}")
    for c in caches:
        click.echo(f"  cache  {c['name']}")
    for layer in layers:
        click.echo(f"  layer  {layer['image'][:12]}  {layer['step'][:70]}")


@cache_command.command(
    "du", epilog="\b\nExample:\n  shlax-front cache du --json   # bytes and files per cache"
)
@click.option("--cache-dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def du_command(cache_dir, as_json):
    """Disk use of each package cache, and of the no-op records."""
    from shlax_front.backend.replay import DIRECTORY
    from shlax_front.progress.units import human

    root = _root(cache_dir)
    rows = []
    for p in _caches(root):
        size, files, _ = _size(p)
        rows.append({"name": _name(root, p), "bytes": size, "files": files})
    records = _noop_records(root)
    if records:
        rows.append(
            {
                "name": f"{DIRECTORY} (no-op records)",
                "bytes": _records_size(records)[0],
                "files": len(records),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{human(row['bytes']):>10}  {row['files']:>6} files  {row['name']}")
    click.echo(f"{human(sum(r['bytes'] for r in rows)):>10}  total  {root}")


PRUNE_EXAMPLES = """\b
Examples:
  shlax-front cache prune                    # asks first on a terminal
  shlax-front cache prune --dry-run          # what would go, and how much
  shlax-front cache prune --older-than 30d --force   # in a cron job
"""


@cache_command.command("prune", epilog=PRUNE_EXAMPLES)
@click.option("--cache-dir", type=click.Path(file_okay=False))
@click.option(
    "--older-than",
    "older_than",
    default=None,
    help="Only what is older than this (e.g. 30d): package caches not written to since, cached layers"
    " built before (a layer reused since still goes), no-op records written before.",
)
@click.option("-f", "--force", is_flag=True, help="Do not ask (a terminal is asked before anything goes).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed, and its size; remove nothing.")
def prune_command(cache_dir, older_than, force, dry_run):
    """Remove package caches, cached layers and no-op records (all, or those older than --older-than).

    On a terminal it says what it will remove and asks first (unless --force); it ends with what it freed."""
    from shlax_front.backend.store import file_lock
    from shlax_front.backend.userns import enter_user_namespace
    from shlax_front.progress.units import human

    argv = (click.get_current_context().obj or {}).get("argv")
    if argv is not None and not dry_run:  # an ordinary user: a cache a RUN owned as uid=N belongs to a
        enter_user_namespace(argv)  # subordinate id outside
    root = _root(cache_dir)
    cutoff = time.time() - parse_age(older_than) if older_than else None
    caches = {p: _size(p) for p in _caches(root)}
    doomed = [p for p, (_, _, newest) in caches.items() if cutoff is None or newest < cutoff]
    cache_bytes = sum(caches[p][0] for p in doomed)
    records = [p for p in _noop_records(root) if cutoff is None or _records_size([p])[1] < cutoff]
    record_bytes = _records_size(records)[0]
    index, stale, unreachable, listed, images = _doomed_layers(root, cutoff)
    what = (
        f"{len(doomed)} package caches ({human(cache_bytes)}), {len(stale) + len(unreachable)} cached "
        f"layers ({len(images)} images) and {len(records)} no-op records ({human(record_bytes)}) from {root}"
    )
    if dry_run:
        for p in doomed:
            click.echo(f"cache  {human(caches[p][0]):>10}  {_name(root, p)}")
        for image in images:
            click.echo(f"layer  {image[:12]}  {_step_of(index, image)[:70]}")
        if records:
            click.echo(f"noop   {human(record_bytes):>10}  {len(records)} records")
        click.echo(f"would remove {what}", err=True)
        return
    if not (doomed or stale or unreachable or records):
        click.echo(f"nothing to remove in {root}", err=True)
        return
    if not force and _interactive() and not click.confirm(f"remove {what}?", err=True):
        click.echo("nothing removed", err=True)
        raise SystemExit(1)
    freed = _remove_caches(root, doomed, cutoff)
    records_freed = _remove_records(records, cutoff)
    # no build between its finding a layer cached and its container of it (store.LayerIndex.hold_images)
    with file_lock(index.images_lock_path, waiting=lambda line: click.echo(line, err=True)):
        if stale or unreachable:  # read again: the builds waited for may have recorded layers meanwhile
            index, stale, unreachable, listed, images = _doomed_layers(root, cutoff)
        if images:
            kept = {e["image"] for k, e in index.entries.items() if k not in stale} - set(images)
            _remove_images(images, {i for i in kept if i[:12] in listed and not listed[i[:12]].get("names")})
        left = _listed_images()
        gone = [image for image in images if image[:12] not in left]
        # an entry whose image stays (a build's container uses it) is kept: the next prune tries again
        still = {i for i in images if i[:12] in left}
        index.forget({k for k in stale if index.entries[k]["image"] not in still}, unreachable - still)
    click.echo(
        f"removed {len(doomed)} package caches, {len(stale) + len(unreachable)} cached layers and "
        f"{len(records)} no-op records from {root}: freed {human(freed)} of package caches, {len(gone)} layer "
        f"images and {human(records_freed)} of no-op records",
        err=True,
    )


def _doomed_layers(root: Path, cutoff: float | None):
    """(index, stale keys, unreachable images, the store's listing, the images to remove): the entries older
    than ``cutoff`` (all without one) and the images no key reaches; an image someone tagged stays (its tag is
    theirs)."""
    from shlax_front.backend.store import LayerIndex

    index = LayerIndex(root).load(in_use=False)
    stale = {k for k, e in index.entries.items() if cutoff is None or e.get("created", 0) < cutoff}
    unreachable = index.unreachable()  # replaced by a rebuild of the same key: never reusable, always pruned
    listed = _listed_images()
    candidates = {index.entries[k]["image"] for k in stale} | unreachable
    images = sorted(image for image in candidates if not listed.get(image[:12], {}).get("names"))
    return index, stale, unreachable, listed, images


def _step_of(index, image: str) -> str:
    """The step an image was committed for, as the index recorded it."""
    return next((e.get("step", "") for e in index.entries.values() if e["image"] == image), "(replaced)")


def _interactive() -> bool:
    """Whether a person is there to answer (stdin and stderr on a terminal)."""
    import sys

    return sys.stdin.isatty() and sys.stderr.isatty()


def _remove_caches(root: Path, doomed: list[Path], cutoff: float | None) -> int:
    """Delete the caches (each under the lock a build holds on it, still unused since ``cutoff`` when one is
    given); the bytes freed."""
    from shlax_front.backend.store import file_lock

    freed = 0
    for p in doomed:
        with file_lock(_lock(root, p)):
            size, _, newest = _size(p)
            if cutoff is None or newest < cutoff:  # a build may have used it since it was listed
                shutil.rmtree(p, ignore_errors=True)
                shutil.rmtree(records_directory(p), ignore_errors=True)
                freed += size
    return freed


def _remove_images(images: list[str], kept: set[str]) -> None:
    """``buildah rmi`` of the pruned layer images, the unnamed images of the entries that stay kept.

    ``buildah rmi`` also removes the parent of an image it removes when nothing names it and no other image
    descends from it, and so on down: pruning a layer alone (its entry older than ``--older-than``) took the
    layers under it, which the index still points at, with it (the next build built them again). A working
    container keeps its image, and so every image under it: each kept image that may lie under a pruned one
    gets one for the removal (``WorkingContainers``: a prune killed meanwhile leaves them to the next build's
    sweep)."""
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.containers import WorkingContainers
    from shlax_front.backend.runner import SubprocessRunner

    buildah = Buildah(SubprocessRunner())
    work = WorkingContainers(buildah)
    try:
        if kept:
            layers = {image: _diff_ids(buildah, image) for image in [*images, *sorted(kept)]}
            for image in sorted(kept):
                if any(under(layers[image], layers[pruned]) for pruned in images):
                    work.create(image)
        buildah.rmi(images, force=False)
    finally:
        work.cleanup()


def _diff_ids(buildah, image: str) -> list[str] | None:
    """The layers of ``image`` (its config's diff ids), None when it cannot be read."""
    info = buildah.inspect_image(image) or {}
    ids = ((info.get("OCIv1") or {}).get("rootfs") or {}).get("diff_ids")
    return list(ids) if isinstance(ids, list) else None


def under(lower: list[str] | None, upper: list[str] | None) -> bool:
    """Whether an image of layers ``lower`` may be an ancestor of one of layers ``upper``, as ``buildah rmi``
    finds parents: its layers begin the other's (the same layers too: a child may add only empty history
    entries). When either cannot be read, it may."""
    if lower is None or upper is None:
        return True
    return len(lower) <= len(upper) and upper[: len(lower)] == lower


def _listed_images() -> dict[str, dict]:
    """Short id -> ``buildah images --json`` entry (names, size) of every image in the store."""
    import subprocess

    out = subprocess.run(["buildah", "images", "--all", "--json"], capture_output=True, text=True)
    try:
        listed = json.loads(out.stdout or "[]") or []  # an empty store lists as "null"
    except json.JSONDecodeError:
        return {}
    return {image["id"][:12]: image for image in listed}


def _named_images() -> set[str]:
    """Short ids of the images that have a name (someone tagged them)."""
    return {short for short, image in _listed_images().items() if image.get("names")}
