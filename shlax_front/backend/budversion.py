"""Where ``buildah bud`` versions differ in the image they make, in one place: the installed version's rules.

shlax-front makes the image the installed ``buildah bud`` would make, so where bud changed between versions the
backend asks ``installed()`` instead of hard-coding one version. Each rule below was measured with real bud
(chroot isolation) on Debian 12's 1.28.2 and Debian 13's 1.39.3, the versions CI runs; a version between them
gets the rules of the nearest measured version below it, a later one 1.39's.

- **A ``RUN --mount`` target already in the image** (bind, cache, tmpfs): 1.28 deletes it after the RUN,
  contents and all, unless it lies below ``/var/`` (buildah#4927: ``--mount=type=tmpfs,target=/tmp`` leaves no
  ``/tmp``); 1.39 keeps it, as BuildKit does.
- **A secret target that is a file already in the image**: the same - 1.28 deletes it outside ``/var/``, 1.39
  keeps it. Mount points a RUN *creates* are left alike by both (kept below ``/var/``, removed elsewhere).
- **``buildah run --mount type=bind,rw``** (how the tool binds the host directory of a user's cache mount):
  1.28 writes through to the directory; 1.39 puts an overlay over it and throws the writes away (BuildKit's
  bind semantics), so there the directory is bound with ``-v`` instead, which writes through in both.
- **Predefined platform ARGs** (``TARGETARCH``...): 1.28 lets ``ARG TARGETARCH=value`` keep its default; 1.39
  treats them as build arguments, as BuildKit does - the platform's value wins over a default, ``--build-arg``
  wins over both - and refuses a default for ``BUILDPLATFORM``/``TARGETPLATFORM`` ("attempted to redefine").
  Which names bud predefines (no ``TARGETSTAGE``, no ``*OSVERSION``) and that only a declared ARG sees one
  are the same in both: ``scope.BUD``.

Alike in both (so not here): the default ``PATH`` bud writes into the config of a stage whose base image has no
``Env`` at all, and the mount points a RUN creates.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from shlax_front import instructions as ins
from shlax_front.errors import ParseError
from shlax_front.platforms import host_platform, platform_args
from shlax_front.scope import BUD


@dataclass(frozen=True)
class BudRules:
    """What one ``buildah bud`` version does where versions differ (see the module docstring)."""

    #: the measured version these rules describe, as ``buildah --version`` spells it
    measured: str
    #: a written ``RUN --mount`` target already in the image is deleted after the RUN (outside ``/var/``)
    deletes_covered_mount_targets: bool
    #: a secret target that is a file already in the image is deleted with the secret (outside ``/var/``)
    deletes_covered_secret_files: bool
    #: predefined platform ARGs are build arguments: the platform's value wins over an ARG's default
    platform_args_are_build_args: bool
    #: ``buildah run --mount type=bind,rw`` writes through to the host directory (else: to a discarded overlay)
    run_bind_writes_kept: bool = True
    #: predefined platform ARGs an ``ARG NAME=default`` may not redefine (bud fails the build)
    not_redefinable: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """What a layer cache key records of the rules: a layer made under other rules is not reused."""
        return f"bud-{'.'.join(self.measured.split('.')[:2])}"

    def with_platform_args(self, build_args: Mapping[str, str]) -> dict[str, str]:
        """The ``--build-arg`` values the planner should use: under build-argument rules the platform ARGs bud
        predefines join them (a value given on the command line stays)."""
        values = dict(build_args)
        if self.platform_args_are_build_args:
            predefined = platform_args(host_platform(), host_platform(), "")
            for name in BUD.predefined or ():
                values.setdefault(name, predefined[name])
        return values


BUD_1_28 = BudRules(
    measured="1.28.2",
    deletes_covered_mount_targets=True,
    deletes_covered_secret_files=True,
    platform_args_are_build_args=False,
)
BUD_1_39 = BudRules(
    measured="1.39.3",
    deletes_covered_mount_targets=False,
    deletes_covered_secret_files=False,
    platform_args_are_build_args=True,
    run_bind_writes_kept=False,
    not_redefinable=("BUILDPLATFORM", "TARGETPLATFORM"),
)
#: measured versions, oldest first; 1.28 is the floor the backend supports
MEASURED = ((1, 28), BUD_1_28), ((1, 39), BUD_1_39)

VERSION_LINE = re.compile(r"buildah version (\d+)\.(\d+)(?:\.(\d+))?")


def rules_for(version: tuple[int, int]) -> BudRules:
    """The rules of the nearest measured version at or below ``version`` (1.28's below the floor)."""
    chosen = MEASURED[0][1]
    for measured, rules in MEASURED:
        if version >= measured:
            chosen = rules
    return chosen


def parse_version(text: str) -> tuple[int, int] | None:
    """``buildah version 1.39.3 (image-spec ...)`` -> (1, 39); None when the text says no version."""
    match = VERSION_LINE.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


#: where the answer of ``buildah --version`` is kept between builds (``keep_version_in``), or None
_version_record: Path | None = None


def keep_version_in(path: Path) -> None:
    """Keep the installed version's answer in ``path`` (under the cache root): the next build asks the binary
    only when it changed (another size, mtime, ctime or inode: an upgrade replaces it)."""
    global _version_record
    _version_record = path


@functools.lru_cache(maxsize=4)
def installed_version(binary: str = "buildah") -> tuple[int, int] | None:
    """The installed buildah's (major, minor), asked once per process (and once per binary while a record is
    kept, ``keep_version_in``); None when it cannot be run."""
    found = shutil.which(binary)
    try:
        st = os.stat(found) if found else None
    except OSError:
        st = None
    stamp = [found, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev] if st else None
    record = _version_record
    if record is not None and stamp is not None:
        with contextlib.suppress(OSError, ValueError):
            kept = json.loads(record.read_bytes().decode("utf-8"))
            if (
                isinstance(kept, dict)
                and kept.get("binary") == stamp
                and isinstance(kept.get("version"), list)
            ):
                major, minor = kept["version"]
                return int(major), int(minor)
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    version = parse_version(result.stdout)
    if record is not None and stamp is not None and version is not None:
        from shlax_front.backend.store import CacheDirError, write_atomic

        with contextlib.suppress(OSError, CacheDirError):
            write_atomic(record, json.dumps({"binary": stamp, "version": list(version)}))
    return version


def installed(binary: str = "buildah") -> BudRules:
    """The rules of the installed buildah (1.28's, the floor, when it cannot be asked)."""
    version = installed_version(binary)
    return rules_for(version) if version else BUD_1_28


#: ``--mount`` bind options and what ``-v`` calls them (the others are spelled alike)
VOLUME_OPTIONS = {"readonly": "ro", "readwrite": "rw"}


def bind_as_volume(mount: str) -> str:
    """``type=bind,source=S,target=T,OPTS`` (a ``buildah run --mount`` value) as the ``-v`` value binding the
    same directory, ``S:T:OPTS``: a volume's writes reach the directory in every buildah version."""
    fields = dict(part.partition("=")[::2] for part in mount.split(","))
    source = fields.pop("source", None) or fields.pop("src", "")
    target = fields.pop("target", None) or fields.pop("dst", None) or fields.pop("destination", "")
    fields.pop("type", None)
    options = [
        value if key == "bind-propagation" else VOLUME_OPTIONS.get(key, key) for key, value in fields.items()
    ]
    return ":".join([source, target, ",".join(options)]) if options else f"{source}:{target}"


def refuse_redefinitions(rules: BudRules, args: Iterable[ins.Arg], path: str) -> None:
    """A located error for an ``ARG NAME=default`` the bud version refuses (1.39: ``BUILDPLATFORM``,
    ``TARGETPLATFORM``), global or in a stage that is built: bud fails the build there."""
    for arg in args:
        for name, default in arg.pairs:
            if default is not None and name in rules.not_redefinable:
                raise ParseError(
                    f"ARG {name}: buildah {rules.measured.rsplit('.', 1)[0]} refuses a default for the platform "
                    f"ARG it sets (attempted to redefine {name})",
                    path,
                    arg.line,
                    ins.node_text(arg.node),
                )
