"""The optimised Containerfile builds with buildah 1.28 and gives the same image as the original.

"Same" is the project's promise: same files (content, mode, owner, link targets) and the same config,
minus the package caches. Two kinds of paths are exempt, and only those: the directories mounted as caches
(their content is the cache; underneath, the image keeps the base image's version of the directory) and
files that differ between any two builds of the same file: apt/dpkg logs (timestamps), debconf's
``*-old`` backups and ldconfig's aux-cache (it records inode numbers and ctimes).

The second optimised build must not download the package again: the cache mount works on buildah too.
These tests need buildah and the local debian base image (``tests/conftest.py``); they fail without them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from buildah_tools import file_tree, image_config, read_file, run_bud

from shlax_front.optimizer import optimize

BASE = "docker.io/library/debian:bookworm"
EXEMPT_LOGS = ("/var/log/apt/", "/var/log/dpkg.log", "/var/cache/ldconfig/aux-cache")

CASES = {
    # apt-get with lists deleted and apt-get clean: both caches mounted, both clean-ups neutralised
    "apt-get-clean": f"""\
FROM {BASE}
ENV LANG=C.UTF-8
RUN set -eux; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends hello; \\
    apt-get clean; \\
    rm -rf /var/lib/apt/lists/* /tmp/*
WORKDIR /srv
CMD ["hello"]
""",
    # the apt binary (deletes debs unless told), lists kept in the image: only archives mounted
    "apt-binary-lists-kept": f"""\
FROM {BASE}
RUN apt update && apt install -y hello
RUN apt-get install -y --no-install-recommends cowsay && rm -rf /var/lib/apt/lists/*
""",
    # installs inside an if branch and inside su -c: cached all the same, clean-ups neutralised in place
    "apt-inside-if-and-su": f"""\
FROM {BASE}
RUN if [ -e /etc/debian_version ]; then \\
      apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*; \\
    fi
RUN su -c "apt-get update && apt-get install -y --no-install-recommends cowsay && rm -rf /var/lib/apt/lists/*" \\
    || echo never
""",
}


def build(containerfile: Path, tag: str) -> subprocess.CompletedProcess:
    result = run_bud(
        [
            "buildah",
            "bud",
            "--layers=false",
            "--format",
            "docker",
            "-f",
            str(containerfile),
            "-t",
            tag,
            str(containerfile.parent),
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    return result


def mounted_targets(text: str) -> list[str]:
    return re.findall(r"--mount=type=cache,target=([^,\s]+)", text)


def exempt(path: str, targets: list[str]) -> bool:
    if path.startswith("/var/cache/debconf/") and path.endswith("-old"):
        return True
    return path.startswith(EXEMPT_LOGS) or any(path == t or path.startswith(t + "/") for t in targets)


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimised_build_same_image(name, base_images, buildah_cleanup, tmp_path):
    original = CASES[name]
    optimised = optimize(original).text
    targets = mounted_targets(optimised)
    assert targets, "the case must actually be rewritten"
    (tmp_path / "Containerfile.orig").write_text(original)
    (tmp_path / "Containerfile.opt").write_text(optimised)
    tag_a, tag_b = buildah_cleanup.tag("shlax-opt-orig"), buildah_cleanup.tag("shlax-opt-new")
    build(tmp_path / "Containerfile.orig", tag_a)
    build(tmp_path / "Containerfile.opt", tag_b)
    assert image_config(tag_a) == image_config(tag_b)
    tree_a = {p: v for p, v in file_tree(tag_a).items() if not exempt(p, targets)}
    tree_b = {p: v for p, v in file_tree(tag_b).items() if not exempt(p, targets)}
    differ = sorted(p for p in set(tree_a) | set(tree_b) if tree_a.get(p) != tree_b.get(p))
    assert differ == []
    # the hook parked for the run is back in place
    assert "/etc/apt/apt.conf.d/docker-clean" in tree_b


def test_second_optimised_build_downloads_nothing(base_images, buildah_cleanup, tmp_path):
    optimised = optimize(CASES["apt-get-clean"]).text
    path = tmp_path / "Containerfile"
    path.write_text(optimised)
    build(path, buildah_cleanup.tag("shlax-opt-warm"))
    again = build(path, buildah_cleanup.tag("shlax-opt-warm2"))
    fetched = [
        line for line in again.stdout.splitlines() if re.match(r"Get:\d+ \S+ \S+ \S+ \S+ hello ", line)
    ]
    assert fetched == [], fetched
    assert "Setting up hello" in again.stdout


NON_ROOT = """\
FROM docker.io/library/busybox:latest
RUN printf '#!/bin/sh\\nset -e\\nls "${npm_config_cache:?}" > /tmp/seen\\nid -u > "$npm_config_cache/by-$(id -u)"\\n' > /bin/npm \\
 && chmod 755 /bin/npm
USER 1000:1000
RUN npm ci && npm cache clean --force
"""


def test_non_root_cache_is_writable_persists_and_leaves_no_mount_point(
    base_images, buildah_cleanup, tmp_path
):
    """USER 1000 gets a cache it owns under /tmp (relocated by npm_config_cache); a second build sees what
    the first one stored; buildah leaves no mount-point directory behind in the image."""
    optimised = optimize(NON_ROOT).text
    assert "uid=1000,gid=1000" in optimised and "npm cache clean" not in optimised
    path = tmp_path / "Containerfile"
    path.write_text(optimised)
    first, second = buildah_cleanup.tag("shlax-opt-npm1"), buildah_cleanup.tag("shlax-opt-npm2")
    build(path, first)
    build(path, second)
    tree = file_tree(second)
    assert not [p for p in tree if p.startswith("/tmp/.shlax-front")]
    assert "by-1000" in read_file(second, "/tmp/seen").split()


HEREDOC = """\
FROM docker.io/library/busybox:latest
ENV GREETING=hello
RUN <<EOF
set -e
printf '%s\\n' "$GREETING 'quoted' \\\\n 100%" > /out
if [ -n "$GREETING" ]; then echo yes >> /out; fi
EOF
"""


def test_lowered_heredocs_build_on_buildah_128(base_images, buildah_cleanup, tmp_path):
    """buildah 1.28 cannot parse heredocs; ``--lower-heredocs`` output builds and runs the same script."""
    from shlax_front.optimizer import optimize_document
    from shlax_front.parser import parse

    lowered = optimize_document(parse(HEREDOC), lower_heredocs=True).text
    assert "<<" not in lowered
    path = tmp_path / "Containerfile"
    path.write_text(lowered)
    tag = buildah_cleanup.tag("shlax-opt-heredoc")
    build(path, tag)
    expected = subprocess.run(
        [
            "sh",
            "-c",
            HEREDOC.split("<<EOF\n", 1)[1].rsplit("EOF\n", 1)[0].replace("/out", str(tmp_path / "out")),
        ],
        env={"GREETING": "hello", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert expected.returncode == 0
    assert read_file(tag, "/out") == (tmp_path / "out").read_text()


ROOT_PIP = """\
FROM docker.io/library/busybox:latest
RUN printf '#!/bin/sh\\ncache="${PIP_CACHE_DIR:-${HOME:-/root}/.cache/pip}"\\ncase " $* " in *" --no-cache-dir "*) echo none > /installed; exit 0;; esac\\nls "$cache" > /installed\\ntouch "$cache/wheel-$$"\\n' > /bin/pip \\
 && chmod 755 /bin/pip
RUN pip install --no-cache-dir flask
"""


def test_root_pip_cache_is_where_linters_look_and_persists(base_images, buildah_cleanup, tmp_path):
    """root's pip cache is mounted at /root/.cache/pip (hadolint's DL3042 knows it), pip finds it there
    without being told, and a second build sees what the first stored. The one trace in the image is the
    parent bud creates for the mount point and keeps: an empty /root/.cache when the base image has none."""
    optimised = optimize(ROOT_PIP).text
    assert "RUN --mount=type=cache,target=/root/.cache/pip pip install flask" in optimised
    (tmp_path / "Containerfile.orig").write_text(ROOT_PIP)
    (tmp_path / "Containerfile").write_text(optimised)
    original, first, second = (buildah_cleanup.tag(f"shlax-opt-pip{n}") for n in range(3))
    build(tmp_path / "Containerfile.orig", original)
    build(tmp_path / "Containerfile", first)
    build(tmp_path / "Containerfile", second)
    assert read_file(second, "/installed").startswith("wheel-")  # the first build's file, in the cache
    tree_a, tree_b = file_tree(original), file_tree(second)
    differ = sorted(p for p in set(tree_a) | set(tree_b) if tree_a.get(p) != tree_b.get(p))
    assert differ == ["/installed", "/root/.cache"]
    assert "/root/.cache/pip" not in tree_b
