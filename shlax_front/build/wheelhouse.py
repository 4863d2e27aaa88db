"""Filling the host pip wheelhouse without reading every index page again.

``pip download`` with an index reads the index page of *every* requirement, even those whose files the
wheelhouse already holds: adding one package to a 40-line requirements file re-reads 40 pages (the benchmark
measured 2.3 MiB of pages for a 1.2 MiB wheel). When the offline resolution (``--no-index``) names a missing
distribution, fetching just that one (``--no-deps``) and resolving offline again reads one page per missing
distribution instead.

That shortcut is only taken when it cannot change what gets installed: every distribution of the resolution
must be pinned exactly (``name==version``) by the requirements as written, so the index would pick the same
version. An unpinned requirement (a transitive dependency too) could have a newer version on the index than in
the wheelhouse: then the caller falls back to the full ``pip download`` with the index, which resolves against
the index as a plain ``pip install`` would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

#: at most this many distributions fetched one by one before the full download is cheaper anyway
MAX_SINGLE_FETCHES = 30

MISSING = re.compile(r"^ERROR: No matching distribution found for (\S.*?)\s*$", re.M)
RESOLVED = re.compile(r"(?:File was already downloaded|Saved) (\S+)\s*$", re.M)
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*[^\s;,*<>=!~]+\s*(?:;.*)?$"
)
HASH = re.compile(r"(?:^|\s)--hash[=\s]\S+")

#: (argv, with network) -> object with ``returncode`` and ``output``
Run = Callable[[Sequence[str], bool], object]


def canonical(name: str) -> str:
    """PEP 503 name: ``Charset_Normalizer`` and ``charset-normalizer`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_names(requirements: Iterable[str]) -> set[str] | None:
    """Names pinned exactly by these requirement lines, or ``None`` when any line is something else
    (a range, an URL, an option such as ``-r``/``-e``/``--index-url``): then nothing is known for sure."""
    names: set[str] = set()
    for line in "\n".join(requirements).replace("\\\n", " ").splitlines():
        line = HASH.sub(" ", re.sub(r"(?:^|\s)#.*", "", line)).strip()
        if not line:
            continue
        match = PIN.match(line)
        if not match:
            return None
        names.add(canonical(match["name"]))
    return names


def resolved_names(output: str) -> set[str]:
    """Distributions a ``pip download`` resolution took (from its "Saved"/"already downloaded" lines)."""
    names = set()
    for path in RESOLVED.findall(output):
        filename = path.rsplit("/", 1)[-1]
        if filename.endswith(".whl"):
            names.add(canonical(filename.split("-", 1)[0]))
        else:  # sdist: name-version.tar.gz / .zip
            names.add(canonical(filename.rsplit("-", 1)[0]))
    return names


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
    pins: set[str] | None,
    first_output: str,
) -> tuple[bool, list[str]]:
    """Fetch only what the wheelhouse lacks, one distribution at a time, when everything is pinned.

    ``offline_argv`` is the ``--no-index`` resolution that failed with ``first_output``; ``single_argv`` the
    ``pip download`` (with the index) that a single requirement is appended to. Returns (the offline resolution
    now succeeds, outputs to show). ``False`` means: use the full download with the index.
    """
    outputs: list[str] = []
    if pins is None:
        return False, outputs
    output = first_output
    for _ in range(MAX_SINGLE_FETCHES):
        missing = missing_name(output)
        if missing is None or missing[1] not in pins or not resolved_names(output) <= pins:
            return False, outputs
        fetched = run([*single_argv, "--no-deps", missing[0]], True)
        outputs.append(fetched.output)
        if fetched.returncode != 0:
            return False, outputs
        again = run(offline_argv, False)
        output = again.output
        if again.returncode == 0:
            if not resolved_names(output) <= pins:
                return False, outputs
            outputs.append(output)
            return True, outputs
    return False, outputs


# -- how fresh an unpinned resolution is ---------------------------------------------------------------------
# An offline resolution of an unpinned requirement (``flask``, ``requests>=2``) may pick an older version than
# the index now has. It is trusted for as long as package lists are (``--lists-ttl``): a record of the last
# time the index was asked about exactly this resolution - the command line and the files it took - is kept
# beside the wheelhouse. Older, or never asked: ``pip download`` with the index again (it downloads only what
# is new, then records).


def resolution_key(argv: Sequence[str], output: str) -> str:
    """What a record is about: the download's command line and the files its resolution took."""
    files = sorted(path.rsplit("/", 1)[-1] for path in RESOLVED.findall(output))
    return hashlib.sha256(json.dumps([list(argv), files]).encode()).hexdigest()


def recently_resolved(state: Path, key: str, ttl: float) -> bool:
    try:
        age = time.time() - (state / key).stat().st_mtime
    except FileNotFoundError:
        return False
    return ttl < 0 or age < ttl


def record_resolution(state: Path, key: str) -> None:
    state.mkdir(parents=True, exist_ok=True)
    partial = state / f".{key}.{os.getpid()}"
    partial.write_text(f"{time.time()}\n")
    partial.replace(state / key)  # atomic: a record is whole or absent
