"""Two independent stages, built one after the other and at the same time: wall time of a cold build.

WHY: a multi-stage file whose stages do not use each other (a tool built here, assets built there, both copied
into the final stage) need not wait for one stage to finish before the next starts; ``--jobs`` lets them
overlap. The issue's target is at most 0.7x the wall time of building them one after the other.

Each row is one cold build of the same Containerfile (``debian:bookworm``; each stage compresses data of its
own in a RUN and keeps a small result, as a compiler keeps a binary: CPU bound, no network): shlax-front with
``--jobs 1`` and ``--jobs 2``, each with a new ``--cache-dir`` and ``--no-cache``, and ``buildah bud --layers
--no-cache`` with ``--jobs 1`` and ``--jobs 2`` (bud 1.28 has ``--jobs``). Ratios are within a contender,
measured in the same run; the load average is printed beside each row because the machine is shared. The
images and layers the builds made are removed.

    python tests/bench/parallel_stages.py [--rounds N] [--megabytes M]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "docker.io/library/debian:bookworm"

CONTAINERFILE = """\
FROM {base} AS left
RUN head -c {mb}M /dev/urandom | gzip -6 | sha256sum > /left.sum
FROM {base} AS right
RUN head -c {mb}M /dev/urandom | gzip -6 | sha256sum > /right.sum
FROM {base}
COPY --from=left /left.sum /
COPY --from=right /right.sum /
"""


def load() -> str:
    """The 1-minute load average now."""
    return f"{os.getloadavg()[0]:.2f}"


class Failed(Exception):
    """A build of a row failed (the machine is shared: another build may remove a container under bud)."""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run one build; its wall time and what it printed (stdout + stderr)."""
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    took = time.monotonic() - started
    if done.returncode != 0:
        print(f"{' '.join(argv[:6])}... failed ({done.returncode}):\n{done.stderr[-1500:]}", file=sys.stderr)
        raise Failed
    return took, done.stdout + done.stderr


#: images the builds made, removed at the end
made: list[str] = []


def shlax_front(context: Path, jobs: int, scratch: Path, env: dict[str, str]) -> float:
    cache = Path(tempfile.mkdtemp(prefix=f"cache-{jobs}-", dir=scratch))
    argv = [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), "--no-cache"]
    try:
        took, _ = timed([*argv, "--jobs", str(jobs), "--progress=plain", str(context)], env)
    finally:
        index = cache / "layers" / "index.json"
        if index.exists():
            made.extend(entry["image"] for entry in json.loads(index.read_text())["entries"].values())
    return took


def bud(context: Path, jobs: int, env: dict[str, str]) -> float:
    argv = ["buildah", "bud", "--layers", "--no-cache", "--jobs", str(jobs), str(context)]
    took, printed = timed(argv, env)
    made.extend(re.findall(r"^--> ([0-9a-f]{6,64})$", printed, re.M))
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="cold builds per row (the median is shown)")
    parser.add_argument("--megabytes", type=int, default=160, help="data each stage compresses")
    parser.add_argument("--no-bud", action="store_true", help="shlax-front rows only")
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot"),
    }
    scratch = Path(tempfile.mkdtemp(prefix="shlax-bench-parallel-"))
    context = scratch / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(CONTAINERFILE.format(base=BASE_IMAGE, mb=args.megabytes))
    rows: list[tuple[str, int, float | None, str]] = []
    contenders = ["shlax-front build"] + ([] if args.no_bud else ["buildah bud --layers"])
    try:
        for name in contenders:
            for jobs in (1, 2):
                walls: list[tuple[float, str]] = []
                for _ in range(args.rounds):
                    before = load()
                    try:
                        if name.startswith("shlax"):
                            walls.append((shlax_front(context, jobs, scratch, env), before))
                        else:
                            walls.append((bud(context, jobs, env), before))
                    except Failed:
                        continue
                walls.sort()
                took, before = walls[len(walls) // 2] if walls else (None, load())
                rows.append((name, jobs, took, before))
    finally:
        if made:
            subprocess.run(["buildah", "rmi", "-f", *sorted(set(made))], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"Two independent stages ({args.megabytes} MB compressed in each), cold, {args.rounds} round(s) per row"
    )
    print()
    print("| contender | --jobs | wall (s) | x --jobs 1 | load (1 min) |")
    print("|---|---|---|---|---|")
    sequential = {name: took for name, jobs, took, _ in rows if jobs == 1}
    for name, jobs, took, before in rows:
        first = sequential.get(name)
        ratio = f"{took / first:.2f}x" if took is not None and first else "-"
        wall = f"{took:.1f}" if took is not None else "failed"
        print(f"| {name} | {jobs} | {wall} | {ratio} | {before} |")


if __name__ == "__main__":
    main()
