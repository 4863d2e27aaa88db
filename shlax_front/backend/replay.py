"""A no-op rebuild finished from the record of the last build, without the parser, the planner or the executor.

Why: a rebuild where nothing changed reuses every layer, yet the normal path still imports and runs the whole
front end (parser, instruction classes, scope, lowering, package managers, planner) and walks the context: about
0.6 s where ``buildah bud --layers`` takes 0.8 s. What that path computes is a function of its inputs; when none
of them changed since a build that succeeded, it gives the same image again. So a successful build writes down
what it depended on, and the next ``build`` with the same command line checks those inputs first (stats, one
small JSON file, the layer index, one ``buildah images``) and, when all hold, writes ``--iidfile``, applies the
``-t`` names the image lacks and shows every step as the no-op would, importing none of the above.

The record (``CACHE/noop/<sha256 of cwd and argv>.json``, one per command line and working directory, written
whole; a damaged one counts as absent) holds:

- a digest of the command line and the working directory (never the words themselves: a ``--build-arg`` value
  may be a secret, and the layer index keeps only digests of those too); a digest of the environment (every variable but the
  few listed in ``IGNORED_ENV``: ``--build-arg NAME`` reads it, and buildah, the storage, the cache root and
  the proxies are configured through it) and of the user ids;
- ``lstat`` signatures (size, mtime, ctime, inode, device, mode; ``stat`` too for a symlink) of every path the
  build's context walk looked at (``context.BuildContext.visited``: files read, directories listed, names
  probed and found absent), of the Containerfile and the names tried to find it, the ignore files tried, the
  files the flags name (``-v`` sources, ``--authfile``, the CA bundle); and the real path of each bind-mount
  source;
- the buildah binary (path and stat) and shlax-front's code (the stats of the package's files, of the
  ``sys.path`` directories, which an install or upgrade of a dependency changes, and the interpreter);
- every image read from the store by name (FROM, ``COPY --from``, ``RUN --mount from=``) with the id it was;
  every cache key the build found or committed with its image (``Executor.reached``); the final image, the
  ``-t`` names as buildah spells them, and each step as a no-op shows it (an ``ENV``/``LABEL`` shows its
  expanded value, which the image's config holds anyway; a ``RUN`` shows its text as written).

A late edit (``late_edit``): for a one-stage build, the record also keeps the steps after the last RUN (COPY of
context files, config steps), where the executor stood when they began, and the paths only they read, apart from
the others. When every other input holds and only those paths changed, those steps are redone with the
executor's rules (keys, layer index, the image's layers, history and config as the normal path makes them) and
the record is written anew. Such a path changed just before the build (the racy rule below) keeps the record,
since a late edit reads it again, but makes it no no-op.

A stat signature stands for the content only when the file was last changed well before the build read it
(``statcache``'s racy rule): a path whose mtime or ctime is less than ``RACY_SECONDS`` older than the start of
the recorded build makes the build write no record (the next build takes the normal path and records then).

Used only when, this time: every field above is equal, the layer index still maps each key to the same image,
the listing shows every such image, the final image, and each named image under a name that can only mean it
(``imagecache.listed_image``). Anything else, or any error, is the normal path, which is always right and writes
a new record. Never recorded (the normal path every time): ``--no-cache``, ``--pull`` other than missing or
never, ``--explain``, ``-o``, ``--push``, ``--cache-from``/``--cache-to``, ``--secret``, ``--ssh``,
``--build-context``, a context or Containerfile on stdin, a Python recipe, an ``ADD`` of a URL, a base image
that was not found, a build that logged a warning (it would not be said again), a build whose record would hold a
``--build-arg`` value of 4 characters or more (an ARG expanded into a COPY's sources, an ENV or a LABEL), a
library call (no command line).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

#: the layout of a record; another number is read as absent
FORMAT = 2
#: variables that change between shells and terminals and cannot change what a build makes
IGNORED_ENV = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLUMNS", "LINES"})
#: where the records live under the cache root
DIRECTORY = "noop"
#: the executor's pull policies with which an image present in the store is used as it is
STORE_ONLY_PULLS = ("missing", "never")

Signature = list[int]
#: ``stale_reason`` when every input holds but files only the steps after the last RUN read (``late_edit``)
LATE_FILES = "files copied after the last RUN"


def signature(path: str, follow: bool = False) -> Signature | None:
    """(size, mtime, ctime, inode, device, mode) of ``path`` (``follow``: of what a symlink points at), None when
    there is nothing there."""
    # imported here, with the store's helpers, once the store's listing runs (``attempt``)
    from shlax_front.backend.statcache import stat_signature

    try:
        st = os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        return None
    return stat_signature(st)


def path_entry(path: str, follow: bool = False) -> list[Any]:
    """``[path, follow, lstat signature, stat signature]``: the stat signature for a symlink, or for a path read
    through its symlinks (``follow``), so that what a link leads to is covered too."""
    own = signature(path)
    is_link = own is not None and (own[5] & 0o170000) == 0o120000
    return [path, follow, own, signature(path, follow=True) if (is_link or follow) else None]


def command_digest(argv: Sequence[str], cwd: str) -> str:
    """One digest over the command line and the directory it ran in: what the record keeps of them."""
    key = json.dumps([cwd, list(argv)]).encode("utf-8", "surrogateescape")
    return hashlib.sha256(key).hexdigest()


def record_path(root: Path, argv: Sequence[str], cwd: str) -> Path:
    """The record of this command line run in ``cwd``."""
    return root / DIRECTORY / (command_digest(argv, cwd)[:32] + ".json")


def environment_digest(environ: Mapping[str, str]) -> str:
    """One digest over the variables that may matter and the user ids (never a value stored as it is)."""
    kept = sorted((name, value) for name, value in environ.items() if name not in IGNORED_ENV)
    ids = [os.getuid(), os.geteuid(), os.getgid(), os.getegid()]
    data = json.dumps([kept, ids]).encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


def code_entries() -> list[list[Any]]:
    """The stat signatures of shlax-front's files, of the directories Python imports from (an install, an
    upgrade or a removal of a package changes its site-packages directory) and of the interpreter.

    The working directory, on the path when the tool runs as ``python -m shlax_front``, is covered by the
    modules it could hold instead (``_importable``): its stat changes with every file made or removed there
    (a log, an editor's save), which would cost each later build its fast path for nothing."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    entries: list[list[Any]] = [[path, signature(path)] for path in _files_below(package)]
    cwd = _cwd()
    for path in sys.path:
        if path:
            entries.append(
                [path, {"importable": _importable(path)} if path == cwd else signature(path, follow=True)]
            )
    entries.append([sys.executable, signature(sys.executable, follow=True)])
    return entries


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _importable(directory: str) -> list[str]:
    """What an import could find in ``directory`` before the installed packages: its modules (source, bytecode,
    extensions) and its regular packages (with an ``__init__``), by name. A directory without ``__init__`` is a
    namespace package, which an installed module of the same name wins over: not counted."""
    from importlib.machinery import all_suffixes

    suffixes = tuple(all_suffixes())
    names = []
    with contextlib.suppress(OSError), os.scandir(directory) as it:
        for entry in it:
            if entry.name.endswith(suffixes) or (
                entry.is_dir()
                and any(os.path.exists(os.path.join(entry.path, "__init__" + s)) for s in suffixes)
            ):
                names.append(entry.name)
    return sorted(names)


def _files_below(top: str) -> Iterator[str]:
    yield top
    with contextlib.suppress(OSError), os.scandir(top) as it:
        for entry in sorted(it, key=lambda e: e.name):
            if entry.name == "__pycache__":
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _files_below(entry.path)
            else:
                yield entry.path


def code_digest(entries: list[list[Any]]) -> str:
    return hashlib.sha256(json.dumps([sys.version, entries]).encode("utf-8", "surrogateescape")).hexdigest()


def buildah_binary(environ: Mapping[str, str]) -> list[Any]:
    """The buildah this build runs (the first on ``PATH``), with its stat: an upgrade changes it."""
    import shutil

    found = shutil.which("buildah", path=environ.get("PATH", os.defpath)) or ""
    return [found, signature(found, follow=True) if found else None]


def cache_root(cache_dir: str | None) -> Path:
    from shlax_front.backend.store import default_root

    return Path(cache_dir) if cache_dir else default_root()


# -- the fast path ------------------------------------------------------------------------------------------------


class Replayed:
    """A build finished from its record: the image, and each step as the no-op shows it."""

    def __init__(self, image: str, steps: list[list[Any]], began: float):
        self.image = image
        self.steps = steps
        self.began = began

    def run(self, request: Any, on_start: Any = None, on_output: Any = None, on_step: Any = None) -> Any:
        """The steps told to the progress callbacks as the executor tells a no-op's (a FROM starts, then ends;
        a reused step only ends), and the ``BuildResult``: ``progress.options.build_with_progress``'s ``run``."""
        from shlax_front.backend.result import BuildResult, StepRecord, StepStart
        from shlax_front.backend.steps import Location

        records = []
        for stage, instruction, path, line, status, *reason in self.steps:
            where = Location(path, line)
            if status in ("from", "built") and on_start is not None:
                on_start(StepStart(stage, instruction, where))
            record = StepRecord(stage, instruction, where, status, 0.0, *reason)
            records.append(record)
            if on_step is not None:
                on_step(record)
        return BuildResult(self.image, tuple(records), time.monotonic() - self.began)


def attempt(
    argv: Sequence[str],
    cache_dir: str | None,
    iidfile: str | None,
    environ: Mapping[str, str] = os.environ,
    meanwhile: Callable[[], object] | None = None,
) -> Replayed | None:
    """Finish this build from its record when every input it names is unchanged (see the module docstring):
    the image is tagged and ``--iidfile`` written. None: take the normal path. ``meanwhile``: called while the
    store's listing runs (imports what showing the build needs)."""
    began = time.monotonic()
    head = None
    try:
        root = cache_root(cache_dir)
        cwd = os.getcwd()
        record = load(record_path(root, argv, cwd))
        if record is None:
            return None
        buildah = str(record["buildah"][0])
        listing: dict[str, set[str]] = {}
        with contextlib.ExitStack() as late:
            with ImageListing(buildah) as images:  # runs while the inputs are checked
                late_files = _late_files_changed(record)
                if meanwhile is not None:
                    meanwhile()

                def listed() -> dict[str, set[str]] | None:
                    """The listing, once every input but the store's held: a late edit is then all but sure, and
                    its first container is made while the listing is awaited and checked (``late_edit.Head``;
                    removed by ``close`` whatever happens, SIGTERM/SIGHUP too, as the normal path's)."""
                    nonlocal head
                    if late_files:
                        from shlax_front.backend import late_edit
                        from shlax_front.backend.interrupts import signals_as_interrupt

                        late.enter_context(signals_as_interrupt())
                        head = late_edit.Head.start(record.get("tail"))
                        if head is not None:
                            late.callback(head.close)
                        late_edit.import_what_redo_needs()
                    return images()

                reason = stale_reason(record, argv, cwd, environ, root, listed, listing)
            if reason == LATE_FILES:
                redone = _late_edit(record, root, listing, record_path(root, argv, cwd), head)
            if head is not None:
                head.close()  # not taken: removed before a normal path builds
        steps = record["steps"]
        if reason == LATE_FILES:
            if redone is None:
                return None
            image, steps = redone
        elif reason is not None:
            return None
        else:
            image = record["image"]
        names = [tag for tag, normalized in record["tags"] if normalized not in listing.get(image, ())]
        if names and not run_buildah(buildah, "tag", image, *names):
            return None
        if iidfile:
            with open(iidfile, "w") as f:
                f.write(f"sha256:{image}")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return Replayed(image, steps, began)


def _late_edit(
    record: dict[str, Any], root: Path, listing: dict[str, set[str]], path: Path, head: Any = None
) -> tuple[str, list[list[Any]]] | None:
    """Redo the record's tail (``late_edit``): only files the steps after the last RUN copy changed. The final
    image and the steps as the build shows them (``listing`` learns the image's name), and the record written
    for the next build; None: the normal path builds. ``head``: its first container, made meanwhile
    (``late_edit.Head``)."""
    from shlax_front.backend import late_edit

    stamp = time.time()
    tail = record["tail"]
    name = record["tags"][0][1] if record["tags"] else None
    from shlax_front.backend.interrupts import signals_as_interrupt

    try:
        with signals_as_interrupt():  # its containers are removed on SIGTERM/SIGHUP too, as the normal path's
            redone, context = late_edit.redo(tail, root, listing, name, head=head)
    except (late_edit.NotRedone, OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if redone.named:
        listing[redone.image] = {redone.named}
    kept = len(record["steps"]) - len(redone.rows)
    steps = [list(row) for row in record["steps"][:kept]] + redone.rows
    _write_after_late_edit(record, path, redone, context, steps, stamp)
    return redone.image, steps


def _write_after_late_edit(
    record: dict[str, Any], path: Path, redone: Any, context: Any, steps: list[list[Any]], stamp: float
) -> None:
    """The record of the build just finished by a late edit: the normal path's would differ only by the tail's
    paths, keys and steps and the final image (every other input was checked equal to the last record's)."""
    from shlax_front.backend.store import CacheDirError, write_atomic

    tail = dict(record["tail"])
    others = {entry[0] for entry in record["paths"]}
    tail["paths"] = [path_entry(p) for p in sorted(context.visited - others)]
    tail["racy"] = _any_racy(tail["paths"], stamp)
    layers = {key: image for key, image in record["layers"].items() if key not in set(tail["keys"])}
    layers.update(redone.reached)
    tail["keys"] = sorted(redone.reached)
    view = noop_rows(steps)
    written = {
        **record,
        "tail": tail,
        "layers": layers,
        "image": redone.image,
        "steps": view,
        "recorded": stamp,
    }
    with contextlib.suppress(OSError, CacheDirError):
        write_atomic(path, json.dumps(written, separators=(",", ":")))


def finish(
    argv: Sequence[str],
    cache_dir: str | None,
    iidfile: str | None,
    *,
    progress: str | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
    no_color: bool,
) -> bool:
    """``build``'s fast path: True when the build was finished from its record (``attempt``) and shown as the
    flags ask, as a no-op is shown: the image id only for ``-q`` (nothing else imported), else through the
    progress renderers with every step as the executor reports a reused one."""
    if tuple(argv) in TRIED_EARLY:  # already tried before the command line was read: the normal path
        return False
    only_id = not as_json and (progress == "quiet" or (progress is None and quiet))
    done = attempt(argv, cache_dir, iidfile, meanwhile=None if only_id else _import_the_progress_view)
    if done is None:
        return False
    if only_id:
        print(done.image, flush=True)
        return True
    from types import SimpleNamespace

    from shlax_front.progress.options import build_with_progress

    shown = {"quiet": quiet, "as_json": as_json, "verbose": verbose, "no_color": no_color, "explain": False}
    build_with_progress(SimpleNamespace(cache_dir=cache_dir), done.run, progress=progress, **shown)
    return True


#: ``build``'s options as ``early_options`` reads them (``commands/build.py`` defines them; a unit test checks
#: that both agree): those that take the next word as their value, and those that take none
VALUE_OPTIONS = frozenset(
    {
        "--file", "--tag", "--build-arg", "--target", "--secret", "--format", "--isolation", "--cache-dir",
        "--lists-ttl", "--ca-bundle", "--label", "--annotation", "--iidfile", "--network", "--add-host",
        "--ulimit", "--shm-size", "--volume", "--timestamp", "--platform", "--retry", "--retry-delay",
        "--build-context", "--ssh", "--output", "--jobs", "--progress", "--cache-from", "--cache-to",
        "--authfile", "--creds", "--cap-add", "--cap-drop", "--security-opt", "--device", "--dns",
        "--dns-search", "--dns-option", "--memory", "--memory-swap", "--cpu-shares", "--cpu-period",
        "--cpu-quota", "--cpuset-cpus", "--cpuset-mems", "--cgroup-parent", "--os", "--arch", "--variant",
        "--userns", "--cgroupns", "--ipc", "--pid", "--uts", "--logfile", "--ignorefile",
    }
)  # fmt: skip
FLAG_OPTIONS = frozenset(
    {
        "--no-cache", "--offline", "--incremental", "--no-incremental", "--explain", "--quiet", "--json",
        "--verbose", "--no-color", "--push",
    }
)  # fmt: skip
#: alone they take no value (``--pull`` means ``--pull=true``, as bud reads it); a value only after ``=``
BARE_OPTIONS = frozenset(
    {
        "--pull", "--tls-verify", "--http-proxy", "--layers", "--rm", "--force-rm", "--disable-compression",
        "--disable-content-trust", "--compress", "--skip-unused-stages",
    }
)  # fmt: skip
SHORT_OPTIONS = {
    "-f": "--file", "-t": "--tag", "-v": "--volume", "-o": "--output", "-q": "--quiet", "-m": "--memory",
    "-c": "--cpu-shares", "-D": "--disable-compression",
}  # fmt: skip
#: command lines ``finish_early`` tried in this process: ``finish`` does not try them twice
TRIED_EARLY: set[tuple[str, ...]] = set()


def early_options(args: Sequence[str]) -> dict[str, Any] | None:
    """The options ``finish`` needs, read from a ``build`` command line without click (``finish_early``);
    None when the line holds anything this reading is not sure to read as click does (an unknown or clustered
    option, ``--``, ``-`` for stdin, a value that looks like an option, a second CONTEXT, help): the command
    line then reads it. Values are not checked: a record exists only for a command line that built."""
    if not args or args[0] != "build":
        return None
    found: dict[str, Any] = {}
    context = None
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        name = SHORT_OPTIONS.get(name, name)
        if equals and (name in VALUE_OPTIONS or name in BARE_OPTIONS):
            found[name] = value
        elif equals:
            return None
        elif name in FLAG_OPTIONS or name in BARE_OPTIONS:
            found[name] = True
        elif name in VALUE_OPTIONS:
            if not rest or rest[0].startswith("-"):
                return None
            found[name] = rest.pop(0)
        elif arg.startswith("-") or context is not None:
            return None
        else:
            context = arg
    return {
        "context": context or ".",
        "containerfile": found.get("--file"),
        "cache_dir": found.get("--cache-dir"),
        "iidfile": found.get("--iidfile"),
        "progress": found.get("--progress"),
        "quiet": bool(found.get("--quiet")),
        "as_json": bool(found.get("--json")),
        "verbose": bool(found.get("--verbose")),
        "no_color": bool(found.get("--no-color")),
    }


def finish_early(args: Sequence[str]) -> bool:
    """``python -m shlax_front``'s first try: a ``build`` finished from its record (``finish``) before click and
    the command line are imported (about 50 ms). False: anything else, or any doubt (``early_options``, a build
    that must enter buildah's user namespace first), and the command line runs as always."""
    options = early_options(args)
    if options is None or "-" in (options["context"], options["containerfile"]):
        return False
    from shlax_front.backend.userns import needs_user_namespace

    if needs_user_namespace():
        return False
    done = finish(
        list(args),
        options["cache_dir"],
        options["iidfile"],
        progress=options["progress"],
        quiet=options["quiet"],
        as_json=options["as_json"],
        verbose=options["verbose"],
        no_color=options["no_color"],
    )
    if not done:
        TRIED_EARLY.add(tuple(args))
    return done


def _import_the_progress_view() -> None:
    from shlax_front.progress import options, session  # noqa: F401


def load(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; None when missing, damaged or of another format."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8", "surrogateescape"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not _shaped(data):
        return None
    return data


def _shaped(data: dict[str, Any]) -> bool:
    """Whether ``data`` has every field a record has, of the type ``Recorder`` writes: anything else is damage
    (counted as no record), never a half-done replay."""

    def rows(value: Any, *types: type | tuple[type, ...]) -> bool:
        return isinstance(value, list) and all(
            isinstance(row, list)
            and len(row) == len(types)
            and all(isinstance(v, t) for v, t in zip(row, types, strict=True))
            for row in value
        )

    fields = {"command": str, "env": str, "code": str, "image": str, "images": dict, "layers": dict}
    return (
        all(isinstance(data.get(name), kind) for name, kind in fields.items())
        and rows([data.get("buildah")], str, (list, type(None)))
        and rows(data.get("paths"), str, bool, (list, type(None)), (list, type(None)))
        and rows(data.get("realpaths"), str, str)
        and rows(data.get("tags"), str, (str, type(None)))
        and rows(data.get("steps"), str, str, str, int, str)
        and all(row[4] in ("from", "cached", "config") for row in data["steps"])
    )


def stale_reason(
    record: dict[str, Any],
    argv: Sequence[str],
    cwd: str,
    environ: Mapping[str, str],
    root: Path,
    images: Callable[[], dict[str, set[str]] | None],
    listing: dict[str, set[str]] | None = None,
) -> str | None:
    """Why ``record`` does not stand for this build (the first input found changed), or None when it does;
    ``images`` lists the store (called last, once: it is a buildah call), and ``listing`` gets what it said.
    Cheapest checks first."""
    if record.get("command") != command_digest(argv, cwd):
        return "command line"
    if record.get("env") != environment_digest(environ):
        return "environment"
    if record.get("buildah") != buildah_binary(environ):
        return "buildah binary"
    if record.get("code") != code_digest(code_entries()):
        return "shlax-front code"
    for entry in record["paths"]:
        if path_entry(entry[0], bool(entry[1])) != entry:
            return f"file {entry[0]}"
    for host, real in record["realpaths"]:
        if os.path.realpath(host) != real:
            return f"file {host}"
    from shlax_front.backend.imagecache import listed_image
    from shlax_front.backend.store import RefusedError, check_trusted

    try:
        check_trusted(root)  # a record others could write is not trusted (the normal path says why)
    except RefusedError:
        return "cache directory"
    entries = layer_entries(root)
    if entries is None or any(entries.get(key) != image for key, image in record["layers"].items()):
        return "layer index"
    listed = images()
    if listed is None:
        return "image listing"
    wanted = [record["image"], *record["layers"].values()]
    if any(image not in listed for image in wanted):
        return "image removed"
    for ref, image in record["images"].items():
        bare = ref.removeprefix("sha256:")
        found = (bare if bare in listed else None) if _is_image_id(ref) else listed_image(ref, listed)
        if found != image:
            return f"image {ref}"
    if listing is not None:
        listing.update(listed)
    tail = record.get("tail")
    if tail is not None:
        from shlax_front.backend.late_edit import shaped

        if not shaped(tail):
            return "record"
        if tail.get("racy") or any(path_entry(e[0], bool(e[1])) != e for e in tail["paths"]):
            return LATE_FILES
    return None


def _is_image_id(ref: str) -> bool:
    bare = ref.removeprefix("sha256:")
    return len(bare) == 64 and all(c in "0123456789abcdef" for c in bare)


def layer_entries(root: Path) -> dict[str, str] | None:
    """The layer index's key -> image id (read without its lock: it is replaced whole), None when unreadable."""
    try:
        data = json.loads((root / "layers" / "index.json").read_bytes().decode("utf-8"))
        return {key: entry["image"] for key, entry in data["entries"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class ImageListing:
    """``buildah images`` started at once and read when asked (``list_images``' answer): the process runs while
    the record's inputs are checked. Stopped on leaving the ``with`` block when not read."""

    def __init__(self, buildah: str):
        import subprocess

        from shlax_front.backend.imagecache import IMAGE_LISTING

        self.buildah = buildah
        try:
            self.process: Any = subprocess.Popen(
                [buildah, *IMAGE_LISTING], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        except OSError:
            self.process = None

    def __call__(self) -> dict[str, set[str]] | None:
        from shlax_front.backend.imagecache import image_names

        if self.process is None:
            return None
        out, _ = self.process.communicate()
        if self.process.returncode == 0:
            return image_names(out)
        # as ``Buildah.image_names``: the listing fails as a whole when another build removes an image meanwhile
        for attempt in range(3):
            time.sleep(0.05 * (attempt + 1))
            listed = list_images(self.buildah)
            if listed is not None:
                return listed
        return None

    def __enter__(self) -> ImageListing:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:  # not read: not needed
            self.process.kill()
            self.process.communicate()


def _late_files_changed(record: dict[str, Any]) -> bool:
    """Whether the record's tail paths (``late_edit``) changed: a late edit is then likely."""
    tail = record.get("tail")
    if not isinstance(tail, dict) or not isinstance(tail.get("paths"), list):
        return False
    return bool(tail.get("racy")) or any(
        isinstance(e, list) and len(e) == 4 and path_entry(str(e[0]), bool(e[1])) != e for e in tail["paths"]
    )


def list_images(buildah: str) -> dict[str, set[str]] | None:
    """Image id -> names, as ``Buildah.image_names`` reads ``buildah images`` (None when it fails: a concurrent
    removal, which the normal path asks again about)."""
    import subprocess

    from shlax_front.backend.imagecache import IMAGE_LISTING, image_names

    try:
        done = subprocess.run([buildah, *IMAGE_LISTING], capture_output=True, text=True)
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return image_names(done.stdout)


def run_buildah(buildah: str, *args: str) -> bool:
    import subprocess

    try:
        return subprocess.run([buildah, *args], capture_output=True).returncode == 0
    except OSError:
        return False


# -- the record -----------------------------------------------------------------------------------------------------


class Recorder:
    """What the normal path of one ``build`` command read, written as the next run's record once it succeeded.

    Made by the command line before the build (``stamp``: before any input is read); the build hands over what
    it read at its end (``collect``, from ``api.run_request``); the command line writes it after the build
    succeeded (``write``). Warnings logged meanwhile make the build ineligible (``watching``).
    """

    def __init__(self, argv: Sequence[str], cache_dir: str | None, environ: Mapping[str, str] = os.environ):
        self.argv = list(argv)
        self.cache_dir = cache_dir
        self.environ = environ
        self.cwd = os.getcwd()
        self.stamp = time.time()
        self.record: dict[str, Any] | None = None
        self.warned = False

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Notice any warning the library logs during the build (a replay would not say it again)."""
        recorder = self

        class Noticer(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                recorder.warned = True

        handler = Noticer(logging.WARNING)
        logger = logging.getLogger("shlax_front")
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)

    def collect(
        self,
        request: Any,
        containerfile: str,
        context: Any,
        options: Any,
        inspected: Mapping[str, dict[str, Any] | None],
        reached: Mapping[str, str],
        result: Any,
        tail: dict[str, Any] | None = None,
    ) -> None:
        """Note what the build that just ended read; nothing when it is of a kind never recorded. ``tail``: where
        the executor's final steps began (``late_edit``), kept when a late edit can redo them."""
        if not eligible(request, containerfile, options, inspected, result):
            return
        from shlax_front.backend.buildah import normalized_name

        named = set(_files_named(request, containerfile, options))
        if tail is not None:
            from shlax_front.backend.context import IGNORE_FILES
            from shlax_front.backend.late_edit import finished_tail

            ignore = [os.path.join(context.root, name) for name in IGNORE_FILES]
            if context.containerfile:
                ignore += [
                    context.containerfile + ".dockerignore",
                    context.containerfile + ".containerignore",
                ]
            tail = finished_tail(tail, context.visited, named | set(ignore), reached)
        visited = set(context.visited) - set(tail["paths"] if tail else ())
        paths = [path_entry(p) for p in sorted(visited)]
        paths += [path_entry(p, follow=True) for p in sorted(named)]
        self.record = {
            "format": FORMAT,
            "command": command_digest(self.argv, self.cwd),
            "env": environment_digest(self.environ),
            "buildah": buildah_binary(self.environ),
            "_code": code_entries(),
            "paths": paths,
            "realpaths": sorted([host, real] for host, real in context.resolved.items()),
            "images": {ref: _image_id(info) for ref, info in inspected.items() if info},
            "layers": dict(reached),
            "image": result.image,
            "tags": [[tag, normalized_name(tag)] for tag in options.tags],
            "steps": noop_view(result.steps),
            "recorded": self.stamp,
        }
        if tail is not None:
            tail["paths"] = [path_entry(p) for p in tail["paths"]]
            self.record["tail"] = tail
        if _holds_a_build_arg(self.record, request):
            self.record = None

    def write(self) -> None:
        """Write the record collected (or remove the old one: it may stand for inputs that changed meanwhile)."""
        from shlax_front.backend.store import CacheDirError, write_atomic

        with contextlib.suppress(OSError, CacheDirError):
            path = record_path(cache_root(self.cache_dir), self.argv, self.cwd)
            record = self.record
            if record is None or self.warned or _racy(record, self.stamp):
                path.unlink(missing_ok=True)
                return
            tail = record.get("tail")
            if tail is not None:  # its files are hashed again by a late edit: racy only for a no-op
                tail["racy"] = _any_racy(tail["paths"], self.stamp)
            code = record.pop("_code")
            record["code"] = code_digest(code)
            write_atomic(path, json.dumps(record, separators=(",", ":")))


def _holds_a_build_arg(record: dict[str, Any], request: Any) -> bool:
    """Whether a ``--build-arg`` value (of 4 characters or more: shorter ones are no secret and would match
    anything) appears in the record: an ARG expanded into a COPY's sources (its paths, its step, the tail's) or into
    an ENV or LABEL the steps show. Such a build is not recorded (nothing under the cache directory may hold a build
    arg's value: the layer index keeps digests only); it takes the normal path every time.

    Only the record's words are looked at: its numbers (stat fields), booleans and hex digests (keys, image
    ids) are no place a value can be expanded into, and a common value (``UID=1000``, ``DEBUG=true``) would be
    found in them by chance."""
    words = [word for word in _words(record) if not HEX_DIGEST.fullmatch(word)]
    values = [value for value in (getattr(request, "build_args", None) or {}).values() if len(value) >= 4]
    return any(value in word for value in values for word in words)


#: a digest or an image id, as the record keeps them (a build arg's value is never expanded into one)
HEX_DIGEST = re.compile(r"(?:sha256:)?[0-9a-f]{32,64}")


def _words(value: Any) -> Iterator[str]:
    """Every string of a JSON-shaped ``value``, dictionary keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _words(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _words(item)


def eligible(
    request: Any,
    containerfile: str,
    options: Any,
    inspected: Mapping[str, dict[str, Any] | None],
    result: Any,
) -> bool:
    """Whether a build of this kind may be finished from its record next time (see the module docstring)."""
    if (
        request.no_cache
        or request.explain
        or request.output
        or request.push
        or request.cache_from
        or request.cache_to
        or request.secrets
        or request.ssh
        or request.build_contexts
        or options.build_contexts
        or options.pull not in STORE_ONLY_PULLS
        or containerfile.endswith(".py")
    ):
        return False
    if any(info is None for info in inspected.values()):
        return False  # an image that was not there: what a name stands for is not known
    return not any(_downloads(record.instruction) for record in result.steps)


def _image_id(info: dict[str, Any]) -> str:
    return str(info["FromImageID"]).removeprefix("sha256:")


def _downloads(instruction: str) -> bool:
    """An ``ADD`` of a URL or a git source: what it reads may change at any time."""
    words = instruction.split()
    return (
        bool(words) and words[0].upper() == "ADD" and any("://" in w or w.startswith("git@") for w in words)
    )


def _files_named(request: Any, containerfile: str, options: Any) -> Iterator[str]:
    """Files outside the walk whose presence or content the normal path depends on: the Containerfile (and the
    names tried before it), the files the flags name."""
    yield os.path.abspath(containerfile)
    if request.containerfile and request.containerfile != "-" and not os.path.isabs(request.containerfile):
        yield os.path.abspath(request.containerfile)  # -f's name from here, tried before the context's (bud)
    if not request.containerfile:
        for name in ("Containerfile", "Dockerfile", "shlaxfile.py"):
            yield os.path.abspath(os.path.join(request.context, name))
    for volume in request.volumes:
        yield os.path.abspath(volume.split(":", 1)[0])
    if request.authfile:
        yield os.path.abspath(request.authfile)
    if request.network and request.network.startswith("ns:"):
        yield request.network[3:]
    if options.ca_bundle:
        yield os.path.abspath(options.ca_bundle)


def noop_view(steps: Sequence[Any]) -> list[list[Any]]:
    """Each step as a rebuild that reuses everything shows it: built steps are reused then; a config step stays
    a config step (folded, never looked up as a layer) except the last of its stage, whose key the stage's
    commit recorded."""
    return noop_rows([[r.stage, r.instruction, r.location.path, r.location.line, r.status] for r in steps])


def noop_rows(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """``noop_view`` of rows as the record keeps them (stage, instruction, path, line, status, and a reason
    that is dropped)."""
    last = {row[0]: n for n, row in enumerate(rows)}
    view = []
    for n, (stage, text, where, line, status, *_) in enumerate(rows):
        if status == "built" or (status == "config" and last[stage] == n):
            status = "cached"
        view.append([stage, text, where, line, status])
    return view


def _any_racy(entries: Sequence[Sequence[Any]], stamp: float) -> bool:
    """Whether any of these path entries' signatures changed too close to ``stamp`` to be trusted."""
    from shlax_front.backend.statcache import racy

    return any(sig is not None and racy(sig, stamp) for entry in entries for sig in entry[2:])


def _racy(record: dict[str, Any], stamp: float) -> bool:
    """Whether any path of the record changed too close to the build's start (``stamp``) for its stat to be
    trusted: statcache's rule."""
    signatures = [sig for entry in record["paths"] for sig in entry[2:]]
    signatures += [sig for _, sig in record["_code"] if not isinstance(sig, dict)] + [record["buildah"][1]]
    from shlax_front.backend.statcache import racy

    return any(sig is not None and racy(sig, stamp) for sig in signatures)
