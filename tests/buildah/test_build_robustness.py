"""Ctrl-C and concurrency on real buildah: nothing left behind, both builds succeed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from buildah_tools import (
    ROOT,
    bud,
    build_concurrently,
    containers_of,
    forget_layers,
    mounted_image,
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


def test_an_onbuild_copy_another_build_removed_before_its_from_is_made_again(
    tmp_path, base_images, buildah_cleanup
):
    """The copy of an ONBUILD image (``onbuild``) is one image per original, shared by the builds of the same
    FROM, and each build removes it at its end: another build's end between this build's making it and its
    ``buildah from`` left the from failing (image not known). A ``buildah`` in front of the real one removes the
    copy just before the first ``buildah from``, as that other build would."""
    parent_dir, ctx, shim = tmp_path / "parent", tmp_path / "ctx", tmp_path / "shim"
    for d in (parent_dir, ctx, shim):
        d.mkdir()
    (parent_dir / "Containerfile").write_text("FROM busybox\nONBUILD RUN mkdir /made\n")
    parent = buildah_cleanup.tag("shlax-onbuild-shared")
    bud(parent_dir / "Containerfile", parent_dir, parent, cleanup=buildah_cleanup)
    (ctx / "Containerfile").write_text(f"FROM {parent}\nRUN echo x > /x\n")
    removed = tmp_path / "removed"
    (shim / "buildah").write_text(
        f"#!/bin/sh\n"
        f'if [ "$1" = from ] && [ ! -e {removed} ]; then\n'
        f'  for image; do :; done\n  {shutil.which("buildah")} rmi "$image" >/dev/null 2>&1; echo $? > {removed}\n'
        f'fi\nexec {shutil.which("buildah")} "$@"\n'
    )
    (shim / "buildah").chmod(0o755)
    tag = buildah_cleanup.tag()
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    try:
        shlax("build", "--format", "docker", "-t", tag, str(ctx), cache_dir=tmp_path / "cache", env=env)
        assert removed.read_text() == "0\n"  # the copy was there, and removed before the from
        assert read_file(tag, "/x") == "x\n"
        with mounted_image(tag) as root:
            assert os.path.isdir(os.path.join(root, "made"))
    finally:
        forget_layers(tmp_path / "cache")
