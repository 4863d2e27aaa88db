"""Ctrl-C and concurrency on real buildah: nothing left behind, both builds succeed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from buildah_tools import (
    ROOT,
    build_concurrently,
    containers_of,
    forget_layers,
    read_file,
    shlax,
)


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_leaves_no_containers_or_temp_files(tmp_path, base_images):
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN echo started > /s && sleep 60\n")
    tmp_before = {p for p in os.listdir("/tmp") if p.startswith("shlax-front-")}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BUILDAH_ISOLATION": "chroot"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(tmp_path / "cache"), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a Ctrl-C at a terminal: a test run started in the background of a script inherits SIGINT ignored,
        # which the build (rightly) keeps ignoring
        preexec_fn=_sigint_as_at_a_terminal,
    )
    try:
        deadline = time.time() + 60
        while not containers_of(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        assert containers_of(proc.pid), "the build never created its working container"
        time.sleep(2)  # let `buildah run` start
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert containers_of(proc.pid) == set()
    # the build's own temporary directories (named after their owner, pid first, like its containers)
    left = {p for p in os.listdir("/tmp") if p.startswith("shlax-front-") and f"-{proc.pid}." in p}
    assert left - tmp_before == set()
    forget_layers(tmp_path / "cache")


def test_two_concurrent_builds_share_the_cache_root(tmp_path, base_images, buildah_cleanup):
    cache = tmp_path / "cache"
    tags = []
    for n in range(2):
        ctx = tmp_path / f"ctx{n}"
        ctx.mkdir()
        (ctx / "Containerfile").write_text(f"FROM busybox\nCOPY f /f\nRUN sleep 1 && echo {n} > /n\n")
        (ctx / "f").write_text(str(n))
        tags.append(buildah_cleanup.tag())

    results = build_concurrently([tmp_path / f"ctx{n}" for n in range(2)], tags, cache)
    try:
        for n in range(2):
            assert results[n].returncode == 0, results[n].stderr
            assert read_file(tags[n], "/n") == f"{n}\n"
        # both builds' layers are in the index: rebuilding either is fully cached
        for n in range(2):
            again = shlax("build", str(tmp_path / f"ctx{n}"), cache_dir=cache)
            assert " built " not in again.stderr, again.stderr
    finally:
        forget_layers(cache)
