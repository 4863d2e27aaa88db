"""``shlax-front cache ls|du|prune`` for real: lists what builds left, prunes layers and caches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from buildah_tools import ROOT, forget_layers, shlax, statuses

from shlax_front.backend.statcache import RACY_SECONDS


def cache_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", "cache", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )


def test_ls_du_prune(tmp_path, base_images):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo x > /x\n")
    time.sleep(RACY_SECONDS + 0.5)  # else the build writes no no-op record: its input changed just before it
    try:
        image = shlax("build", str(ctx), cache_dir=cache).stdout.strip()
        (cache / "caches" / "npm").mkdir(parents=True)
        (cache / "caches" / "npm" / "blob").write_bytes(b"x" * 1000)
        listed = json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)
        assert [layer["image"] for layer in listed["layers"]] == [image]
        assert [c["name"] for c in listed["caches"]] == ["npm"]
        du = cache_cli("du", "--cache-dir", str(cache)).stdout
        assert "1.0 kB" in du
        assert len(list((cache / "noop").glob("*.json"))) == 1 and "1 files  noop (no-op records)" in du
        cache_cli("prune", "--cache-dir", str(cache), "--older-than", "1d")  # everything is fresh: kept
        assert json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)["layers"]
        old = time.time() - 3 * 86400
        os.utime(cache / "caches" / "npm" / "blob", (old, old))
        os.utime(cache / "caches" / "npm", (old, old))
        cache_cli("prune", "--cache-dir", str(cache), "--older-than", "2d")
        assert not (cache / "caches" / "npm").exists()
        pruned = cache_cli("prune", "--cache-dir", str(cache))
        assert "1 no-op records" in pruned.stderr and list((cache / "noop").glob("*.json")) == []
        assert json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)["layers"] == []
        gone = subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True)
        assert gone.returncode != 0
        again = shlax("build", str(ctx), cache_dir=cache)
        assert " built " in again.stderr
    finally:
        forget_layers(cache)


def test_prune_removes_layers_a_no_cache_rebuild_replaced(tmp_path, base_images):
    """--no-cache commits a new layer under the same key; the one it replaced is reachable by no key, so it
    must not be lost in the image store: prune removes it even when everything is fresh."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN date +%N > /stamp\n")
    try:
        first = shlax("build", str(ctx), cache_dir=cache).stdout.strip()
        second = shlax("build", "--no-cache", str(ctx), cache_dir=cache).stdout.strip()
        assert first != second
        cache_cli("prune", "--cache-dir", str(cache), "--older-than", "1d")
        gone = subprocess.run(["buildah", "inspect", "--type", "image", first], capture_output=True)
        assert gone.returncode != 0
        kept = subprocess.run(["buildah", "inspect", "--type", "image", second], capture_output=True)
        assert kept.returncode == 0
    finally:
        forget_layers(cache)


def test_prune_of_a_layer_keeps_the_layers_under_it_the_index_still_has(tmp_path, base_images):
    """``buildah rmi`` of an unnamed image also removes its unnamed parents nothing else descends from: pruning
    only the last layer (its entry older than --older-than, the others fresh) took the two RUN layers under it,
    which the index still pointed at, and the next build ran both again."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo 1 > /1\nRUN echo 2 > /2\nCOPY f /f\n")
    (ctx / "f").write_text("f\n")
    try:
        shlax("build", str(ctx), cache_dir=cache)
        path = cache / "layers" / "index.json"
        data = json.loads(path.read_text())
        runs = [e["image"] for e in data["entries"].values() if e["step"].startswith("RUN")]
        for entry in data["entries"].values():
            if entry["step"].startswith("COPY"):
                entry["created"] = time.time() - 3 * 86400
        path.write_text(json.dumps(data))
        cache_cli("prune", "--cache-dir", str(cache), "--older-than", "1d")
        for image in runs:
            kept = subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True)
            assert kept.returncode == 0, f"{image} (RUN layer, still in the index) was removed"
        assert len(json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)["layers"]) == 2
        again = shlax("build", "--progress=plain", str(ctx), cache_dir=cache)
        assert statuses(again.stderr) == ["from", "cached", "cached", "built"]
    finally:
        forget_layers(cache)


def test_prune_waits_for_a_build_between_a_cached_step_and_its_container(tmp_path, base_images):
    """A build found its first RUN cached (its image listed) and makes its next step's working container of that
    image later; a prune in between removed the image and the build failed ("image not known"). Builds hold the
    layer images (``store.LayerIndex.hold_images``): the prune says it waits, then removes them after the build.
    A ``buildah`` in front of the real one holds the build's first ``buildah from`` until the prune waits."""
    ctx, cache, shim = tmp_path / "ctx", tmp_path / "cache", tmp_path / "shim"
    ctx.mkdir()
    shim.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo 1 > /1\nARG N=1\nRUN echo $N > /n\n")
    started, go = tmp_path / "started", tmp_path / "go"
    real = shutil.which("buildah")
    (shim / "buildah").write_text(
        f"#!/bin/sh\n"
        f'if [ "$1" = from ] && [ ! -e {started} ]; then\n'
        f"  touch {started}; n=0\n"
        f"  while [ ! -e {go} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\n"
        f'fi\nexec {real} "$@"\n'
    )
    (shim / "buildah").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BUILDAH_ISOLATION": "chroot"}
    try:
        shlax("build", str(ctx), cache_dir=cache)
        build = subprocess.Popen(
            [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), "--build-arg", "N=2"]
            + ["--progress=plain", str(ctx)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PATH": f"{shim}:{env['PATH']}"},
        )
        try:
            while not started.exists() and build.poll() is None:
                time.sleep(0.05)
            assert started.exists(), build.communicate()[1]
            prune = subprocess.Popen(
                [sys.executable, "-m", "shlax_front", "cache", "prune", "--force", "--cache-dir", str(cache)],
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert prune.stderr is not None
            first = prune.stderr.readline()
        finally:
            go.touch()
        out, err = build.communicate(timeout=120)
        rest = prune.communicate(timeout=120)[1]
        assert "waiting for the cached layer images" in first, first + rest
        assert build.returncode == 0, err
        assert "1 steps reused" in err  # the RUN found cached was built on, not built again
        assert prune.returncode == 0 and "removed " in rest
        assert json.loads(cache_cli("ls", "--cache-dir", str(cache), "--json").stdout)["layers"] == []
    finally:
        forget_layers(cache)
