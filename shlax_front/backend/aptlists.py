"""Offline first for apt: ``apt-get update`` is skipped while the host's package lists are fresh.

Every ``RUN apt-get update && apt-get install ...`` fetches the release files again (about 240 kB for
Debian 12, this mirror answers conditional requests in full) and costs a network round trip, even
when the host cache got the very same lists a minute ago. With the lists on the host, the update can be
skipped while they are younger than a TTL (``--lists-ttl``, default one hour) - the same trade
``apt-get`` users make by hand, and what makes a warm ``--offline`` build quiet and quick.

How, without touching the image or the script:

- A small shell script named ``apt-get`` (and one named ``apt``) is mounted for the RUN only in a
  directory put first on that RUN's ``PATH``. Replacing ``/usr/bin/apt-get`` itself is not an option: a
  dist-upgrade that brings a new apt renames a file over it, which fails on a mount point.
- The script only ever skips a plain ``update`` (``-q``/``-y`` allowed): any other verb, option or
  command runs the real binary untouched, so a RUN that asks for something unusual is never second-guessed.
- An update is skipped only when the lists were last refreshed under the same apt configuration: a
  fingerprint of the sources, the apt configuration and dpkg's foreign architectures, computed in the
  container at the moment of the update, must equal the one recorded then. A RUN that adds a repository
  and updates gets a real update, because its fingerprint differs.
- The record (``stamp``: time and fingerprint) is removed before a real update and written again after
  one that ended with status 0 and printed no ``W:``/``E:`` line (a failed fetch leaves a mix of old and
  new lists behind, with status 0).
  It lives in a state directory next to the lists partition, mounted read-write for the run, under the
  lists' exclusive lock: apt's own clean-up would delete a stranger inside the lists directory.
- Under ``--offline`` any recorded lists count as fresh: the update could only fail.

Only RUNs whose lists are a host cache get the script (the passes mount the lists when the RUN deletes
them, so the image has none either way); a RUN that keeps its lists in the image updates as written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from shlax_front.backend.hostcache import records_directory
from shlax_front.backend.plan import DEFAULT_PATH
from shlax_front.backend.rootfs import inside
from shlax_front.backend.steps import HostCache
from shlax_front.backend.users import user_id

SHIM_DIR = "/run/shlax-front/bin"
STATE_TARGET = "/run/shlax-front/apt-lists-state"
LISTS_TARGET = "/var/lib/apt/lists"
DEFAULT_TTL = 3600
#: the executables the script stands in for, and where apt puts them
TOOLS = ("apt-get", "apt")
TOOL_DIRS = ("/usr/bin", "/bin")

SHIM = r"""#!/bin/sh
# shlax-front: mounted for this RUN only (never in the image). A plain `{tool} update` is skipped while
# the host cache's package lists are fresh; anything else runs {real} untouched.
real={real}
state={state}
ttl={ttl}
root={root}
update=
for arg in "$@"; do
    case "$arg" in
        update) if [ -n "$update" ]; then exec "$real" "$@"; fi; update=1 ;;
        -q|-qq|-y|-qy|-yq|-qqy|-yqq|--quiet|--quiet=*|--yes|--assume-yes) ;;
        *) exec "$real" "$@" ;;
    esac
done
[ -n "$update" ] || exec "$real" "$@"
fingerprint() {{
    {{
        echo "$root"/etc/apt/sources.list.d/* "$root"/etc/apt/apt.conf.d/*
        cat "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/* "$root"/etc/apt/apt.conf \
            "$root"/etc/apt/apt.conf.d/* "$root"/var/lib/dpkg/arch
    }} 2>/dev/null | cksum
}}
now=$(date +%s)
seen=$(fingerprint)
if [ -r "$state/stamp" ] && ls "$root"{lists}/*Packages* >/dev/null 2>&1; then
    read -r when recorded < "$state/stamp"
    age=$((now - when))
    if [ "$recorded" = "$seen" ] && {{ [ "$ttl" -lt 0 ] || [ "$age" -lt "$ttl" ]; }}; then
        echo "shlax-front: package lists refreshed ${{age}}s ago, \`{tool} update\` skipped"
        exit 0
    fi
fi
rm -f "$state/stamp"  # the update rewrites the lists: until it ends well, they match no record
"$real" "$@" 2>"$state/stderr.$$"
status=$?
cat "$state/stderr.$$" >&2
if [ "$status" -eq 0 ] && ! grep -q '^[WE]:' "$state/stderr.$$"; then
    echo "$now $seen" > "$state/stamp.$$" && mv -f "$state/stamp.$$" "$state/stamp"
fi
rm -f "$state/stderr.$$"
exit "$status"
"""


def mount_stand_ins(
    rootfs: str,
    scratch: str,
    lists: Path,
    ttl: int,
    env: Sequence[tuple[str, str]],
    volumes: list[str],
    targets: list[str],
    container_path: Callable[[], str | None],
) -> list[tuple[str, str]]:
    """Mount the ``apt-get update`` stand-ins for a RUN whose lists are the host cache directory ``lists``
    (``ttl``: 0 always updates, negative takes any recorded lists as fresh); appends to ``volumes`` and
    ``targets`` and returns the run-only environment they need (their directory first on ``PATH``).
    ``container_path`` gives the image's ``PATH`` when the RUN's environment has none."""
    if ttl == 0:
        return []
    path = next((v for k, v in reversed(env) if k == "PATH"), None) or container_path()
    tools = real_tools(rootfs, path)
    if not tools:
        return []
    shims = os.path.join(scratch, "bin")
    os.mkdir(shims)
    for tool, real in tools.items():
        with open(os.path.join(shims, tool), "w") as f:
            f.write(shim_script(tool, real, ttl))
        os.chmod(os.path.join(shims, tool), 0o755)
    state_dir = records_directory(lists)
    state_dir.mkdir(exist_ok=True)
    clear_leftovers(state_dir)
    volumes += [f"{shims}:{SHIM_DIR}:ro", f"{state_dir}:{STATE_TARGET}"]
    targets += [SHIM_DIR, STATE_TARGET]
    return [("PATH", shimmed_path(path))]


def replay_layout(rootfs: str, caches: tuple[HostCache, ...], script: str | None = None) -> None:
    """Leave in the layer what apt leaves under a directory that was a host cache during the run.

    Without the mount, ``buildah bud``'s image has apt's own bookkeeping there: ``archives/lock`` and an
    ``archives/partial`` owned by ``_apt`` (mode 0700), and - because the passes only mount the lists when
    the RUN deletes them - an empty ``/var/lib/apt/lists``. The mount hid all that from the layer, so it is
    replayed here; the downloaded files themselves stay in the host cache. ``script``: the RUN's shell
    script as written, whose ``rm`` of paths in the apt cache the passes dropped (it would only have emptied
    the host cache): what it deletes after apt ran is deleted from the layer too (``_delete_after_apt``).
    """
    targets = {c.target.rstrip("/") for c in caches}
    archives = None
    if "/var/cache/apt" in targets:
        archives = "/var/cache/apt/archives"
    elif "/var/cache/apt/archives" in targets:
        archives = "/var/cache/apt/archives"
    if archives:
        base = inside(rootfs, archives)
        os.makedirs(base, 0o755, exist_ok=True)
        lock = os.path.join(base, "lock")
        if not os.path.lexists(lock):
            os.close(os.open(lock, os.O_CREAT | os.O_WRONLY, 0o640))
            os.chmod(lock, 0o640)
        partial = os.path.join(base, "partial")
        os.makedirs(partial, 0o700, exist_ok=True)
        apt_uid = user_id(rootfs, "_apt")
        os.chown(partial, apt_uid, 0)
        os.chmod(partial, 0o700)
    if archives and script:
        _delete_after_apt(rootfs, script, "/var/cache/apt")
    if LISTS_TARGET in targets:
        lists = inside(rootfs, LISTS_TARGET)
        if os.path.isdir(lists):
            for name in os.listdir(lists):
                path = os.path.join(lists, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(path)


def _delete_after_apt(rootfs: str, script: str, target: str) -> None:
    """Delete from ``rootfs`` what the ``rm`` commands of ``script`` that run after its last apt command delete
    under ``target`` (``rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*``: bud's image has no
    ``archives/lock`` nor ``archives/partial``, nor the base image's ``archives`` for ``rm -rf
    /var/cache/apt/archives``). Globs match as ``sh`` matches them (no dot files); a path whose directory is
    a symbolic link, or that is computed at run time, is left alone."""
    import glob

    from shlax_front import managers, shell
    from shlax_front.managers.paths import relation, rm_paths

    parsed = shell.parse(script)
    if parsed.opaque:
        return
    apt = [c.start for c in parsed.commands if (m := managers.find(c)) is not None and m.name == "apt"]
    for cmd, paths in rm_paths(parsed, {}, None):
        if cmd.start < 0 or cmd.depth or not apt or cmd.start < max(apt):
            continue
        for _word, path in paths:
            if path is None or relation(path, target) != "inside":
                continue
            parent = os.path.dirname(inside(rootfs, path.rstrip("/")))
            if os.path.realpath(parent) != os.path.normpath(parent):
                continue  # a link on the way: not followed out of the root
            for found in glob.glob(glob.escape(parent) + "/" + os.path.basename(path.rstrip("/"))):
                if os.path.isdir(found) and not os.path.islink(found):
                    shutil.rmtree(found, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(found)


def shim_script(tool: str, real: str, ttl: int, state: str = STATE_TARGET, root: str = "") -> str:
    """The stand-in for ``tool``; ``ttl`` in seconds, negative for "any age" (``--offline``).
    ``root`` prefixes the container paths it reads (empty in a RUN; a directory in tests)."""
    return SHIM.format(
        tool=tool, real=_quote(real), state=_quote(state), ttl=int(ttl), root=_quote(root), lists=LISTS_TARGET
    )


def real_tools(rootfs: str, path: str | None) -> dict[str, str]:
    """{tool: its path in the container} for the apt executables the RUN would find on its ``PATH``
    (a stand-in must never make a command work that would fail as written)."""
    searched = (path or DEFAULT_PATH).split(":")
    found = {}
    for tool in TOOLS:
        for directory in (d for d in searched if d in TOOL_DIRS):
            path = f"{directory}/{tool}"
            if os.path.isfile(os.path.join(rootfs, path.lstrip("/"))):
                found[tool] = path
                break
    return found


def clear_leftovers(state: Path) -> None:
    """Remove what an interrupted script left (its stderr copy, an unrenamed stamp): never a half-record."""
    if state.is_dir():
        for entry in state.iterdir():
            if entry.name.startswith(("stderr.", "stamp.")):
                entry.unlink(missing_ok=True)


def shimmed_path(path: str | None) -> str:
    """The RUN's ``PATH`` with the script directory first."""
    return f"{SHIM_DIR}:{path or DEFAULT_PATH}"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
