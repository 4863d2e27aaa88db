"""Real-buildah tests of bud's and docker's ``build`` flags and of the errors bad values give.

One busybox build carries every flag ``buildah bud`` 1.28 also has (labels, annotations, timestamp, add-host,
ulimit, volume, network, an unused build arg, and ``--layers``/``--rm``/``--force-rm``, which change nothing here) and is compared with bud's build of the same file with the same
flags: config, annotations, created times, what the RUN saw, the file tree. A second build reads a named
context, an SSH agent socket and a context tar from stdin, and exports its files. Each bad input is one
subprocess call: one line on stderr, exit status 2, no working container left.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from buildah_tools import (
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    layers_made,
    read_file,
    run_bud,
    shlax,
    working_containers,
)

from shlax_front.backend import stale
from shlax_front.platforms import host_platform

BUSYBOX = "docker.io/library/busybox:latest"


def _inspect(ref: str) -> dict:
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _containers() -> set[str]:
    """The working containers left by builds that are no longer running (other builds on this machine run
    meanwhile: their containers have a live owner), asked again when a concurrent removal made the listing fail."""
    for _ in range(5):
        try:
            return {name for name in working_containers() if stale.dead_owner(name)}
        except subprocess.CalledProcessError:
            time.sleep(0.5)
    return {name for name in working_containers() if stale.dead_owner(name)}


def _ours(annotations: dict) -> dict:
    return {
        k: v for k, v in (annotations or {}).items() if not k.startswith("org.opencontainers.image.base.")
    }


def test_run_and_image_flags_as_bud(tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nARG USED\n"
        "RUN grep foo.example /etc/hosts > /hosts && cat /mnt/v/data > /vol && ulimit -n > /nofile"
        ' && echo "$USED" > /used\n'
    )
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "data").write_text("from the host\n")
    flags = [
        "--build-arg", "USED=1", "--build-arg", "UNUSED=2",
        "--label", "team=core", "--annotation", "org.example.note=hi", "--timestamp", "1000",
        "--add-host", "foo.example:10.1.2.3", "--ulimit", "nofile=1000:2000",
        "-v", f"{vol}:/mnt/v:ro", "--network", "host", "--layers", "--rm=true", "--force-rm",
    ]  # fmt: skip
    ours_tag, bud_tag = buildah_cleanup.tag(), buildah_cleanup.tag()
    iidfile, exported = tmp_path / "iid", tmp_path / "out"
    cache = tmp_path / "cache"
    try:
        result = shlax(
            "build", "-t", ours_tag, *flags, "--iidfile", str(iidfile),
            "-o", f"type=local,dest={exported}", str(ctx), cache_dir=cache,
        )  # fmt: skip
        listing = run_bud(
            ["buildah", "bud", "--layers", "-f", str(ctx / "Containerfile"), "-t", bud_tag, *flags, str(ctx)]
        )
        assert listing.returncode == 0, listing.stderr
        buildah_cleanup.layers(layers_made(listing.stdout))
        image = result.stdout.strip()
        assert iidfile.read_text() == f"sha256:{image}"
        assert "[Warning] one or more build args were not consumed: [UNUSED]" in listing.stdout
        assert "one or more build args were not consumed: [UNUSED]" in result.stderr

        assert image_config(ours_tag) == image_config(bud_tag)
        assert image_config(ours_tag)["Labels"]["team"] == "core"
        ours, theirs = _inspect(ours_tag), _inspect(bud_tag)
        assert (
            _ours(ours.get("ImageAnnotations"))
            == _ours(theirs.get("ImageAnnotations"))
            == {"org.example.note": "hi"}
        )
        assert ours["OCIv1"]["created"] == theirs["OCIv1"]["created"] == "1970-01-01T00:16:40Z"
        base = len(_inspect(BUSYBOX)["OCIv1"]["history"])
        label_line = '/bin/sh -c #(nop) LABEL "team"="core"'  # bud's history entry for --label
        assert (
            ours["OCIv1"]["history"][-1]["created_by"]
            == theirs["OCIv1"]["history"][-1]["created_by"]
            == label_line
        )
        assert {h["created"] for h in ours["OCIv1"]["history"][base:]} == {"1970-01-01T00:16:40Z"}
        for path in ("/hosts", "/vol", "/nofile", "/used"):
            assert read_file(ours_tag, path) == read_file(bud_tag, path), path
        assert read_file(ours_tag, "/hosts").split() == ["10.1.2.3", "foo.example"]
        assert read_file(ours_tag, "/nofile") == "1000\n"
        assert diff_trees(file_tree(ours_tag), file_tree(bud_tag)) == []
        assert (exported / "vol").read_text() == "from the host\n" and (exported / "bin" / "busybox").exists()
    finally:
        forget_layers(cache)


def test_run_container_settings_as_bud(tmp_path, base_images, buildah_cleanup):
    """The settings of RUN containers (``run_settings``: DNS, capabilities, devices, limits, proxy variables,
    namespaces) reach the RUN as they reach bud's, and leave the same image (``--os``/``--arch`` of this machine,
    ``-D`` and ``--disable-content-trust`` change nothing); the layer is reused without them, as in bud."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {BUSYBOX}\n"
        "RUN cat /etc/resolv.conf > /resolv && grep CapEff /proc/self/status > /caps"
        ' && ls /dev/fuse > /devices && echo "${http_proxy:-unset}" > /proxy\n'
    )
    flags = [
        "--dns", "192.0.2.7", "--dns-search", "example.org", "--dns-option", "ndots:2",
        "--cap-drop", "ALL", "--cap-add", "CHOWN,cap_fowner", "--cap-add", "DAC_OVERRIDE", "--device", "/dev/fuse",
        "-m", "512m", "--memory-swap", "-1", "-c", "512", "--cpuset-cpus", "0", "--http-proxy=false",
        "--os", "linux", "--arch", host_platform().arch,
        "--userns", "host", "--cgroupns", "host", "--ipc", "host", "--pid", "host", "--uts", "host",
        "-D", "--disable-content-trust",
    ]  # fmt: skip
    env = {**os.environ, "http_proxy": "http://192.0.2.9:3128"}
    ours_tag, bud_tag, again_tag = buildah_cleanup.tag(), buildah_cleanup.tag(), buildah_cleanup.tag()
    cache = tmp_path / "cache"
    try:
        result = shlax("build", "-t", ours_tag, *flags, str(ctx), cache_dir=cache, env=env)
        # --no-cache: bud would reuse our layer (the same parent and history line)
        listing = run_bud(["buildah", "bud", "--no-cache", "-t", bud_tag, *flags, str(ctx)], env=env)
        assert listing.returncode == 0, listing.stderr
        buildah_cleanup.layers(layers_made(listing.stdout))
        for path in ("/resolv", "/caps", "/devices", "/proxy"):
            assert read_file(ours_tag, path) == read_file(bud_tag, path), path
        assert read_file(ours_tag, "/resolv").split() == [
            "search", "example.org", "nameserver", "192.0.2.7", "options", "ndots:2"
        ]  # fmt: skip
        assert read_file(ours_tag, "/caps").split() == [
            "CapEff:",
            "000000000000000b",
        ]  # CHOWN, DAC_OVERRIDE, FOWNER
        assert read_file(ours_tag, "/proxy") == "unset\n"
        assert image_config(ours_tag) == image_config(bud_tag)
        assert diff_trees(file_tree(ours_tag), file_tree(bud_tag)) == []
        again = shlax("build", "-t", again_tag, str(ctx), cache_dir=cache, env=env)
        assert again.stdout.strip() == result.stdout.strip()
    finally:
        forget_layers(cache)


def test_named_context_ssh_agent_stdin_context_and_tar_output(tmp_path, base_images, buildah_cleanup):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "greeting").write_text("hello from extra\n")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        text = (
            f"FROM {BUSYBOX}\nCOPY --from=extra greeting /greeting\nCOPY local.txt /local.txt\n"
            "RUN --mount=type=bind,from=extra,target=/x cat /x/greeting > /from-mount\n"
            'RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /ssh\n'
        ).encode()
        for name, data in (("Containerfile", text), ("local.txt", b"from the stdin context\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    agent.bind(str(tmp_path / "agent.sock"))
    agent.listen(1)
    tag, cache, out = buildah_cleanup.tag(), tmp_path / "cache", tmp_path / "rootfs.tar"
    try:
        shlax(
            "build", "-t", tag, "--build-context", f"extra={extra}", "--ssh", f"default={tmp_path / 'agent.sock'}",
            "-o", f"type=tar,dest={out}", "-", cache_dir=cache, input=archive.getvalue().decode("latin-1"),
        )  # fmt: skip
        assert read_file(tag, "/greeting") == read_file(tag, "/from-mount") == "hello from extra\n"
        assert read_file(tag, "/local.txt") == "from the stdin context\n"
        assert read_file(tag, "/ssh") == "/run/buildkit/ssh_agent.0\n"
        with tarfile.open(out) as tar:
            assert tar.extractfile("./greeting").read() == b"hello from extra\n"
        assert not [p for p in Path("/tmp").glob("shlax-front-stdin-*") if str(os.getpid()) in p.name]
        # the named directory is in the key: a change there rebuilds the steps that read it
        (extra / "greeting").write_text("changed\n")
        again = shlax(
            "build", "-t", tag, "--build-context", f"extra={extra}", "--ssh", f"default={tmp_path / 'agent.sock'}",
            "-", cache_dir=cache, input=archive.getvalue().decode("latin-1"),
        )  # fmt: skip
        assert read_file(again.stdout.strip(), "/from-mount") == "changed\n"
    finally:
        agent.close()
        forget_layers(cache)


def _garbage(tmp_path: Path) -> list[str]:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "Containerfile").write_bytes(
        f"FROM {BUSYBOX}\n\xff\xfe garbage \xc3\x28\n".encode("latin-1")
    )
    return ["-f", str(tmp_path / "bin" / "Containerfile")]


BAD_INPUTS = {
    "tag": (lambda tmp: ["-t", "Not/Valid:tag"], "-t Not/Valid:tag: invalid reference format"),
    "cache-dir": (
        lambda tmp: ["--cache-dir", "/proc/shlax-front"],
        "--cache-dir /proc/shlax-front: cannot create it",
    ),
    "file is a directory": (lambda tmp: ["-f", str(tmp)], "is a directory"),
    "secret source": (
        lambda tmp: ["--secret", "id=k,src=/nonexistent/key"],
        "--secret id=k,src=/nonexistent/key: ",
    ),
    "binary Containerfile": (_garbage, "not UTF-8 text at byte"),
    "platform": (
        lambda tmp: ["--platform", "linux/s390x"],
        "--platform linux/s390x: only this machine's platform",
    ),
    "add-host": (lambda tmp: ["--add-host", "nohost"], "--add-host nohost: expected HOST:IP"),
    "dns": (lambda tmp: ["--dns", "bogus"], "--dns bogus: bogus is not an IP address"),
    "cap-add": (
        lambda tmp: ["--cap-add", "NET_ADMN"],
        "--cap-add NET_ADMN: NET_ADMN is not a Linux capability",
    ),
    "device": (
        lambda tmp: ["--device", "/dev/nonexistent"],
        "--device /dev/nonexistent: /dev/nonexistent: no such",
    ),
    "memory": (lambda tmp: ["-m", "lots"], "--memory lots: expected <number><unit>"),
    "arch": (lambda tmp: ["--arch", "s390x"], "--arch s390x: only this machine's platform"),
    "pull": (lambda tmp: ["--pull=sometimes"], "--pull=sometimes: expected always, missing, never or newer"),
    "volume": (lambda tmp: ["-v", "/nonexistent:/x"], "--volume /nonexistent:/x: /nonexistent: no such file"),
    "build-context": (lambda tmp: ["--build-context", "x=docker-image://busybox"], "only a local directory"),
    "output": (
        lambda tmp: ["-o", "type=docker"],
        "--output type=docker: type 'docker' is not supported",
    ),
    "file twice": (
        lambda tmp: ["-f", str(tmp / "Containerfile"), "-f", str(tmp / "Containerfile")],
        "one Containerfile only (bud appends the others' instructions",
    ),
    "ignorefile": (
        lambda tmp: ["--ignorefile", "/nonexistent/.ignore"],
        "--ignorefile /nonexistent/.ignore: no such",
    ),
    "output registry without a name": (
        lambda tmp: ["-o", "type=registry"],
        "--output type=registry: type=registry needs name=",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_a_bad_input_is_one_line_before_anything_runs(case, tmp_path, base_images):
    make_args, expected = BAD_INPUTS[case]
    (tmp_path / "Containerfile").write_text(f"FROM {BUSYBOX}\nRUN touch /never\n")
    before = _containers()
    result = shlax("build", *make_args(tmp_path), str(tmp_path), cache_dir=tmp_path / "cache", check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "\\udc" not in result.stderr and "Traceback" not in result.stderr
    assert _containers() - before == set()
    assert not (tmp_path / "cache" / "layers" / "index.json").exists()


def test_pull_policies(tmp_path, base_images):
    """``--pull=always`` fails when the registry cannot be reached, and says so without the ``--creds``
    password; ``--pull=never`` refuses a missing image."""
    (tmp_path / "Containerfile").write_text("FROM localhost:9/nobody/nothing:1\nRUN true\n")
    before = _containers()
    refused = shlax(
        "build",
        "--pull=always",
        "--retry",
        "1",
        "--retry-delay",
        "10ms",
        "--creds",
        "someone:s3cret-pw",
        str(tmp_path),
        cache_dir=tmp_path / "c",
        check=False,
    )
    assert refused.returncode == 1 and "cannot pull the image (--pull=always)" in refused.stderr
    assert "s3cret-pw" not in refused.stderr + refused.stdout
    never = shlax("build", "--pull=never", str(tmp_path), cache_dir=tmp_path / "c", check=False)
    assert never.returncode == 1 and "not in local storage and --pull=never given" in never.stderr
    assert _containers() - before == set()


def _manifest_type(ref: str) -> str:
    return json.loads(_inspect(ref)["Manifest"])["mediaType"]


def test_buildah_format_from_the_environment_as_bud(tmp_path, base_images, buildah_cleanup):
    """``$BUILDAH_FORMAT`` (which CI templates set) is bud's default for ``--format``: the same docker image as
    bud's with it, ``--format`` before it, and a value bud refuses is one line, exit status 2."""
    (tmp_path / "Containerfile").write_text(f"FROM {BUSYBOX}\nRUN echo hi > /x\n")
    env = {**os.environ, "BUILDAH_FORMAT": "docker"}
    ours, theirs, flagged = buildah_cleanup.tag(), buildah_cleanup.tag(), buildah_cleanup.tag()
    cache = tmp_path / "cache"
    try:
        shlax("build", "-t", ours, str(tmp_path), cache_dir=cache, env=env)
        bud = run_bud(["buildah", "bud", "--layers", "-t", theirs, str(tmp_path)], env=env)
        assert bud.returncode == 0, bud.stderr
        buildah_cleanup.layers(layers_made(bud.stdout))
        docker_v2 = "application/vnd.docker.distribution.manifest.v2+json"
        assert _manifest_type(ours) == _manifest_type(theirs) == docker_v2
        assert image_config(ours) == image_config(theirs)
        shlax("build", "--format", "oci", "-t", flagged, str(tmp_path), cache_dir=cache, env=env)
        assert _manifest_type(flagged) == "application/vnd.oci.image.manifest.v1+json"
        bad = shlax(
            "build", str(tmp_path), cache_dir=cache, check=False, env={**env, "BUILDAH_FORMAT": "OCI"}
        )
        assert bad.returncode == 2 and bad.stderr.strip() == "BUILDAH_FORMAT=OCI: expected oci or docker"
    finally:
        forget_layers(cache)


def test_a_relative_cache_dir_is_read_from_the_working_directory(tmp_path, base_images, buildah_cleanup):
    """``--cache-dir relc``: its host caches are bind-mounted by absolute path (buildah refuses a relative one,
    and every RUN with a cache failed)."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nRUN --mount=type=cache,target=/cache echo hi > /cache/f && cat /cache/f > /copied\n"
    )
    tag = buildah_cleanup.tag()
    try:
        shlax("build", "-t", tag, "ctx", cache_dir="relc", cwd=tmp_path)
        assert read_file(tag, "/copied") == "hi\n"
        assert (tmp_path / "relc" / "layers" / "index.json").is_file()
    finally:
        forget_layers(tmp_path / "relc")


def test_a_build_arg_named_without_value_is_taken_from_the_environment_or_left_out(
    tmp_path, base_images, buildah_cleanup
):
    """``--build-arg PROXY`` (no ``=``): the environment's value, as bud; with none there, the ARG's default, as
    bud, where shlax-front refused the command line ('expected KEY=VALUE')."""
    (tmp_path / "Containerfile").write_text(f"FROM {BUSYBOX}\nARG PROXY=none\nRUN echo $PROXY > /seen\n")
    env = {k: v for k, v in os.environ.items() if k != "PROXY"}
    cache = tmp_path / "cache"
    seen = {}
    try:
        for given in (None, "http://proxy.example:3128"):
            ours, theirs = buildah_cleanup.tag(), buildah_cleanup.tag()
            run_env = env if given is None else {**env, "PROXY": given}
            shlax("build", "--build-arg", "PROXY", "-t", ours, str(tmp_path), cache_dir=cache, env=run_env)
            bud = run_bud(
                ["buildah", "bud", "--layers", "--build-arg", "PROXY", "-t", theirs, str(tmp_path)],
                env=run_env,
            )
            assert bud.returncode == 0, bud.stderr
            buildah_cleanup.layers(layers_made(bud.stdout))
            seen[given] = (read_file(ours, "/seen"), read_file(theirs, "/seen"))
    finally:
        forget_layers(cache)
    assert seen == {
        None: ("none\n", "none\n"),
        "http://proxy.example:3128": ("http://proxy.example:3128\n",) * 2,
    }


def test_logfile_holds_the_output_and_the_image_id_as_bud(tmp_path, base_images, buildah_cleanup):
    """``--logfile FILE`` as bud: stdout and stderr stay empty, the file holds the RUN's output and ends with the
    image id (a script reads it there). shlax-front refused the flag ('No such option')."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Containerfile").write_text(f"FROM {BUSYBOX}\nRUN echo said-by-the-run > /x\n")
    ours_log, bud_log = tmp_path / "ours.log", tmp_path / "bud.log"
    ours_tag, bud_tag = buildah_cleanup.tag(), buildah_cleanup.tag()
    cache = tmp_path / "cache"
    try:
        ours = shlax(
            "build", "-t", ours_tag, "--logfile", str(ours_log), str(tmp_path / "ctx"), cache_dir=cache
        )
        bud = run_bud(
            ["buildah", "bud", "--no-cache", "--logfile", str(bud_log), "-t", bud_tag, str(tmp_path / "ctx")]
        )
        assert bud.returncode == 0, bud_log.read_text()
        buildah_cleanup.layers(layers_made(bud_log.read_text()))
        for run, log, tag in ((ours, ours_log, ours_tag), (bud, bud_log, bud_tag)):
            assert (run.stdout, run.stderr) == ("", "")
            text = log.read_text()
            assert "said-by-the-run" in text
            assert text.splitlines()[-1] == _inspect(tag)["FromImageID"]
    finally:
        forget_layers(cache)


def test_a_relative_containerfile_is_looked_for_in_the_context_as_bud(tmp_path, base_images, buildah_cleanup):
    """``-f Dockerfile.dev ctx`` run beside ``ctx`` (the file is only in it): bud builds ``ctx/Dockerfile.dev``,
    with ``ctx/Dockerfile.dev.dockerignore`` as its ignore file; shlax-front refused ('no such file')."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile.dev").write_text(f"FROM {BUSYBOX}\nCOPY . /c/\n")
    (ctx / "Dockerfile.dev.dockerignore").write_text("left-out\n")
    (ctx / "left-out").write_text("x\n")
    (ctx / "kept").write_text("y\n")
    ours_tag, bud_tag = buildah_cleanup.tag(), buildah_cleanup.tag()
    cache = tmp_path / "cache"
    try:
        shlax("build", "-f", "Dockerfile.dev", "-t", ours_tag, "ctx", cache_dir=cache, cwd=tmp_path)
        bud = run_bud(
            ["buildah", "bud", "--layers", "-f", "Dockerfile.dev", "-t", bud_tag, "ctx"], cwd=tmp_path
        )
        assert bud.returncode == 0, bud.stderr
        buildah_cleanup.layers(layers_made(bud.stdout))
        assert diff_trees(file_tree(ours_tag), file_tree(bud_tag)) == []
        assert "/c/kept" in file_tree(ours_tag) and "/c/left-out" not in file_tree(ours_tag)
    finally:
        forget_layers(cache)


def test_ignorefile_is_read_instead_of_the_contexts_as_bud(tmp_path, base_images, buildah_cleanup):
    """``--ignorefile FILE`` (bud: an alternate .dockerignore, read from the working directory) replaces the
    context's ``.dockerignore``; shlax-front refused the flag ('No such option')."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {BUSYBOX}\nCOPY . /c/\nCOPY *.txt /t/\n")
    (ctx / ".dockerignore").write_text("a.txt\n")
    (tmp_path / "ci.ignore").write_text("# CI's own\nb.txt\n.dockerignore\n")
    for name in ("a.txt", "b.txt", "c.txt"):
        (ctx / name).write_text(name)
    ours_tag, bud_tag = buildah_cleanup.tag(), buildah_cleanup.tag()
    cache = tmp_path / "cache"
    args = ["--ignorefile", "ci.ignore", "ctx"]
    try:
        shlax("build", "-t", ours_tag, *args, cache_dir=cache, cwd=tmp_path)
        bud = run_bud(["buildah", "bud", "--layers", "-t", bud_tag, *args], cwd=tmp_path)
        assert bud.returncode == 0, bud.stderr
        buildah_cleanup.layers(layers_made(bud.stdout))
        ours = file_tree(ours_tag)
        assert diff_trees(ours, file_tree(bud_tag)) == []
        assert {"/c/a.txt", "/t/a.txt", "/c/c.txt"} <= set(ours) and "/c/b.txt" not in ours
    finally:
        forget_layers(cache)
