"""The one scope walker: a stage built FROM an earlier stage sees that stage's USER and ENV (cache owners)."""

from __future__ import annotations

from shlax_front import actions as A
from shlax_front.lower import lower
from shlax_front.parser import parse
from shlax_front.passes import run_passes

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


def _npm_cache_mount(text: str) -> A.CacheMount:
    runs = [
        action
        for stage in run_passes(lower(parse(text)))
        for action in stage.actions
        if isinstance(action, A.Npm)
    ]
    (npm,) = runs
    (mount,) = npm.caching.mounts
    return mount


def test_child_stage_cache_mount_belongs_to_the_parents_user():
    in_one = _npm_cache_mount(ONE_STAGE)
    in_child = _npm_cache_mount(SPLIT)
    assert (in_one.uid, in_one.gid) == (1000, 1000)
    assert (in_child.uid, in_child.gid, in_child.target) == (in_one.uid, in_one.gid, in_one.target)
