"""Differences from ``buildah bud --layers --format docker`` found by building unfamiliar Containerfiles.

Each case builds one Containerfile with both tools and compares file trees and image configs, like
``test_build_equivalence.py``; the cases here need a context git cannot hold (setuid bits, modes) or a
build argument, so they write it into a temporary directory instead of a ``fixtures/build`` folder.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from buildah_tools import (
    bud,
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    layers_made,
    read_file,
    run_bud,
    shlax,
)
from test_build_equivalence import VOLATILE


def _trees(ref: str) -> dict:
    return {k: v for k, v in file_tree(ref).items() if k not in VOLATILE}


def _same_as_bud(context: Path, cleanup, cache_dir: Path, *extra: str) -> None:
    ours, theirs = cleanup.tag("shlax-red"), cleanup.tag("bud-red")
    try:
        shlax("build", "-t", ours, *extra, str(context), cache_dir=cache_dir)
        bud(context / "Containerfile", context, theirs, *extra, cleanup=cleanup)
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_trees(ours), _trees(theirs)) == []
    finally:
        forget_layers(cache_dir)


def _write(root: Path, files: dict[str, tuple[str, int]]) -> None:
    for name, (content, mode) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        os.chmod(path, mode)


def test_context_copy_clears_setuid_and_setgid_like_bud(base_images, buildah_cleanup, tmp_path):
    """bud's copier strips setuid/setgid from context files (``buildah copy`` keeps them); ``COPY --from``
    keeps them (a chown after the copy used to clear them); ``--chmod`` and ADDed archives are left alone."""
    context = tmp_path / "ctx"
    _write(
        context,
        {
            "bin/su-tool": ("#!/bin/sh\n", 0o4755),
            "bin/sg-tool": ("#!/bin/sh\n", 0o2755),
            "bin/plain": ("#!/bin/sh\n", 0o755),
            "bin/private": ("key\n", 0o600),
            "spool/sticky/file": ("x\n", 0o644),
        },
    )
    os.chmod(context / "spool", 0o2775)
    os.chmod(context / "spool" / "sticky", 0o1777)
    (context / "Containerfile").write_text(
        textwrap.dedent(
            """\
            FROM busybox AS tools
            RUN mkdir -p /opt/s && echo s > /opt/s/suid && chmod 4755 /opt/s/suid \\
                && mkdir /opt/s/sgdir && chmod 2750 /opt/s/sgdir && chown -R 1:2 /opt/s
            FROM busybox
            COPY bin /usr/local/bin/
            COPY bin/su-tool /single
            COPY bin/su-tool bin/sg-tool /several/
            COPY bin/s[ug]-tool /etc/
            COPY --chown=1:1 . /ctx
            COPY --chmod=4755 bin/plain /chmodded
            ADD bin /added/
            COPY --from=tools /opt/s /from-stage
            COPY --from=tools /opt/s/suid /from-stage-file
            """
        )
    )
    _same_as_bud(context, buildah_cleanup, tmp_path / "cache")


LOCAL_PROJECT = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv
WORKDIR /src
COPY . .
RUN /venv/bin/pip install --no-cache-dir .
"""

PYPROJECT = """\
[build-system]
requires = ["flit_core>=3.2,<4"]
build-backend = "flit_core.buildapi"

[project]
name = "redteam-app"
version = "0.1.0"
description = "a project pip builds with its backend"
dependencies = [{dependencies}]
"""


def test_pip_install_of_a_local_project_builds_with_its_backend_like_bud(
    base_images, buildah_cleanup, tmp_path
):
    """``pip install .`` of a project whose ``pyproject.toml`` names a build backend: pip installs the backend
    from the index into an isolated environment, and the wheelhouse's ``pip download`` keeps none of it. The
    install ran with ``PIP_NO_INDEX`` and failed ("No matching distribution found for flit_core"), cold and
    with a dependency added; both are now bud's image."""
    from test_build_packages import _differences_from_bud

    context, cache = tmp_path / "ctx", tmp_path / "cache"
    (context / "redteam_app").mkdir(parents=True)
    (context / "redteam_app" / "__init__.py").write_text('"""Red team app."""\n__version__ = "0.1.0"\n')
    (context / "Containerfile").write_text(LOCAL_PROJECT)
    (context / ".dockerignore").write_text("pip.conf\n")  # bud's pip.conf (_differences_from_bud) stays out
    try:
        for dependencies in ('"iniconfig==2.0.0"', '"iniconfig==2.0.0", "six==1.16.0"'):
            (context / "pyproject.toml").write_text(PYPROJECT.format(dependencies=dependencies))
            ours = buildah_cleanup.tag("shlax-red")
            shlax("build", "-t", ours, str(context), cache_dir=cache)
            assert _differences_from_bud(context, ours, buildah_cleanup) == []
    finally:
        forget_layers(cache)


def test_a_cache_mount_for_a_non_root_uid_keeps_the_cache_root_usable(base_images, buildah_cleanup, tmp_path):
    """``RUN --mount=type=cache,uid=1000,gid=1000`` (a node or app user's cache) makes its host directory owned by
    uid 1000, as bud does. The next build with the same cache root stopped before its first step ("the cache
    directory is owned by uid 1000: refusing to use it"), whatever its Containerfile; it now builds, and the
    second run of the RUN finds what the first left in the cache."""
    context, cache = tmp_path / "ctx", tmp_path / "cache"
    context.mkdir()
    seen = []
    try:
        for round_ in ("one", "two"):
            (context / "Containerfile").write_text(
                f"FROM busybox\nRUN --mount=type=cache,id=app,target=/home/app/.cache,uid=1000,gid=1000"
                f" ls /home/app/.cache > /seen && stat -c %u:%g /home/app/.cache > /owner"
                f" && touch /home/app/.cache/{round_}\n"
            )
            ours = buildah_cleanup.tag("shlax-red")
            shlax("build", "-t", ours, str(context), cache_dir=cache)
            assert read_file(ours, "/owner") == "1000:1000\n"
            seen.append(read_file(ours, "/seen"))
    finally:
        forget_layers(cache)
    assert seen == ["", "one\n"]


def test_a_failed_run_exits_with_the_commands_status_like_bud(base_images, buildah_cleanup, tmp_path):
    """bud exits with the failed command's own status (``exit 3``: 3, a command not found: 127; its main takes
    the ``exec.ExitError``'s status); shlax-front exited 1 whatever the command said."""
    cache = tmp_path / "cache"
    try:
        for script, status in (("exit 3", 3), ("no-such-command-here", 127)):
            context = tmp_path / script.split()[0]
            context.mkdir()
            (context / "Containerfile").write_text(f"FROM busybox\nRUN echo before > /before\nRUN {script}\n")
            ours = shlax("build", str(context), cache_dir=cache, check=False)
            theirs = run_bud(["buildah", "bud", "--layers", str(context)])
            buildah_cleanup.layers(layers_made(theirs.stdout))
            assert (ours.returncode, theirs.returncode) == (status, status), ours.stderr + theirs.stderr
            assert f"Containerfile:3: RUN {script}: exited with status {status}" in ours.stderr
            assert "Traceback" not in ours.stderr
    finally:
        forget_layers(cache)


def test_a_workdir_made_for_a_run_is_owned_as_bud_owns_it(base_images, buildah_cleanup, tmp_path):
    """bud makes a missing WORKDIR before each RUN owned as ``COPY --chown=USER`` is (``USER 1000`` alone:
    1000:1000, whatever /etc/passwd says; a name: its passwd entry); shlax-front let ``buildah run`` make it,
    owned by the user it runs as (``USER 1000`` without an account: 1000:0; ``USER 1001`` whose account's
    group is 1002: 1001:1002)."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(
        textwrap.dedent(
            """\
            FROM busybox
            RUN echo app:x:1001:1002::/home/app:/bin/sh >> /etc/passwd && echo app:x:1002: >> /etc/group
            USER 1000
            WORKDIR /w/num/x
            RUN true
            USER 1001
            WORKDIR /w/numpass
            RUN true
            USER app
            WORKDIR /w/named
            RUN true
            USER 1001:50
            WORKDIR /w/pair
            RUN true
            USER root
            WORKDIR /w/num/x/deeper
            RUN true
            """
        )
    )
    _same_as_bud(context, buildah_cleanup, tmp_path / "cache")


def test_an_added_url_has_buds_history_line(base_images, buildah_cleanup, tmp_path):
    """bud words ``ADD <url> /f`` as ``ADD <digest> in /f`` (its digester has no content type for a URL);
    shlax-front wrote ``ADD file:<digest>``. Files and config as bud's too."""
    import http.server
    import threading
    from functools import partial

    served = tmp_path / "served"
    served.mkdir()
    (served / "f.txt").write_text("from the web\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/f.txt"
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(f"FROM busybox\nADD {url} /f.txt\nADD {url} /d/\n")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    ours, theirs = buildah_cleanup.tag("shlax-red"), buildah_cleanup.tag("bud-red")
    cache = tmp_path / "cache"
    try:
        shlax("build", "--format", "docker", "-t", ours, str(context), cache_dir=cache, env=env)
        done = run_bud(
            ["buildah", "bud", "--layers", "--format", "docker", "-t", theirs, str(context)], env=env
        )
        assert done.returncode == 0, done.stderr
        buildah_cleanup.layers(layers_made(done.stdout))
        lines = [_created_by(ref)[-2:] for ref in (ours, theirs)]
        assert (
            lines[0] == lines[1]
            and lines[0][0].startswith("/bin/sh -c #(nop) ADD ")
            and ":" not in lines[0][0]
        )
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_trees(ours), _trees(theirs)) == []
    finally:
        server.shutdown()
        forget_layers(cache)


def _created_by(ref: str) -> list[str]:
    import json
    import subprocess

    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", ref], capture_output=True, text=True, check=True
    )
    return [h.get("created_by", "") for h in json.loads(out.stdout)["Docker"]["history"]]


COPY_HEREDOCS = r"""FROM busybox
ARG A=argval
ENV E=envval
COPY <<EOF /e.sh
#!/bin/sh
exec "$@" $A ${E} \$HOME 'single $A' "dq $A" \\ \n `echo x` ${A:-d} ${NOPE:-dflt}
EOF
COPY <<'EOF' /q.sh
quoted "$A"
EOF
COPY <<-EOF /t.sh
	tabbed $A
EOF
"""


def test_copy_heredoc_bodies_are_the_files_bud_writes(base_images, buildah_cleanup, tmp_path):
    """``COPY <<EOF``: the files bud 1.39 writes (measured; bud 1.28 cannot COPY a heredoc): variables expanded,
    quotes and backslashes kept (imagebuilder's lexer with raw quotes and escapes), a quoted delimiter
    expands nothing, ``<<-`` strips tabs. shlax-front took the quotes away as a shell does ("$@" became
    nothing, ``\\$HOME`` became ``$HOME``)."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(COPY_HEREDOCS)
    ours = buildah_cleanup.tag("shlax-red")
    cache = tmp_path / "cache"
    body = 'exec "" argval envval \\$HOME \'single $A\' "dq argval" \\\\ \\n `echo x` argval dflt'
    try:
        shlax("build", "-t", ours, str(context), cache_dir=cache)
        assert read_file(ours, "/e.sh") == f"#!/bin/sh\n{body}\n"
        assert read_file(ours, "/q.sh") == 'quoted "$A"\n'
        assert read_file(ours, "/t.sh") == "tabbed argval\n"
    finally:
        forget_layers(cache)


def test_mount_targets_relative_or_from_a_variable_as_bud(base_images, buildah_cleanup, tmp_path):
    """``RUN --mount=type=cache,target=${GOMODCACHE}`` (an ENV of the parent stage) reached ``buildah run`` as
    written and failed (exit 125); the same file as bud's. A relative target (Docker's Go guide:
    ``--mount=type=bind,source=go.mod,target=go.mod``, ``--mount=target=.``) is read from the WORKDIR, as bud
    1.39 and BuildKit read it (bud 1.28 refuses it: "invalid container path")."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "go.mod").write_text("module example.com/app\n")
    (context / "main.go").write_text("package main\n")
    (context / "Containerfile").write_text(
        "FROM busybox AS base\nENV GOMODCACHE=/go/pkg/mod/\nFROM base\n"
        "RUN --mount=type=cache,target=${GOMODCACHE},id=redteam-gomod ls -d $GOMODCACHE > /seen\n"
    )
    cache = tmp_path / "cache"
    _same_as_bud(context, buildah_cleanup, cache)
    (context / "Containerfile").write_text(
        "FROM busybox\nWORKDIR /src\n"
        "RUN --mount=type=bind,source=go.mod,target=go.mod cat go.mod > /seen\n"
        "RUN --mount=target=. ls > /listing\n"
    )
    ours = buildah_cleanup.tag("shlax-red")
    try:
        shlax("build", "-t", ours, str(context), cache_dir=cache)
        assert read_file(ours, "/seen") == "module example.com/app\n"
        assert read_file(ours, "/listing") == "Containerfile\ngo.mod\nmain.go\n"
        assert [p for p in _trees(ours) if p.startswith("/src/")] == []
    finally:
        forget_layers(cache)
