"""Independent stages build at the same time on real buildah (``--jobs``), make the image ``--jobs 1`` makes, and a
failing stage stops the other one and leaves no container.

Each stage's RUN leaves a marker in a host directory mounted with ``-v DIR:/shared`` and waits (at most the
number of seconds in ``/shared/patience``, a file outside every cache key) for the other stage's marker: only
stages that run at once both see the other's. The patience is 0 for the ``--jobs 1`` build, so it waits for
nothing and its keys are still the same.
"""

from __future__ import annotations

import json
import subprocess
import time

from buildah_tools import forget_layers, left_by_finished_builds, read_file, shlax, working_containers

#: how long a stage waits for the other one's marker; never reached when the two overlap
PATIENCE = 20

WAIT_FOR = (
    "touch /shared/{me}; i=0; "
    'while [ ! -e /shared/{other} ] && [ "$i" -lt "$(cat /shared/patience)" ]; do sleep 1; i=$((i+1)); done; '
    "if [ -e /shared/{other} ]; then touch /shared/{me}-saw-{other}; fi"
)
CONTAINERFILE = f"""\
FROM busybox AS left
RUN echo left > /left.txt; {WAIT_FOR.format(me="left", other="right")}
FROM busybox AS right
RUN echo right > /right.txt; {WAIT_FOR.format(me="right", other="left")}
FROM busybox
COPY --from=left /left.txt /
COPY --from=right /right.txt /
"""


def layers(image: str) -> list[str]:
    """The image's layer digests (what its files are made of)."""
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.OCIv1.RootFS.DiffIDs}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip("[]\n").split()


def test_two_independent_stages_overlap_and_make_the_sequential_builds_image(
    base_images, buildah_cleanup, tmp_path
):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(CONTAINERFILE)
    runs = {}
    try:
        for jobs, patience in (("2", PATIENCE), ("1", 0)):
            shared = tmp_path / f"shared-{jobs}"
            shared.mkdir()
            (shared / "patience").write_text(f"{patience}\n")
            tag = buildah_cleanup.tag()
            built = shlax(
                "build", "--jobs", jobs, "--timestamp", "0", "--progress=plain", "-v", f"{shared}:/shared",
                "-t", tag, str(context), cache_dir=tmp_path / f"cache-{jobs}",
            )  # fmt: skip
            runs[jobs] = (built.stdout.strip(), shared, tag, built.stderr)
        image, shared, tag, stderr = runs["2"]
        # each stage saw the other's marker while it waited: they ran at the same time
        assert (shared / "left-saw-right").exists() and (shared / "right-saw-left").exists(), stderr
        assert read_file(tag, "/left.txt") == "left\n" and read_file(tag, "/right.txt") == "right\n"
        # the plain lines name their stage: each RUN's header says [left] or [right]
        assert "[left] RUN echo left" in stderr and "[right] RUN echo right" in stderr
        sequential, shared_1, tag_1, _ = runs["1"]
        assert not (shared_1 / "left-saw-right").exists()  # one after the other: nobody to wait for
        assert sequential == image
        assert layers(tag_1) == layers(tag)
        keys = [
            set(json.loads((tmp_path / f"cache-{jobs}" / "layers" / "index.json").read_text())["entries"])
            for jobs in ("1", "2")
        ]
        assert keys[0] == keys[1]
    finally:
        forget_layers(tmp_path / "cache-1")
        forget_layers(tmp_path / "cache-2")


def test_a_failing_stage_stops_the_other_and_leaves_no_container(base_images, buildah_cleanup, tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    (context / "Containerfile").write_text(
        "FROM busybox AS slow\n"
        "RUN touch /shared/slow-started; sleep 60; touch /shared/slow-finished\n"
        "FROM busybox AS broken\n"
        f"RUN i=0; while [ ! -e /shared/slow-started ] && [ $i -lt {PATIENCE} ]; do sleep 1; i=$((i+1)); done; "
        "echo broken on purpose; exit 3\n"
        "FROM busybox\n"
        "COPY --from=slow /etc/hostname /a\n"
        "COPY --from=broken /etc/hostname /b\n"
    )
    before = working_containers()
    try:
        failed = shlax(
            "build", "--jobs", "2", "--progress=plain", "-v", f"{shared}:/shared", str(context),
            cache_dir=tmp_path / "cache", check=False,
        )  # fmt: skip
        assert failed.returncode == 3, failed.stderr  # the broken stage's RUN status, as bud exits
        # the build's error is the broken stage's, with its location and output
        assert "Containerfile:4: RUN i=0" in failed.stderr and "exited with status 3" in failed.stderr
        assert "broken on purpose" in failed.stderr
        assert (shared / "slow-started").exists()  # the slow stage was running when the other failed...
        time.sleep(1)
        assert not (shared / "slow-finished").exists()  # ... and was stopped, not waited for
        assert left_by_finished_builds(before) == set()
    finally:
        forget_layers(tmp_path / "cache")
