"""The context oracle (``tests/context_oracle.py``) against real buildah: for generated contexts and an edit of
each, what ``buildah copy --ignorefile`` puts in a container is what the oracle lists - so the layer key's
property test (``tests/unit/test_cache_key_property.py``), which holds the key to the oracle, holds it to
buildah. A few examples (each costs two copies); ``SHLAX_ORACLE_EXAMPLES`` runs more.

Compared: each copied entry's type, mode, content, link text, ``user.*`` xattrs and hard-link group. Not
compared: the destination directory itself (buildah makes it 0755 whatever the named directory's mode; the key
covers that mode all the same) and the directories buildah makes to hold what ``!`` exceptions keep.
"""

from __future__ import annotations

import os
import stat
import subprocess

from context_oracle import (
    EDITS,
    PATTERNS,
    SOURCES,
    _describe,
    apply,
    contexts,
    generated_context,
    listing,
    source_matches,
)
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

BUSYBOX = "docker.io/library/busybox:latest"
EXAMPLES = int(os.environ.get("SHLAX_ORACLE_EXAMPLES", "12"))


def _expected_at_destination(root: str, source: str, listed: dict[str, tuple]) -> dict[str, tuple]:
    """The oracle's listing named as the files land under the destination (``COPY a b/ /dst/`` puts a file
    at ``/dst/<name>`` and a directory's contents in ``/dst/``)."""
    matches = sorted(source_matches(root, source), key=len, reverse=True)
    renamed: dict[str, str] = {}
    for name, entry in listed.items():
        match = next(m for m in matches if name == m or name.startswith(m.rstrip("/") + "/"))
        if name == match:
            if entry[0] == "dir":
                continue
            renamed[name] = os.path.basename(match)
        else:
            renamed[name] = name[len(match.rstrip("/")) + 1 :]
    assume(len(set(renamed.values())) == len(renamed))  # two sources landing on one name: not this test's
    # a match that is itself a file is sent alone, without buildah's hard-link check (which runs while it walks
    # a directory): it keeps no link with another copied file (seen: COPY d/* of d/x.txt and its link d/h2)
    alone = {name for name in renamed if name in matches}
    out = {}
    for name, dest in renamed.items():
        entry = listed[name]
        if entry[0] == "file" and len(entry) == 5:
            group = tuple(sorted(renamed[n] for n in entry[4] if n in renamed and n not in alone))
            entry = entry[:4] if name in alone or len(group) < 2 else (*entry[:4], group)
        out[dest] = entry
    return out


def _found(top: str) -> dict[str, tuple]:
    """The same listing of what buildah copied under ``top``."""
    out: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top)
            out[rel] = _describe(path)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                inodes.setdefault(st.st_ino, []).append(rel)
    for names in inodes.values():
        if len(names) > 1:
            for name in names:
                out[name] = (*out[name], tuple(sorted(names)))
    return out


def _copy(container: str, mountpoint: str, root: str, source: str, dest: str) -> dict[str, tuple] | None:
    argv = ["buildah", "copy", "--contextdir", root]
    if os.path.exists(os.path.join(root, ".dockerignore")):
        argv += ["--ignorefile", os.path.join(root, ".dockerignore")]
    done = subprocess.run([*argv, container, os.path.join(root, source), dest + "/"], capture_output=True)
    if done.returncode != 0:
        return None
    return _found(os.path.join(mountpoint, dest.lstrip("/")))


def _same(found: dict[str, tuple], expected: dict[str, tuple]) -> None:
    holders = {os.path.dirname(name) for name in expected}
    holders |= {os.path.dirname(h) for h in list(holders)}
    made = {n for n, e in found.items() if e[0] == "dir" and n not in expected and n in holders}
    assert {n: e for n, e in found.items() if n not in made} == expected


def test_the_oracle_lists_what_buildah_copies(base_images, buildah_cleanup):
    container = buildah_cleanup.working_container(BUSYBOX)
    mountpoint = subprocess.run(
        ["buildah", "mount", container], capture_output=True, text=True, check=True
    ).stdout.strip()
    copies = iter(range(1_000_000))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        spec=contexts(),
        patterns=st.lists(st.sampled_from(PATTERNS), max_size=4),
        source=st.sampled_from(SOURCES),
        edit=EDITS,
    )
    # found by a CI run: two file matches of a glob that are hard links of each other are copied unlinked
    @example(
        spec=[("d", "dir", 0o755), ("d/x.txt", "file", ("one", 0o644)), ("d/h2", "hard", "d/x.txt")],
        patterns=[],
        source="d/*",
        edit=("remove", "c", None),
    )
    def check(spec, patterns, source, edit):
        with generated_context(spec, patterns) as root:
            for state in ("before", "after"):
                if state == "after":
                    apply(root, edit)
                listed = listing(root, source, False)
                found = _copy(container, mountpoint, root, source, f"/dst-{next(copies)}")
                assert (found is None) == (listed is None), (state, source, listed, found)
                if listed is not None and found is not None:
                    _same(found, _expected_at_destination(root, source, listed))

    check()
