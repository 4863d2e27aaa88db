"""A user's own pip cache handed to a container's non-root USER, for real: given back after the RUN, and given
back by the next build when the one that handed it over was killed (SIGKILL: no clean-up code ran), and the
build root's own wheelhouse, handed over with it, too (the next build with that root uses it and gives it back).

The container is busybox (no pip there: the RUN's ``pip install`` fails and ``|| true`` ends it well), which is
enough: the cache is mounted, handed over and handed back all the same, in about a second per build.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from test_build_faults import Faulted

from shlax_front.backend.hostcache import handover_marker

AS_USER = """\
FROM busybox
USER 1234:1234
RUN echo MARKER && pip install six || true
"""

AS_ROOT = """\
FROM busybox
RUN echo MARKER && pip install six || true
"""


def owners(top: Path) -> set[int]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            found.add(os.lstat(name).st_uid)
    return found


def test_a_handed_over_pip_cache_comes_back_even_after_a_kill(
    base_images, buildah_cleanup, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    pip = home / ".cache" / "pip"
    (pip / "http").mkdir(parents=True)
    (pip / "http" / "kept").write_text("from an earlier pip run")
    monkeypatch.setenv("HOME", str(home))  # the builds' environment: the invoking user's home
    monkeypatch.delenv("SUDO_UID", raising=False)
    (tmp_path / "user").mkdir()
    (tmp_path / "root").mkdir()
    as_user = Faulted(tmp_path / "user", AS_USER, buildah_cleanup)
    as_root = Faulted(tmp_path / "root", AS_ROOT, buildah_cleanup)
    dead: dict[str, str] = {}
    try:
        killed = as_user.build(tmp_path / "cache", "host-caches-used:kill")
        assert killed.returncode == -9
        dead = as_user.dead_containers()
        assert owners(pip) == {1234} and handover_marker(pip).exists()  # what the kill left
        wheelhouse = tmp_path / "cache" / "caches" / "pip-wheelhouse"  # the build root's own, handed over too
        assert owners(wheelhouse) == {1234} and handover_marker(wheelhouse).exists()

        repaired = as_root.build(tmp_path / "cache")  # a build that hands nothing over, with the same root
        assert repaired.returncode == 0, repaired.stderr
        assert owners(pip) == {os.getuid()} and not handover_marker(pip).exists()
        assert owners(wheelhouse) == {os.getuid()} and not handover_marker(wheelhouse).exists()
        assert (pip / "http" / "kept").read_text() == "from an earlier pip run"

        done = as_user.build(tmp_path / "cache3")
        assert done.returncode == 0 and " built " in done.stderr, done.stderr
        assert owners(pip) == {os.getuid()} and not handover_marker(pip).exists()
    finally:
        for name in dead:
            subprocess.run(["buildah", "rm", name], capture_output=True)
        as_user.remove_images()
        as_root.remove_images()
