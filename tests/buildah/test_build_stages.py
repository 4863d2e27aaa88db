"""Multi-stage builds, --target, heredocs and ONBUILD on real buildah."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest
from buildah_tools import (
    FIXTURES,
    bud,
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    layers_made,
    read_file,
    run_bud,
    shlax,
    statuses,
)

from shlax_front.backend.onbuild import without_triggers


def test_heredocs_are_lowered(base_images, buildah_cleanup, tmp_path):
    folder = FIXTURES / "heredoc"
    tag = buildah_cleanup.tag()
    try:
        shlax("build", "-t", tag, str(folder), cache_dir=tmp_path)
        for path, content in json.loads((folder / "expected.json").read_text()).items():
            assert read_file(tag, path) == content, path
        assert read_file(tag, "/shebang.txt").startswith("script with shebang: /run/shlax-front/heredoc-")
        # the script file was mounted for the run only
        ctr = subprocess.run(
            ["buildah", "from", "--pull=never", "-q", tag], capture_output=True, text=True, check=True
        ).stdout.strip()
        buildah_cleanup.container(ctr)
        ls = subprocess.run(["buildah", "run", ctr, "--", "ls", "-a", "/run"], capture_output=True, text=True)
        assert "shlax-front" not in ls.stdout
        again = shlax("build", str(folder), cache_dir=tmp_path)
        assert "built" not in statuses(again.stderr)
    finally:
        forget_layers(tmp_path)


def test_target_builds_only_needed_stages_and_caches_per_stage(base_images, buildah_cleanup, tmp_path):
    folder = FIXTURES / "multistage"
    tag = buildah_cleanup.tag()
    try:
        result = shlax("build", "--target", "final", "-t", tag, str(folder), cache_dir=tmp_path)
        assert "echo never" not in result.stderr
        assert "[extra]" not in result.stderr
        assert read_file(tag, "/srv/version.txt") == "version 1.0\n"
        changed = shlax(
            "build",
            "--target",
            "final",
            "--build-arg",
            "VERSION=2.0",
            "-t",
            tag,
            str(folder),
            cache_dir=tmp_path,
        )
        # the builder's RUN and everything in final that copies from it rebuild
        assert statuses(changed.stderr).count("built") == 4, changed.stderr
        assert read_file(tag, "/srv/version.txt") == "version 2.0\n"
        full = shlax("build", "--build-arg", "VERSION=2.0", str(folder), cache_dir=tmp_path)
        assert statuses(full.stderr).count("built") == 1, full.stderr  # only extra's RUN is new
    finally:
        forget_layers(tmp_path)


def test_onbuild_triggers_run_in_the_child(base_images, buildah_cleanup, tmp_path):
    parent_dir = tmp_path / "parent"
    parent_dir.mkdir()
    parent = buildah_cleanup.tag("shlax-onbuild-parent")
    (parent_dir / "Containerfile").write_text(
        "FROM busybox\nONBUILD RUN echo from-trigger > /triggered.txt\n"
    )
    child_dir = tmp_path / "child"
    child_dir.mkdir()
    (child_dir / "Containerfile").write_text(f"FROM {parent}\nRUN cat /triggered.txt > /seen.txt\n")
    child = buildah_cleanup.tag("shlax-onbuild-child")
    try:
        shlax("build", "-t", parent, str(parent_dir), cache_dir=tmp_path / "cache")
        assert image_config(parent)["OnBuild"] == ["RUN echo from-trigger > /triggered.txt"]
        shlax("build", "-t", child, str(child_dir), cache_dir=tmp_path / "cache")
        assert read_file(child, "/seen.txt") == "from-trigger\n"
        assert image_config(child)["OnBuild"] is None
    finally:
        forget_layers(tmp_path / "cache")


def _docker_view(ref: str) -> dict:
    return json.loads(
        subprocess.run(
            ["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True, check=True
        ).stdout
    )["Docker"]


def _image_ids() -> set[str]:
    listed = subprocess.run(
        ["buildah", "images", "--all", "--quiet", "--no-trunc"], capture_output=True, text=True, check=True
    )
    return {line.strip().removeprefix("sha256:") for line in listed.stdout.split()}


ONBUILD_PARENT = "FROM busybox\nRUN echo p > /p\nONBUILD COPY app.txt /app.txt\nONBUILD RUN mkdir /made\n"


def _onbuild_parent(tmp_path, buildah_cleanup) -> str:
    """A parent image built by bud (``--format docker``: OCI has no ONBUILD) whose triggers cannot run twice."""
    parent_dir = tmp_path / "parent"
    parent_dir.mkdir()
    (parent_dir / "Containerfile").write_text(ONBUILD_PARENT)
    parent = buildah_cleanup.tag("shlax-onbuild-parent")
    bud(parent_dir / "Containerfile", parent_dir, parent, cleanup=buildah_cleanup)
    return parent


def _built_as_bud(ctx, cache, buildah_cleanup, layers: int):
    """The context built by shlax-front and by bud (``--format docker``): the same files, config and number of
    layers; shlax-front's run and both images' Docker views."""
    ours, theirs = buildah_cleanup.tag("shlax-onbuild-ours"), buildah_cleanup.tag("shlax-onbuild-bud")
    built = shlax("build", "--format", "docker", "-t", ours, str(ctx), cache_dir=cache)
    bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
    assert not diff_trees(file_tree(ours), file_tree(theirs))
    assert image_config(ours) == image_config(theirs)
    mine, buds = _docker_view(ours), _docker_view(theirs)
    assert len(mine["rootfs"]["diff_ids"]) == len(buds["rootfs"]["diff_ids"]) == layers
    return built, ours, mine, buds


def _history(view: dict) -> list:
    return [(h.get("created_by"), h.get("empty_layer", False)) for h in view["history"]]


def test_onbuild_triggers_that_cannot_run_twice_run_once_as_in_bud(base_images, buildah_cleanup, tmp_path):
    """``buildah from`` (the CLI) runs a base image's triggers itself, from its own working directory and without
    a shell: shlax-front's working containers are made from a copy without them (``onbuild``), the triggers run
    once as the child build's steps, and the copy is gone after the build."""
    parent = _onbuild_parent(tmp_path, buildah_cleanup)
    assert _docker_view(parent)["config"]["OnBuild"] == ["COPY app.txt /app.txt", "RUN mkdir /made"]
    stored = json.loads(
        subprocess.run(
            ["buildah", "inspect", "--type", "image", parent], capture_output=True, text=True, check=True
        ).stdout
    )
    made = without_triggers(stored["Config"], stored["Manifest"])
    assert made is not None
    copy = hashlib.sha256(made[0]).hexdigest()
    child_dir = tmp_path / "child"
    child_dir.mkdir()
    (child_dir / "app.txt").write_text("app\n")
    (child_dir / "Containerfile").write_text(f"FROM {parent}\nRUN ls -d /made /app.txt > /seen\n")
    cache = tmp_path / "cache"
    try:
        built, ours, mine, buds = _built_as_bud(child_dir, cache, buildah_cleanup, layers=5)
        assert statuses(built.stderr) == ["from", "built", "built", "built"], built.stderr
        assert read_file(ours, "/seen") == "/app.txt\n/made\n"
        assert mine["config"]["OnBuild"] == buds["config"]["OnBuild"] == []
        assert _history(mine) == _history(buds)
        # the copy its containers were made from is not left in the store (its id: its config's digest)
        assert copy not in _image_ids()
        again = shlax("build", "--format", "docker", "-t", ours, str(child_dir), cache_dir=cache)
        assert "built" not in statuses(again.stderr) and again.stdout == built.stdout
    finally:
        forget_layers(cache)


def test_onbuild_triggers_of_an_earlier_stage_run_once_as_in_bud(base_images, buildah_cleanup, tmp_path):
    """``FROM <stage>`` whose config has triggers: its working container is made from a copy without them too."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("app\n")
    (ctx / "Containerfile").write_text(
        "FROM busybox AS base\nRUN echo b > /b\nONBUILD COPY app.txt /app.txt\nONBUILD RUN mkdir /made\n"
        "FROM base\nRUN ls -d /made /app.txt > /seen\n"
    )
    cache = tmp_path / "cache"
    try:
        _, ours, mine, buds = _built_as_bud(ctx, cache, buildah_cleanup, layers=5)
        assert read_file(ours, "/seen") == "/app.txt\n/made\n"
        assert mine["config"]["OnBuild"] == buds["config"]["OnBuild"] == []
        assert _history(mine) == _history(buds)
    finally:
        forget_layers(cache)


def test_copy_from_a_stage_with_onbuild_triggers_runs_none_of_them(base_images, buildah_cleanup, tmp_path):
    """``COPY --from=<stage>`` whose stage declares triggers: its source container is made from a copy without
    them (``buildah from`` of the stage's image would run them, and its COPY trigger fail), as bud runs none."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("app\n")
    (ctx / "Containerfile").write_text(
        "FROM busybox AS base\nRUN echo b > /b\nONBUILD COPY app.txt /app.txt\nONBUILD RUN mkdir /made\n"
        "FROM busybox\nCOPY --from=base /b /b\n"
    )
    cache = tmp_path / "cache"
    try:
        _, ours, _, _ = _built_as_bud(ctx, cache, buildah_cleanup, layers=2)
        assert read_file(ours, "/b") == "b\n"
    finally:
        forget_layers(cache)


def test_copy_from_an_image_with_onbuild_triggers_runs_none_of_them(base_images, buildah_cleanup, tmp_path):
    """``COPY --from=<image>`` whose config has triggers: its source container is made from a copy without them."""
    parent = _onbuild_parent(tmp_path, buildah_cleanup)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM busybox\nCOPY --from={parent} /p /p\n")
    cache = tmp_path / "cache"
    try:
        _, ours, _, _ = _built_as_bud(ctx, cache, buildah_cleanup, layers=2)
        assert read_file(ours, "/p") == "p\n"
    finally:
        forget_layers(cache)


@pytest.mark.parametrize(
    "platform, built",
    [("linux/amd64", True), ("$BUILDPLATFORM", True), ("linux/arm64", False), ("linux/arm/v7", False)],
)
def test_from_platform_builds_only_for_this_machine(platform, built, base_images, buildah_cleanup, tmp_path):
    """An image for another architecture would need emulation for its RUN steps: refused with the location,
    instead of quietly building for this machine."""
    import platform as host

    if host.machine() != "x86_64":
        raise AssertionError("these cases are written for an amd64 machine")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM --platform={platform} busybox\nRUN uname -m > /arch\n")
    tag = buildah_cleanup.tag()
    try:
        result = shlax("build", "-t", tag, str(ctx), cache_dir=tmp_path / "cache", check=False)
        if built:
            assert result.returncode == 0, result.stderr
            assert read_file(tag, "/arch") == "x86_64\n"
        else:
            assert result.returncode == 2
            assert result.stderr.strip().splitlines() == [
                f"{ctx}/Containerfile:1: FROM --platform={platform}: building for another platform is not"
                f" supported (this machine builds linux/amd64): FROM --platform={platform} busybox"
            ]
    finally:
        forget_layers(tmp_path / "cache")


STAGE_COPY = """\
FROM busybox AS build
ARG V=1
ARG W=hi
ARG O=5
RUN echo $W > /hi && echo $V > /other && chown $O:6 /hi
FROM busybox
COPY --from=build /hi /hi
RUN cat /hi > /seen
"""


def test_a_copy_from_a_stage_built_again_into_the_same_files_is_reused_as_bud_reuses_it(
    base_images, buildah_cleanup, tmp_path
):
    """bud keys ``COPY --from=<stage>`` by the files it copies: a stage built again into the same files (here
    its RUN writes another file too) leaves the COPY and the steps after it cached. A change of the copied
    file's content or owner (mtimes aside) builds them again."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(STAGE_COPY)
    cache = tmp_path / "cache"
    ours, theirs = buildah_cleanup.tag("shlax-stagecopy"), buildah_cleanup.tag("bud-stagecopy")
    try:
        shlax("build", str(ctx), cache_dir=cache)
        again = shlax("build", "--explain", "--build-arg", "V=2", "-t", ours, str(ctx), cache_dir=cache)
        assert statuses(again.stderr) == ["from", "built", "from", "cached", "cached"], again.stderr
        bud(ctx / "Containerfile", ctx, theirs, cleanup=buildah_cleanup)
        budded = run_bud(
            ["buildah", "bud", "--layers", "--format", "docker", "--build-arg", "V=2", "-t", theirs, str(ctx)]
        )
        assert budded.returncode == 0, budded.stderr
        buildah_cleanup.layers(layers_made(budded.stdout))
        # bud too: the final stage's COPY and the RUN after it
        final = budded.stdout[budded.stdout.index("[2/2] STEP 2/3: COPY") :]
        reused = re.findall(r"^\[2/2\] STEP \d/3: (\w+).*\n--> Using cache", final, re.M)
        assert reused == ["COPY", "RUN"], budded.stdout
        assert diff_trees(file_tree(ours), file_tree(theirs)) == []
        assert read_file(ours, "/seen") == "hi\n"

        content = shlax(
            "build",
            "--explain",
            "--build-arg",
            "V=2",
            "--build-arg",
            "W=bye",
            "-t",
            ours,
            str(ctx),
            cache_dir=cache,
        )
        assert statuses(content.stderr).count("built") == 3, content.stderr
        assert "the files copied from the stage changed" in content.stderr
        assert read_file(ours, "/seen") == "bye\n"

        owner = shlax(
            "build",
            "--build-arg",
            "V=2",
            "--build-arg",
            "W=bye",
            "--build-arg",
            "O=7",
            "-t",
            ours,
            str(ctx),
            cache_dir=cache,
        )
        assert statuses(owner.stderr).count("built") == 3, owner.stderr
        assert file_tree(ours)["/hi"][2:4] == (7, 6)
    finally:
        forget_layers(cache)
