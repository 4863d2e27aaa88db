"""Layer reuse on real buildah (busybox base, fast): what hits, what misses, and why.

The key of a step covers its parent, its normalised instruction, the ARG/ENV values it sees and the
content/mode/type of what it reads from the context - never mtimes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from buildah_tools import (
    forget_layers,
    left_by_finished_builds,
    read_file,
    shlax,
    statuses,
    working_containers,
)

CONTAINERFILE = """\
FROM busybox
ARG FLAVOUR=plain
ENV MODE=prod
WORKDIR /app
COPY app.txt ./
RUN echo "$FLAVOUR $MODE" > /app/flavour.txt && cat app.txt > /app/copy.txt
RUN ls -l /app/app.txt | cut -c1-10 > /app/mode.txt
"""


@pytest.fixture
def project(tmp_path, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "app.txt").write_text("version 1\n")
    (ctx / "app.txt").chmod(0o644)
    cache = tmp_path / "cache"
    yield ctx, cache, buildah_cleanup
    forget_layers(cache)


def build(ctx, cache, *args):
    result = shlax("build", "--explain", *args, str(ctx), cache_dir=cache)
    return result.stdout.strip(), statuses(result.stderr), result.stderr


def test_second_build_is_fully_cached(project, base_images):
    ctx, cache, cleanup = project
    tag = cleanup.tag()
    first, steps1, _ = build(ctx, cache, "-t", tag)
    assert steps1.count("built") == 3  # COPY, two RUNs (WORKDIR only configures, as with buildah bud)
    second, steps2, err = build(ctx, cache, "-t", tag)
    assert "built" not in steps2, err
    assert steps2.count("cached") == 3
    assert first == second
    assert read_file(tag, "/app/flavour.txt") == "plain prod\n"


def test_copy_content_change_misses_but_mtime_does_not(project, base_images):
    ctx, cache, cleanup = project
    build(ctx, cache)
    past = time.time() - 3600
    os.utime(ctx / "app.txt", (past, past))  # mtime only
    _, steps, err = build(ctx, cache)
    assert "built" not in steps, err
    (ctx / "app.txt").write_text("version 2\n")
    tag = cleanup.tag()
    _, steps, err = build(ctx, cache, "-t", tag)
    assert steps == ["from", "config", "config", "built", "built", "built"], err
    assert "context files changed: app.txt" in err
    assert read_file(tag, "/app/copy.txt") == "version 2\n"


def test_mode_change_misses(project, base_images):
    ctx, cache, cleanup = project
    build(ctx, cache)
    (ctx / "app.txt").chmod(0o755)
    tag = cleanup.tag()
    _, steps, err = build(ctx, cache, "-t", tag)
    assert steps.count("built") == 3, err
    assert read_file(tag, "/app/mode.txt") == "-rwxr-xr-x\n"


def test_build_arg_and_env_changes(project, base_images):
    ctx, cache, cleanup = project
    build(ctx, cache)
    tag = cleanup.tag()
    _, steps, err = build(ctx, cache, "--build-arg", "FLAVOUR=spicy", "-t", tag)
    # only the RUNs see FLAVOUR: COPY's key stays the same
    assert steps.count("built") == 2, err
    assert "build args/env changed: FLAVOUR" in err
    assert read_file(tag, "/app/flavour.txt") == "spicy prod\n"
    (ctx / "Containerfile").write_text(CONTAINERFILE.replace("MODE=prod", "MODE=dev"))
    tag2 = cleanup.tag()
    _, steps, err = build(ctx, cache, "--build-arg", "FLAVOUR=spicy", "-t", tag2)
    assert steps.count("built") == 3, err
    assert read_file(tag2, "/app/flavour.txt") == "spicy dev\n"


def test_no_cache_rebuilds_everything(project, base_images):
    ctx, cache, _ = project
    build(ctx, cache)
    _, steps, _ = build(ctx, cache, "--no-cache")
    assert steps.count("built") == 3


def test_dockerignore_excluded_files_do_not_invalidate(project, base_images):
    ctx, cache, _ = project
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY . /ctx/\n")
    (ctx / ".dockerignore").write_text("*.log\n")
    (ctx / "noise.log").write_text("1")
    build(ctx, cache)
    (ctx / "noise.log").write_text("2")
    _, steps, err = build(ctx, cache)
    assert "built" not in steps, err


def test_json_report_and_quiet(project, base_images):
    ctx, cache, _ = project
    result = shlax("build", "--json", str(ctx), cache_dir=cache)
    report = json.loads(result.stdout)
    assert report["image"] and report["built"] == 3
    assert [s["status"] for s in report["steps"]][:2] == ["from", "config"]
    quiet = shlax("build", "-q", str(ctx), cache_dir=cache)
    assert quiet.stdout.strip() == report["image"] and quiet.stderr == ""


def test_failure_names_the_line_and_leaves_nothing_behind(tmp_path, base_images):
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN echo fine\nRUN echo boom-output && exit 3\n")
    before = working_containers()
    result = shlax("build", str(tmp_path), cache_dir=tmp_path / "cache", check=False)
    assert result.returncode == 3  # the RUN's status, as bud exits
    assert "Containerfile:3:" in result.stderr and "boom-output" in result.stderr
    assert "Traceback" not in result.stderr
    assert left_by_finished_builds(before) == set()
    forget_layers(tmp_path / "cache")


def test_ca_bundle_and_proxy_reach_run_only(tmp_path, base_images, buildah_cleanup):
    """The CA bundle is mounted into each RUN with the usual variables; neither it nor they reach the image."""
    (tmp_path / "Containerfile").write_text(
        "FROM busybox\n"
        'RUN test -s "$SSL_CERT_FILE" && test "$PIP_CERT" = "$SSL_CERT_FILE" && test -n "$NODE_EXTRA_CA_CERTS"'
        ' && echo "$https_proxy" > /proxy.txt\n'
    )
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
    tag = buildah_cleanup.tag()
    env = {**os.environ, "https_proxy": "http://proxy.example:3128"}
    try:
        shlax(
            "build",
            "--ca-bundle",
            str(bundle),
            "-t",
            tag,
            str(tmp_path),
            cache_dir=tmp_path / "cache",
            env=env,
        )
        assert read_file(tag, "/proxy.txt") == "http://proxy.example:3128\n"
        config = json.loads(
            subprocess.run(
                ["buildah", "inspect", "--type", "image", tag], capture_output=True, text=True
            ).stdout
        )["Docker"]["config"]
        assert not [e for e in config["Env"] if "CERT" in e or "proxy" in e.lower()]
        from buildah_tools import file_tree

        assert not [p for p in file_tree(tag) if "shlax-front" in p]
        # a different proxy or bundle is not a different build
        again = shlax("build", "--ca-bundle", "none", str(tmp_path), cache_dir=tmp_path / "cache")
        assert "built" not in statuses(again.stderr)
    finally:
        forget_layers(tmp_path / "cache")
