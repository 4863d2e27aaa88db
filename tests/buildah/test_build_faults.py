"""Fault injection against real buildah: a build made to die or fail at a named point (``backend/faults.py``) -
after a layer commit before its index entry, between a cache record's write and its rename, after a RUN wrote
to the host package caches before they are handed back - and then the next build, without the fault.

Each time the next build succeeds with the image a build without any fault makes, and once it has run nothing
of the failed one is left: no working container of a dead build, no mount of one, no temporary file in the
cache directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

from buildah_tools import (
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    mounted_image,
    shlax,
    statuses,
    working_containers,
)
from test_build_equivalence import VOLATILE

from shlax_front.backend import faults, stale

BUSYBOX = "docker.io/library/busybox:latest"


def _image_ids() -> set[str]:
    out = subprocess.run(["buildah", "images", "-a", "-q", "--no-trunc"], capture_output=True, text=True)
    return {line.removeprefix("sha256:") for line in out.stdout.split()}


def _mountpoints() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


class Faulted:
    """Builds of one context with and without a fault; removes every image they made, orphans included."""

    def __init__(self, tmp_path: Path, text: str, buildah_cleanup):
        self.marker = uuid.uuid4().hex
        self.context = tmp_path / "ctx"
        self.context.mkdir()
        (self.context / "Containerfile").write_text(textwrap.dedent(text).replace("MARKER", self.marker))
        (self.context / "f.txt").write_text("f\n")
        self.caches: list[Path] = []
        self.cleanup = buildah_cleanup
        self.before = _image_ids()
        self.tmp = tmp_path

    def build(self, cache: Path, fault: str | None = None, tag: str | None = None):
        env = dict(os.environ)
        if fault:
            env[faults.ENV] = fault
        if cache not in self.caches:
            self.caches.append(cache)
        args = ["-t", tag] if tag else []
        return shlax("build", *args, str(self.context), cache_dir=cache, check=False, env=env)

    def dead_containers(self) -> dict[str, str]:
        """Working containers of dead builds -> their mount point."""
        out = {}
        for name in working_containers():
            if stale.dead_owner(name):
                info = subprocess.run(["buildah", "inspect", name], capture_output=True, text=True)
                out[name] = (json.loads(info.stdout or "{}") or {}).get("MountPoint") or ""
        return out

    def unindexed_images(self) -> set[str]:
        """Images this test's builds made (they carry its marker) that no cache index names: what a build
        killed between a commit and its index entry leaves."""
        indexed: set[str] = set()
        for cache in self.caches:
            index = cache / "layers" / "index.json"
            if index.exists():
                indexed |= {e["image"] for e in json.loads(index.read_text()).get("entries", {}).values()}
        made = set()
        for image in _image_ids() - self.before:
            info = subprocess.run(
                ["buildah", "inspect", "--type", "image", image], capture_output=True, text=True
            )
            if self.marker in info.stdout:
                made.add(image)
        return {
            image for image in made if not any(image.startswith(i) or i.startswith(image) for i in indexed)
        }

    def remove_images(self) -> None:
        """The layers in the private caches' indexes, and those a fault kept out of them (found by the marker
        the Containerfile's RUN lines carry: other builds on this machine never have it)."""
        for cache in self.caches:
            forget_layers(cache)
        for image in _image_ids() - self.before:
            info = subprocess.run(
                ["buildah", "inspect", "--type", "image", image], capture_output=True, text=True
            )
            if self.marker in info.stdout:
                subprocess.run(["buildah", "rmi", "-f", image], capture_output=True)


def _same_image(ours: str, reference: str) -> None:
    assert image_config(ours) == image_config(reference)
    keep = lambda tree: {k: v for k, v in tree.items() if k not in VOLATILE and not k.startswith("/var/log/")}  # noqa: E731
    assert diff_trees(keep(file_tree(ours)), keep(file_tree(reference))) == []


def _nothing_left(cache: Path, dead_before: dict[str, str]) -> None:
    assert [p for p in cache.rglob("*.tmp")] == []
    left = set(working_containers()) & set(dead_before)
    assert left == set(), left
    mounted = _mountpoints()
    assert [m for m in dead_before.values() if m and m in mounted] == []


BUSYBOX_FILE = f"""\
FROM {BUSYBOX}
RUN echo MARKER > /a
COPY f.txt /d/
"""


def test_a_build_failing_or_killed_between_two_writes_leaves_nothing_the_next_build_minds(
    base_images, buildah_cleanup, tmp_path
):
    """Killed (SIGKILL) after a layer commit before its index entry, and killed between a cache record's write
    and its rename (failing or Ctrl-C there are unit tests): the next build makes the reference image and
    leaves no dead build's container, mount or temporary file."""
    run = Faulted(tmp_path, BUSYBOX_FILE, buildah_cleanup)
    try:
        reference = buildah_cleanup.tag("faults-ref")
        assert run.build(tmp_path / "ref-cache", tag=reference).returncode == 0
        for n, fault in enumerate(["layer-committed:kill", "cache-write:kill"]):
            cache = tmp_path / f"cache-{n}"
            failed = run.build(cache, fault)
            assert failed.returncode != 0, fault
            if fault.endswith(":kill"):
                assert failed.returncode == -9
            dead = run.dead_containers()
            if fault == "layer-committed:kill":
                # the kill came after the commit: its layer exists (the commit took the working container
                # with it), and no index names it
                assert run.unindexed_images(), "the build was killed after its first commit"
            ours = buildah_cleanup.tag("faults")
            again = run.build(cache, tag=ours)
            assert again.returncode == 0, (fault, again.stderr)
            _same_image(ours, reference)
            _nothing_left(cache, dead)
    finally:
        run.remove_images()


APT_FILE = """\
FROM debian:bookworm
RUN echo MARKER > /marker && apt-get update && apt-get install -y --no-install-recommends hello \\
    && rm -rf /var/lib/apt/lists/*
"""


def test_a_build_killed_while_it_holds_the_apt_caches_leaves_them_usable(
    base_images, buildah_cleanup, tmp_path
):
    """SIGKILL after the RUN wrote the apt archives and lists, before they are handed back and unlocked: the
    next build takes the locks, installs from the kept archives and makes a working image."""
    run = Faulted(tmp_path, APT_FILE, buildah_cleanup)
    cache = tmp_path / "cache"
    try:
        killed = run.build(cache, "host-caches-used:kill")
        assert killed.returncode == -9
        (deb,) = (cache / "caches" / "apt-cache").glob("*/archives/hello_*.deb")
        dead = run.dead_containers()
        ours = buildah_cleanup.tag("faults-apt")
        again = run.build(cache, tag=ours)
        assert again.returncode == 0, again.stderr
        assert deb.exists()
        with mounted_image(ours) as root:
            assert os.path.exists(os.path.join(root, "usr/bin/hello"))
        _nothing_left(cache, dead)
    finally:
        run.remove_images()


def test_a_build_interrupted_as_its_commit_ends_records_the_layer_it_made(
    base_images, buildah_cleanup, tmp_path
):
    """SIGTERM (as Ctrl-C) while ``buildah commit`` finishes: the build used to lose the id of the image buildah
    had just made (no index entry, never removed: an unnamed image no prune finds). A ``buildah`` in front of the
    real one signals the build once its first commit is done, before the build has read its answer: the build
    ends as interrupted (130), after the layer's index entry, and the next build reuses that layer."""
    run = Faulted(tmp_path, BUSYBOX_FILE, buildah_cleanup)
    shim, signalled = tmp_path / "shim", tmp_path / "signalled"
    shim.mkdir()
    real = shutil.which("buildah")
    (shim / "buildah").write_text(
        f'#!/bin/sh\n{real} "$@"; status=$?\n'
        f'if [ "$1" = commit ] && [ ! -e {signalled} ]; then touch {signalled}; kill -TERM $PPID; fi\n'
        f"exit $status\n"
    )
    (shim / "buildah").chmod(0o755)
    cache = tmp_path / "cache"
    try:
        env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
        run.caches.append(cache)
        interrupted = shlax("build", str(run.context), cache_dir=cache, check=False, env=env)
        assert signalled.exists() and interrupted.returncode == 130, interrupted.stderr
        assert run.unindexed_images() == set()
        again = shlax("build", "--progress=plain", str(run.context), cache_dir=cache)
        assert statuses(again.stderr) == ["from", "cached", "built"]
    finally:
        run.remove_images()
