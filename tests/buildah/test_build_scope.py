"""A stage built ``FROM`` an earlier stage sees that stage's USER, ENV and WORKDIR: in the IR (cache owners) and
in the build, the same as when the steps are written in one stage.

The stand-in ``npm`` fails like the real one when its cache folder is not the user's own ("root-owned files"),
so a cache mount made for the wrong owner shows up as a failed build, not as a silent slowdown.
"""

from __future__ import annotations

import pytest
from buildah_tools import forget_layers, read_file, shlax

FAKE_NPM = (
    'RUN printf \'#!/bin/sh\\nset -e\\ncache="${npm_config_cache:-$HOME/.npm}"\\n'
    'touch "$cache/_probe" 2>/dev/null || { echo "Your cache folder contains root-owned files" >&2; exit 1; }\\n'
    "id -u > installed-by\\n' > /usr/local/bin/npm && chmod 755 /usr/local/bin/npm"
)

BASE = f"""\
FROM debian:bookworm AS base
{FAKE_NPM}
RUN useradd -m -u 1000 app
USER 1000:1000
ENV HOME=/home/app
WORKDIR /home/app
"""

SPLIT = BASE + "\nFROM base\nRUN npm install\n"
ONE_STAGE = BASE + "RUN npm install\n"


@pytest.mark.parametrize("text", [ONE_STAGE, SPLIT], ids=["one-stage", "child-stage"])
def test_npm_in_a_child_stage_runs_as_the_parents_user(text, tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(text)
    tag = buildah_cleanup.tag()
    try:
        shlax("build", "-t", tag, str(ctx), cache_dir=tmp_path / "cache")
        assert read_file(tag, "/home/app/installed-by") == "1000\n"
    finally:
        forget_layers(tmp_path / "cache")
