"""Filling the host pip wheelhouse without reading every index page again.

``pip download`` with an index reads the index page of *every* requirement, even those whose files the
wheelhouse already holds: adding one package to a 40-line requirements file re-reads 40 pages (the benchmark
measured 2.3 MiB of pages for a 1.2 MiB wheel). When the offline resolution (``--no-index``) names a missing
distribution, fetching just that one (``--no-deps``) and resolving offline again reads one page per missing
distribution instead.

That shortcut is only taken when it cannot change what gets installed (``settled``): the wheelhouse's answer
must be the one the index would give - because every distribution is pinned exactly, or because the index
recently gave that answer to requirements these ones only extend with exact pins. Otherwise the caller falls
back to the full ``pip download`` with the index, which resolves as a plain ``pip install`` would.

An added requirement that is not an exact pin (``colorama``) is resolved alone against the index, with the
previous resolution's choices as constraints (``resolve_addition``), while that resolution is younger than
``--lists-ttl``: it costs the pages of the added distribution and of the dependencies it brings, not every
page again. When the added requirement does not fit the previous choices, or a line was removed or changed,
the full resolution runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shlax_front.backend import faults
from shlax_front.backend.hostcache import RECORDS_SUFFIX, records_directory
from shlax_front.backend.steps import HostCache
from shlax_front.backend.store import CORRUPT_SUFFIX, cache_writes, set_aside

if TYPE_CHECKING:
    from shlax_front.actions import Wheelhouse
    from shlax_front.backend.hostcache import HostCaches

#: where the host wheelhouse appears in a RUN and in the ``pip download`` runs that fill it
WHEELHOUSE_TARGET = "/run/shlax-front/wheelhouse"

#: at most this many distributions fetched one by one before the full download is cheaper anyway
MAX_SINGLE_FETCHES = 30

MISSING = re.compile(r"^ERROR: No matching distribution found for (\S.*?)\s*$", re.M)
RESOLVED = re.compile(r"(?:File was already downloaded|Saved) (\S+)\s*$", re.M)
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*[^\s;,*<>=!~]+\s*(?:;.*)?$"
)
PIN_VERSION = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*(?P<version>[^\s;,*<>=!~]+)\s*(?:;.*)?$"
)
HASH = re.compile(r"(?:^|\s)--hash[=\s]\S+")
#: what pip prints when it builds a distribution from source (a local project, an sdist): its build requirements
#: (``flit_core``, ``setuptools``) come from the index into an isolated environment, and ``pip download`` keeps
#: none of them in the wheelhouse, so an install that builds must keep the index (no ``PIP_NO_INDEX``)
BUILDS = re.compile(r"^\s*(?:Installing build dependencies|Preparing metadata)\b", re.M)


class Ran(Protocol):
    """What a ``Run`` gives back (a ``runner.Result``, or a test's stand-in)."""

    returncode: int
    stdout: str

    @property
    def output(self) -> str: ...


#: (argv, with network) -> what ran: a run in the RUN's container, with its environment and mounts
Run = Callable[[Sequence[str], bool], Ran]


#: the text of requirement files (paths as the install names them) read without a run, or None: ``cat`` them
Read = Callable[[Sequence[str]], "str | None"]


def fill(
    run: Run,
    installs: Sequence[tuple[str, Wheelhouse]],
    history: Path,
    offline: bool,
    lists_ttl: float,
    show: Callable[[str], None],
    read: Read | None = None,
) -> list[tuple[str, str]]:
    """Get every distribution the pip ``installs`` ((pip executable, wheelhouse) pairs) need into the host
    wheelhouse, offline first; returns the environment the RUN's installs need to use it.

    pip's own HTTP cache keeps nothing behind proxies that strip caching headers, so the tool keeps the
    files itself: ``pip download --no-index`` from the wheelhouse first; only when something is missing
    ``pip download`` with the index (files already present are not downloaded again). That reads the index
    page of every requirement, so when everything is pinned exactly only the missing distributions are
    fetched (``fetch_missing``). A wheelhouse-only resolution that took an unpinned distribution could be
    older than the index: it stands only as far as the index's own answer, recorded in ``history`` less
    than ``lists_ttl`` ago, vouches for it (``settled``). The install then runs with ``PIP_FIND_LINKS``
    (and ``PIP_NO_INDEX`` when the wheelhouse has everything). ``show`` receives the pip outputs worth
    showing (a miss of the offline attempt is expected and not news). ``offline``: nothing runs, the install
    reads the wheelhouse alone (``--no-index``) and names what it lacks itself.
    """
    complete = True
    builds = False  # a download built something from source (``BUILDS``)
    pip_run = run

    def watched(argv: Sequence[str], network: bool) -> Ran:
        nonlocal builds
        ran = pip_run(argv, network)
        builds = builds or BUILDS.search(ran.output) is not None
        return ran

    run = watched
    for executable, wh in installs:
        if offline:
            # the install itself runs with --no-index from the wheelhouse (and prints what it lacks): an offline
            # resolution before it would be a second pip that tells nothing more
            continue
        base, options, index, offline_argv, online_argv = _download_argvs(executable, wh)
        record_argv = _record_argv(online_argv, wh)
        lines = installed_lines(run, wh, read)
        if lines and not wh.find_links and cold_for(wheelhouse_directory(history), lines):
            # cold for this install: the offline attempt cannot succeed, and fetching what it misses one at a
            # time costs a pip run per distribution before the full download that follows anyway
            complete = _download_all(run, online_argv, record_argv, history, lines, show) and complete
            continue
        absent = (
            []
            if wh.find_links
            else absent_pins(
                wheelhouse_directory(history), lines, fetchable_alone(history, record_argv, lines, lists_ttl)
            )
        )
        if absent:
            # exact pins of which the wheelhouse has no file at all: the offline attempt cannot succeed, and
            # fetching what it names one at a time would fetch these anyway, a pip run each after a failed one
            fetched = run([*base, *index, *options, "--no-deps", *absent], True)
            show(fetched.output)
            if fetched.returncode != 0:  # the full download says why, as a plain install would
                complete = _download_all(run, online_argv, record_argv, history, lines, show) and complete
                continue
        first = run(offline_argv, False)

        def stands(output, lines=lines, argv=record_argv):
            return settled(history, argv, lines, output, lists_ttl)

        if first.returncode == 0:
            show(first.output)
            if stands(first.output):
                continue
        else:
            done, outputs = fetch_missing(
                run,
                offline_argv,
                [*base, *index, *options],
                fetchable_alone(history, record_argv, lines, lists_ttl),
                first.output,
                stands,
            )
            for output in outputs:
                show(output)
            if done:  # only the missing distributions' index pages were read
                continue
        if lines is not None:
            addition = resolve_addition(
                run, history, [*base, *index, *options], offline_argv, record_argv, lines, lists_ttl
            )
            for output in addition:
                show(output)
            if addition and addition[-1] is not FALLBACK:
                continue
        complete = _download_all(run, online_argv, record_argv, history, lines, show) and complete
    extra = [("PIP_FIND_LINKS", WHEELHOUSE_TARGET)]
    if complete and not builds and not any(wh.find_links for _, wh in installs):
        extra.append(("PIP_NO_INDEX", "1"))
    return extra


def _download_argvs(
    executable: str, wh: Wheelhouse
) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    """(base, options, index options, offline argv, online argv) of the ``pip download`` runs for one install:
    the online argv is also what the resolution records are keyed by."""
    base = [*executable.split(), "download", "--dest", WHEELHOUSE_TARGET, "--find-links", WHEELHOUSE_TARGET]
    options = []  # what shapes the choice of one distribution as much as of all of them
    if wh.pre:
        options.append("--pre")
    for link in wh.find_links:
        options += ["--find-links", link]
    for con in wh.constraints:
        options += ["-c", con]
    spec = list(options)
    for req in wh.requirements:
        spec += ["-r", req]
    spec += list(wh.packages)
    index = []
    if wh.index_url:
        index += ["--index-url", wh.index_url]
    for url in wh.extra_index_urls:
        index += ["--extra-index-url", url]
    return base, options, index, [*base, "--no-index", *spec], [*base, *index, *spec]


def _record_argv(online_argv: Sequence[str], wh: Wheelhouse) -> list[str]:
    """What the index's answers are recorded under: the online argv without the requirements named on the command
    line (they end it), which the records' lines hold. Keyed with them, ``pip install six idna attrs tomli`` found
    no answer for ``six idna attrs`` and read every page again, where a requirements file's install reads the
    added one's alone."""
    return list(online_argv[: len(online_argv) - len(wh.packages)])


def _download_all(
    run: Run,
    online_argv: Sequence[str],
    record_argv: Sequence[str],
    history: Path,
    lines: Sequence[str] | None,
    show: Callable[[str], None],
) -> bool:
    """The full ``pip download`` with the index, as a plain ``pip install`` would resolve; recorded (under
    ``record_argv``) as the index's answer when the lines are known. True when it succeeded."""
    online = run(online_argv, True)
    return _downloaded(online.returncode == 0, online.output, record_argv, history, lines, show)


def _downloaded(
    ok: bool,
    output: str,
    record_argv: Sequence[str],
    history: Path,
    lines: Sequence[str] | None,
    show: Callable[[str], None],
) -> bool:
    """What follows the full download (``ok``: it succeeded, printing ``output``): shown, and recorded as the
    index's answer when the lines are known. Returns ``ok``."""
    faults.point("wheelhouse-filled")
    show(output)
    if ok and lines is not None:
        record_resolution(history, record_argv, lines, output)
    return ok


class ColdFill:
    """The full ``pip download`` of a cold install (``cold_for``), run by the RUN's own ``buildah run`` right
    before the RUN's command, in the same shell: a ``buildah run`` less than running it alone (its setup, with
    the mounts, took 0.3-1 s on the benchmark machine, the tenth of a cold pip step or more).

    The download is the one ``fill`` would run (same argv, same environment, the meter's proxy variables
    given to it alone), its output goes to a file in the wheelhouse instead of the RUN's output; then the
    RUN's command is ``exec``'d unchanged with ``PIP_FIND_LINKS``, and ``PIP_NO_INDEX`` when the download
    succeeded without building anything from source (``BUILDS``) - what ``fill`` would have given it. Only a shell-form RUN (``/bin/sh -c``) is wrapped: the
    shell is then known to be there, and ``exec "$@"`` gives the command the very argv and environment it
    would have had (the wrapper sets no variable of its own)."""

    def __init__(
        self, online_argv: Sequence[str], history: Path, lines: Sequence[str], record_argv: Sequence[str]
    ):
        self.online_argv = list(online_argv)
        self.record_argv = list(record_argv)
        self.history = history
        self.lines = list(lines)
        name = f".shlax-front-download-{os.getpid()}"
        self.log = wheelhouse_directory(history) / f"{name}.log"
        self.succeeded = wheelhouse_directory(history) / f"{name}.ok"
        self._output: str | None = None
        self.ok = False

    def wrap(self, step_argv: Sequence[str], download_env: Sequence[tuple[str, str]]) -> list[str]:
        """The argv that runs the download, then ``exec``'s ``step_argv`` (``/bin/sh -c SCRIPT``); the files
        a build that died left under this process id's names are removed first (a stale mark would say a
        failed download succeeded)."""
        self.remove()
        assignments = [f"{name}={shlex.quote(value)}" for name, value in download_env]
        download = " ".join([*assignments, *map(shlex.quote, self.online_argv)])
        log = shlex.quote(f"{WHEELHOUSE_TARGET}/{self.log.name}")
        done = shlex.quote(f"{WHEELHOUSE_TARGET}/{self.succeeded.name}")
        # the shell reads the log for ``BUILDS``' lines itself (the image may have no grep); its two variables
        # are not exported, so the command does not see them
        built = "|".join(f'*"{words}"*' for words in ("Installing build dependencies", "Preparing metadata"))
        script = (
            f"if {download} >{log} 2>&1; then : >{done}; "
            f"while IFS= read -r shlax_front_line; do case $shlax_front_line in {built}) shlax_front_builds=1;; "
            f'esac; done <{log}; [ -n "$shlax_front_builds" ] || export PIP_NO_INDEX=1; fi; '
            f'export PIP_FIND_LINKS={WHEELHOUSE_TARGET}; exec "$@"'
        )
        return ["/bin/sh", "-c", script, "sh", *step_argv]

    def output(self) -> str:
        """What the download printed (read once; the RUN's command starts only after it ended)."""
        if self._output is None:
            try:
                self._output = self.log.read_bytes().decode("utf-8", errors="replace")
            except OSError:
                self._output = ""
        return self._output

    def finish(self, show: Callable[[str], None]) -> list[tuple[str, str]]:
        """After the run: the download's outcome recorded as ``fill`` records it (``show`` receives its output),
        its files removed; returns the environment the RUN's command had."""
        output = self.output()
        self.ok = self.succeeded.exists()
        self.remove()
        _downloaded(self.ok, output, self.record_argv, self.history, self.lines, show)
        no_index = self.ok and not BUILDS.search(output)
        return [("PIP_FIND_LINKS", WHEELHOUSE_TARGET)] + ([("PIP_NO_INDEX", "1")] if no_index else [])

    def remove(self) -> None:
        for path in (self.log, self.succeeded):
            path.unlink(missing_ok=True)


def _single_install(
    installs: Sequence[tuple[str, Wheelhouse]], offline: bool, read: Read | None
) -> tuple[str, Wheelhouse, list[str]] | None:
    """The one pip install of a RUN with its requirement lines read by ``read``, where the pip run this saves
    can be saved at all: online, one install, no find-links of the user's, lines ``read`` could give."""
    if offline or len(installs) != 1 or read is None:
        return None
    executable, wh = installs[0]
    if wh.find_links:
        return None
    lines = installed_lines(None, wh, read)
    return (executable, wh, lines) if lines else None


def cold_fill(
    installs: Sequence[tuple[str, Wheelhouse]], history: Path, offline: bool, read: Read | None
) -> ColdFill | None:
    """The ``ColdFill`` of a RUN whose only pip install is cold for the wheelhouse, its requirement files read
    by ``read`` (never by a run: that would cost the run this saves); None when anything else holds (then
    ``fill`` runs as before)."""
    single = _single_install(installs, offline, read)
    if single is None or not cold_for(wheelhouse_directory(history), single[2]):
        return None
    executable, wh, lines = single
    online_argv = _download_argvs(executable, wh)[4]
    return ColdFill(online_argv, history, lines, _record_argv(online_argv, wh))


@dataclass(frozen=True)
class Answers:
    """What the pull-through index (``pipindex``) may answer from the wheelhouse for one install, without
    PyPI: ``projects`` maps each such project (canonical name) to the time the index's recorded answer for it
    was given (``None`` for an exact pin, which needs no index once a file of it is here). ``record_argv`` and
    ``lines`` key the answer recorded after the install, as the download's were."""

    record_argv: tuple[str, ...]
    lines: tuple[str, ...]
    projects: dict[str, float | None]


def index_answers(
    installs: Sequence[tuple[str, Wheelhouse]], history: Path, offline: bool, read: Read | None, ttl: float
) -> Answers | None:
    """The projects the wheelhouse answers for the only pip install of a RUN, with the rules ``fill`` applies:

    - an exact pin (``name==version``) with a file of that version here: never asks the index;
    - any other project (unpinned, or only a dependency) whose file an answer of the index recorded less than
      ``ttl`` ago took - for requirements these ones only extend (its lines are all among these: adding
      requirements only adds constraints, so the file it chose still is the newest that fits) - and that is
      still here; ``ttl`` 0 answers none.

    Everything else is asked of PyPI. None where the index does not stand in: ``--offline``, more than one
    install, find-links of the user's, requirement files only a run could read, or a line that is not a
    plain requirement (an option, a path, an URL: pip reads it from elsewhere)."""
    single = _single_install(installs, offline, read)
    if single is None or not all(_named(line) for line in single[2]):
        return None
    executable, wh, lines = single
    record_argv = _record_argv(_download_argvs(executable, wh)[4], wh)
    directory = wheelhouse_directory(history)
    try:
        held = sorted(f for f in os.listdir(directory) if not f.startswith("."))
    except OSError:
        held = []
    projects: dict[str, float | None] = {}
    pins = pinned_versions(lines)
    for filename in held:
        name = _file_name(filename)
        if pins.get(name) is not None and file_version(filename) == pins[name]:
            projects[name] = None
    if ttl != 0:
        for record, when in _fresh_records_timed(history, record_argv, ttl):
            if not set(record["lines"]) <= set(lines):
                continue
            for name, filename in record["files"].items():
                if name in pins or filename not in held:
                    continue
                if name not in projects or (projects[name] or 0) < when:
                    projects[name] = when
    return Answers(tuple(record_argv), tuple(lines), projects)


def _named(line: str) -> bool:
    """A requirement pip looks up by name on the index (``flask>=3``, ``six==1.16.0; python_version>'3'``)."""
    line = line.removeprefix("constraint: ")
    return _plain(line) and "/" not in line and NAME.match(line) is not None


def pinned_versions(lines: Iterable[str]) -> dict[str, str | None]:
    """{canonical name: version} of the requirement lines (constraints included) pinning one exact version; a
    name pinned to two versions maps to None."""
    found: dict[str, str | None] = {}
    for line in lines:
        match = PIN_VERSION.match(line.removeprefix("constraint: "))
        if match:
            name = canonical(match["name"])
            found[name] = match["version"] if found.get(name, match["version"]) == match["version"] else None
    return found


def file_version(filename: str) -> str | None:
    """The version in a distribution file's name (``six-1.16.0-py2.py3-none-any.whl``: ``1.16.0``)."""
    pin = _pin_of("x", filename)
    return pin.split("==", 1)[1] if pin else None


def wheelhouse_directory(history: Path) -> Path:
    """The host wheelhouse whose records live in ``history`` (``history_directory``: beside it)."""
    return history.with_name(history.name.removesuffix(RECORDS_SUFFIX))


def cold_for(directory: Path, lines: Sequence[str]) -> bool:
    """Whether the wheelhouse can answer nothing of an install whose lines (constraints aside) all name a
    distribution from the index and none has a file here: then the offline attempt must fail. A line that is
    an option (``-r``, ``-e``), a path or an URL could be served without the index, so it never counts as cold."""
    names = set()
    for line in lines:
        if line.startswith("constraint: "):
            continue
        match = NAME.match(line)
        if line.startswith("-") or "/" in line or " @ " in line or match is None:
            return False
        names.add(canonical(match.group()))
    try:
        files = os.listdir(directory)
    except OSError:
        files = []
    return bool(names) and not any(_file_name(filename) in names for filename in files)


def absent_pins(directory: Path, lines: Sequence[str] | None, fetchable: set[str]) -> list[str]:
    """The requirement lines pinning exactly a distribution of ``fetchable`` of which ``directory`` (the host
    wheelhouse) holds no file at all, in their order."""
    if not lines or not fetchable:
        return []
    try:
        held = {_file_name(filename) for filename in os.listdir(directory)}
    except OSError:
        held = set()
    absent = []
    for line in lines:
        match = PIN.match(line)
        if match and canonical(match["name"]) in fetchable - held:
            absent.append(line)
    return absent


def _file_name(filename: str) -> str:
    """The canonical distribution name of a wheel (``name-version-...whl``) or sdist (``name-version.tar.gz``)."""
    if filename.endswith(".whl"):
        return canonical(filename.split("-", 1)[0])
    return canonical(filename.rsplit("-", 1)[0])


def history_directory(caches: HostCaches) -> Path:
    """Where the records of what the index chose live (``settled``), beside the host wheelhouse."""
    return records_directory(caches.directory(HostCache("pip-wheelhouse", WHEELHOUSE_TARGET), None))


def installed_lines(run: Run | None, wh: Wheelhouse, read: Read | None = None) -> list[str] | None:
    """The install's requirements as pip will read them: command line, ``-r`` files and ``-c`` files
    (prefixed ``constraint:``), read from the container's root by ``read`` when it can, else by ``cat`` in
    the container (``run``; without one, unknown); ``None`` when a file cannot be read."""
    lines = requirement_lines(wh.packages)
    for prefix, paths in (("", wh.requirements), ("constraint: ", wh.constraints)):
        if not paths:
            continue
        text = read(paths) if read is not None else None
        if text is None:
            if run is None:
                return None
            done = run(["cat", "--", *paths], False)
            if done.returncode != 0:
                return None
            text = done.stdout
        lines += [prefix + line for line in requirement_lines(text.splitlines())]
    return lines


def canonical(name: str) -> str:
    """PEP 503 name: ``Charset_Normalizer`` and ``charset-normalizer`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(requirements: Iterable[str]) -> list[str]:
    """The requirement lines as pip reads them: continuations joined, comments and ``--hash`` options gone."""
    out = []
    for line in "\n".join(requirements).replace("\\\n", " ").splitlines():
        line = " ".join(HASH.sub(" ", re.sub(r"(?:^|\s)#.*", "", line)).split())
        if line:
            out.append(line)
    return out


def exact_pins(requirements: Iterable[str]) -> set[str]:
    """Names of the lines that pin one exact version (other lines are ignored)."""
    return {canonical(m["name"]) for line in requirement_lines(requirements) if (m := PIN.match(line))}


def pinned_names(requirements: Iterable[str]) -> set[str] | None:
    """Names pinned exactly by these requirement lines, or ``None`` when any line is something else
    (a range, an URL, an option such as ``-r``/``-e``/``--index-url``): then nothing is known for sure."""
    lines = requirement_lines(requirements)
    names = exact_pins(lines)
    return names if all(PIN.match(line) for line in lines) else None


def resolved_files(output: str) -> dict[str, str]:
    """{distribution: file} a ``pip download`` resolution took (its "Saved"/"already downloaded" lines)."""
    files = {}
    for path in RESOLVED.findall(output):
        filename = path.rsplit("/", 1)[-1]
        files[_file_name(filename)] = filename
    return files


def resolved_names(output: str) -> set[str]:
    return set(resolved_files(output))


def missing_name(output: str) -> tuple[str, str] | None:
    """(requirement, canonical name) of the distribution a failed ``--no-index`` resolution lacked."""
    found = MISSING.findall(output)
    if not found:
        return None
    requirement = found[-1]
    name = NAME.match(requirement)
    return (requirement, canonical(name.group())) if name else None


def fetch_missing(
    run: Run,
    offline_argv: Sequence[str],
    single_argv: Sequence[str],
    fetchable: set[str],
    first_output: str,
    settled: Callable[[str], bool],
) -> tuple[bool, list[str]]:
    """Fetch only what the wheelhouse lacks, one distribution at a time.

    ``offline_argv`` is the ``--no-index`` resolution that failed with ``first_output``; ``single_argv`` the
    ``pip download`` (with the index) that a single requirement is appended to. Only distributions the
    requirements pin exactly (``fetchable``) are fetched alone, and the result counts only when ``settled``
    says the wheelhouse's resolution is the one the index would give. Returns (the offline resolution now
    succeeds and stands, outputs to show). ``False`` means: use the full download with the index.
    """
    outputs: list[str] = []
    output = first_output
    for _ in range(MAX_SINGLE_FETCHES):
        missing = missing_name(output)
        if missing is None or missing[1] not in fetchable:
            return False, outputs
        fetched = run([*single_argv, "--no-deps", missing[0]], True)
        outputs.append(fetched.output)
        if fetched.returncode != 0:
            return False, outputs
        again = run(offline_argv, False)
        output = again.output
        if again.returncode == 0:
            if not settled(output):
                return False, outputs
            outputs.append(output)
            return True, outputs
    return False, outputs


#: what ``resolve_addition`` ends its outputs with when the full resolution must run after all
FALLBACK = ""


def resolve_addition(
    run: Run,
    state: Path,
    single_argv: Sequence[str],
    offline_argv: Sequence[str],
    record_argv: Sequence[str],
    lines: Sequence[str],
    ttl: float,
) -> list[str]:
    """Resolve only the requirements added since a fresh record of the index's answer, with that answer's
    choices as constraints (``pip download -c``), then check that the wheelhouse-only resolution of all the
    requirements takes exactly those choices and the new ones; record it as the index's answer.

    Returns the pip outputs to show; empty when there was nothing to do this way (no fresh record these lines
    extend, nothing added, a line pip reads from elsewhere), ending with ``FALLBACK`` when the full resolution
    must run (the addition conflicts with the previous choices, or the wheelhouse would choose otherwise).
    """
    if not all(_plain(line) for line in lines):
        return []
    records = sorted(_fresh_records(state, record_argv, ttl), key=lambda r: -len(r["lines"]))
    for record in records:  # the answer closest to these lines first: the fewest added
        before = set(record["lines"])
        added = [line for line in lines if line not in before]
        if not added or not before <= set(lines) or any(line.startswith("constraint: ") for line in added):
            continue
        chosen: dict[str, str] = record["files"]
        pins = [pin for name, file in sorted(chosen.items()) if (pin := _pin_of(name, file))]
        if len(pins) != len(chosen):
            continue
        constraints = _constraints_file(state, pins)
        try:
            alone = run([*single_argv, "-c", f"{WHEELHOUSE_TARGET}/{constraints.name}", *added], True)
        finally:
            constraints.unlink(missing_ok=True)
        if alone.returncode != 0:
            return [alone.output, FALLBACK]
        expected = {**chosen, **resolved_files(alone.output)}
        again = run(offline_argv, False)
        if again.returncode != 0 or resolved_files(again.output) != expected:
            return [alone.output, FALLBACK]  # the wheelhouse would not install what the index chose
        record_resolution(state, record_argv, lines, again.output)
        return [alone.output, again.output]
    return []


def _pin_of(name: str, filename: str) -> str | None:
    """``name==version`` of a distribution file (``six-1.16.0-py2.py3-none-any.whl``, ``pkg-1.0.tar.gz``)."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return f"{name}=={parts[1]}" if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if filename.endswith(suffix):
            version = filename.removesuffix(suffix).rsplit("-", 1)
            return f"{name}=={version[1]}" if len(version) == 2 else None
    return None


def _constraints_file(state: Path, pins: Sequence[str]) -> Path:
    """A constraints file in the host wheelhouse (the directory ``state`` keeps records for), where the
    ``pip download`` in the container reads it; the caller deletes it."""
    wheelhouse = wheelhouse_directory(state)
    path = wheelhouse / f".shlax-front-constraints-{os.getpid()}.txt"
    with cache_writes(wheelhouse):
        path.write_text("".join(pin + "\n" for pin in pins))
    return path


# -- when the wheelhouse may answer for the index -------------------------------------------------------------
# A resolution from the wheelhouse alone (``--no-index``) is what the index would give when:
# - every distribution it took is pinned exactly by the requirements; or
# - the index was asked less than ``--lists-ttl`` ago (a record) about requirements S0 that these ones only
#   extend with exact pins, it took the very same files for every distribution of that answer, and every
#   other distribution is pinned exactly. Adding requirements only adds constraints, so a file the index
#   chose under S0 that still fits is still its choice: adding ``pygments==2.18.0`` to a file whose
#   ``flask==3.0.3`` pulls unpinned ``werkzeug`` reads no index page but pygments'.
# Requirement lines include the constraint files' (prefixed ``-c``): a loosened constraint is a removed line.


def settled(state: Path, argv: Sequence[str], lines: Sequence[str] | None, output: str, ttl: float) -> bool:
    """May the wheelhouse-only resolution ``output`` of requirements ``lines`` stand for the index's?"""
    if lines is None:  # the requirements could not be read: nothing is known
        return False
    files = resolved_files(output)
    pins = exact_pins(lines)
    if set(files) <= pins:
        return True
    if not all(_plain(line) for line in lines):  # a nested file, an index option, a URL: not all is seen
        return False
    for record in _fresh_records(state, argv, ttl):
        before = set(record["lines"])
        added = [line for line in lines if line not in before]
        if not before <= set(lines) or pinned_names(added) is None:
            continue
        chosen = record["files"]
        if all(files.get(name) == file for name, file in chosen.items()) and set(files) - set(chosen) <= pins:
            return True
    return False


def fetchable_alone(state: Path, argv: Sequence[str], lines: Sequence[str] | None, ttl: float) -> set[str]:
    """Distributions worth fetching one at a time: the exact pins, when the result can stand at all
    (every line a pin, or a fresh record of requirements these extend with exact pins). Otherwise each page would be read
    twice: once alone, once by the full download that follows anyway."""
    if lines is None:
        return set()
    if pinned_names(lines) is not None:
        return exact_pins(lines)
    if all(_plain(line) for line in lines):
        for record in _fresh_records(state, argv, ttl):
            before = set(record["lines"])
            if (
                before <= set(lines)
                and pinned_names([line for line in lines if line not in before]) is not None
            ):
                return exact_pins(lines)  # what ``settled`` then accepts: a record these extend with pins
    return set()


def _plain(line: str) -> bool:
    line = line.removeprefix("constraint: ")
    return not line.startswith("-") and "://" not in line and " @ " not in line


def record_resolution(
    state: Path, argv: Sequence[str], lines: Sequence[str], output: str, when: float | None = None
) -> None:
    """Remember what the index chose for these requirements, now or as of ``when`` (the time of its oldest
    answer it holds: a record is fresh by its file's time), written whole or not at all."""
    record = {"argv": list(argv), "lines": sorted(set(lines)), "files": resolved_files(output)}
    key = hashlib.sha256(json.dumps([record["argv"], record["lines"]]).encode()).hexdigest()
    partial = state / f".{key}.{os.getpid()}"
    with cache_writes(state):
        state.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(record, sort_keys=True) + "\n")
        if when is not None:
            os.utime(partial, (when, when))
        partial.replace(state / key)


def _fresh_records(state: Path, argv: Sequence[str], ttl: float) -> Iterable[dict]:
    for record, _ in _fresh_records_timed(state, argv, ttl):
        yield record


def _fresh_records_timed(state: Path, argv: Sequence[str], ttl: float) -> Iterable[tuple[dict, float]]:
    """The records younger than ``ttl`` (negative: any age) made under ``argv``, each with its time."""
    if not state.is_dir():
        return
    now = time.time()
    for path in state.iterdir():
        if path.name.startswith(".") or path.name.endswith(CORRUPT_SUFFIX):
            continue
        try:
            when = path.stat().st_mtime
            if not (ttl < 0 or now - when < ttl):
                continue
            record = json.loads(path.read_bytes().decode("utf-8"))
        except OSError:
            continue
        except ValueError:  # not JSON, not UTF-8
            record = None
        if not _record_shaped(record):
            set_aside(path, "not a pip resolution record (damaged)")
            continue
        if record["argv"] == list(argv):
            yield record, when


def _record_shaped(record: object) -> bool:
    """Whether ``record`` reads as ``record_resolution`` writes it: argv and lines lists of strings, files a
    mapping of names to file names."""
    return (
        isinstance(record, dict)
        and all(isinstance(record.get(k), list) for k in ("argv", "lines"))
        and all(isinstance(x, str) for x in record["argv"] + record["lines"])
        and isinstance(record.get("files"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in record["files"].items())
    )
