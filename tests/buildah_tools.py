"""Helpers for the real-buildah tests: run the CLI, read an image's file tree and config, build with bud."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from shlax_front.backend.runner import REEXEC_RETRIES, REEXEC_SEAL_FAILURE

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "build"

#: image config fields both builds must agree on (docker format names)
CONFIG_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
)


def shlax(*args: str, cache_dir: str | os.PathLike, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m shlax_front build ...`` for real; stdout is the image id."""
    env = {
        **kw.pop("env", os.environ),
        "PYTHONPATH": str(ROOT),
        "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "shlax_front", *args[:1], "--cache-dir", str(cache_dir), *args[1:]],
        capture_output=True,
        text=True,
        env=env,
        **kw,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"shlax-front {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def run_bud(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """``subprocess.run`` of a ``buildah bud`` command line, with its output captured as text; started again
    when buildah stopped at its self re-execution, before doing anything, as shlax-front's own runner does
    (``runner.failed_to_reexec``: the kernel refused for a moment to seal the copy of its binary). bud gets
    ``--force-rm``: a build a test expects to fail otherwise leaves its working container (bud's default), as
    ``busybox-working-container`` in the shared store."""
    if argv[:2] == ["buildah", "bud"] and "--force-rm" not in argv:
        argv = [*argv[:2], "--force-rm", *argv[2:]]
    for _ in range(REEXEC_RETRIES + 1):
        result = subprocess.run(argv, capture_output=True, text=True, **kw)
        if not (result.returncode != 0 and REEXEC_SEAL_FAILURE in result.stdout + result.stderr):
            break
        time.sleep(0.1)
    return result


def bud(containerfile: Path, context: Path, tag: str, *extra: str, cleanup=None) -> str:
    """``buildah bud --layers --format docker``; the image id. ``--layers`` leaves an image per step (and per
    stage) behind: their ids, printed as ``--> ID``, are handed to ``cleanup.layers`` to be removed after the test."""
    result = run_bud(
        [
            "buildah",
            "bud",
            "--layers",
            "--format",
            "docker",
            "-f",
            str(containerfile),
            "-t",
            tag,
            *extra,
            str(context),
        ]
    )
    assert result.returncode == 0, result.stderr
    if cleanup is not None:
        cleanup.layers(layers_made(result.stdout))
    return result.stdout.strip().splitlines()[-1]


def layers_made(output: str) -> list[str]:
    """The step images a ``buildah bud --layers`` run made (``--> ID``), not those it reused (``--> Using cache
    ID``, then ``--> ID`` again, shortened): a reused one may be another build's in a shared store, and a test
    removes only what it made."""
    reused = re.findall(r"^--> Using cache ([0-9a-f]{6,64})$", output, re.M)
    made = re.findall(r"^--> ([0-9a-f]{6,64})$", output, re.M)
    return [i for i in made if not any(full.startswith(i) for full in reused)]


def image_config(ref: str) -> dict:
    info = json.loads(
        subprocess.run(
            ["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True, check=True
        ).stdout
    )
    config = (info.get("Docker") or {}).get("config") or {}
    return {name: config.get(name) or None for name in CONFIG_FIELDS}


@contextlib.contextmanager
def mounted_image(ref: str):
    """The root directory of a throwaway container of ``ref``, removed on exit."""
    ctr = subprocess.run(
        ["buildah", "from", "--pull=never", "--quiet", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield subprocess.run(
            ["buildah", "mount", ctr], capture_output=True, text=True, check=True
        ).stdout.strip()
    finally:
        subprocess.run(["buildah", "umount", ctr], capture_output=True)
        subprocess.run(["buildah", "rm", ctr], capture_output=True)


def file_tree(ref: str) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, sha256 or link target) for every file in the image; mtimes ignored."""
    tree = {}
    with mounted_image(ref) as root:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                rel = "/" + os.path.relpath(path, root)
                if stat.S_ISLNK(st.st_mode):
                    body = os.readlink(path)
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        body = hashlib.sha256(f.read()).hexdigest()
                else:
                    body = ""
                tree[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)
    return tree


def read_file(ref: str, path: str) -> str:
    with mounted_image(ref) as root, open(os.path.join(root, path.lstrip("/"))) as f:
        return f.read()


def forget_layers(cache_dir: Path) -> None:
    """Remove the intermediate images a test's private cache index points at (and only those)."""
    index = Path(cache_dir) / "layers" / "index.json"
    if not index.exists():
        return
    data = json.loads(index.read_text())
    images = {entry["image"] for entry in data.get("entries", {}).values()} | set(data.get("superseded", {}))
    if images:
        subprocess.run(["buildah", "rmi", "-f", *images], capture_output=True)


def statuses(stderr: str) -> list[str]:
    """The status word of each step's end line in the plain progress (``#3 cached 0.00s``)."""
    return re.findall(r"^#\d+ (from|cached|built|config) \d", stderr, re.M)


def run_output(stderr: str) -> str:
    """What the steps printed, without the plain progress's ``#3 1.234 `` before each of their lines."""
    return re.sub(r"^#\d+ \d+\.\d{3} ", "", stderr, flags=re.M)


def printed_lines(stderr: str) -> list[str]:
    """Only the lines the steps' commands printed (plain progress), never the step headers that quote the
    instruction: a test looking for a word the RUN would print must not find it in the RUN's own text."""
    return re.findall(r"^#\d+ \d+\.\d{3} (.*)$", stderr, flags=re.M)


def diff_trees(a: dict, b: dict) -> list[str]:
    problems = []
    for path in sorted(set(a) | set(b)):
        if a.get(path) != b.get(path):
            problems.append(f"{path}: {a.get(path)} != {b.get(path)}")
    return problems


def working_containers() -> set[str]:
    """Names of the working containers shlax-front builds have now (theirs start with ``shlax-front-``)."""
    for attempt in range(5):  # the listing fails (125) while another build removes a container: ask again
        listed = subprocess.run(
            ["buildah", "containers", "--format", "{{.ContainerName}}"], capture_output=True, text=True
        )
        if listed.returncode == 0:
            return {name for name in listed.stdout.split() if name.startswith("shlax-front-")}
        time.sleep(0.2 * (attempt + 1))
    raise AssertionError(f"buildah containers failed: {listed.stderr}")


def containers_of(pid: int) -> set[str]:
    """The working containers the build running (or run) as process ``pid`` made and still has: other builds
    may share the image store while a test runs, so a test looks at its own build's only."""
    return {name for name in working_containers() if name.startswith(f"shlax-front-{pid}.")}


def left_by_finished_builds(before: set[str]) -> set[str]:
    """Working containers that appeared since ``before`` and whose build is no longer running: what a finished
    build left behind (a build still running elsewhere on the machine is not this test's business)."""
    from shlax_front.backend.stale import dead_owner

    return {name for name in working_containers() - before if dead_owner(name)}


def build_concurrently(
    contexts: list[Path], tags: list[str], cache_dir: Path
) -> list[subprocess.CompletedProcess]:
    """Run one ``shlax-front build`` per context at the same time, sharing ``cache_dir``; their results in order."""
    results: dict[int, subprocess.CompletedProcess] = {}

    def run(n: int) -> None:
        results[n] = shlax("build", "-t", tags[n], str(contexts[n]), cache_dir=cache_dir, check=False)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[n] for n in range(len(contexts))]
