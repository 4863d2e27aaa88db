"""The pip wheelhouse specs a planned RUN gets: expanded as its shell will see them, or none when unknowable."""

from __future__ import annotations

import pytest

from shlax_front.backend.plan import Planner
from shlax_front.parser import parse


def _wheelhouse_of(text: str, **build_args: str) -> list[tuple[str, ...]]:
    """The pip specs each RUN's wheelhouse will ``pip download`` (the plan the executor gets)."""
    doc = parse(text)
    plan = Planner(doc, build_args, None, lambda ref: None).plan()
    steps = [s for stage in plan.stages for s in stage.steps if getattr(s, "wheelhouse", None) is not None]
    return [wh.packages for s in steps for _, wh in s.wheelhouse]


def test_wheelhouse_gets_the_specs_the_shell_sees():
    """tianon/dockerfiles beets: ``ENV BEETS_VERSION 2.13.1`` then ``pip install --no-cache-dir "beets ==
    $BEETS_VERSION"``. The wheelhouse got the spec as written, quotes and all: ``pip download`` refused it,
    so every build (an added package too) fetched all 22 MB from the index again."""
    base = "FROM debian:bookworm\nENV BEETS_VERSION 2.13.1\nARG EXTRA=six\n"
    run = 'RUN set -eux; pip install --no-cache-dir "beets == $BEETS_VERSION" ${EXTRA}; beet --version\n'
    assert _wheelhouse_of(base + run) == [("beets == 2.13.1", "six")]
    assert _wheelhouse_of(base + run, EXTRA="idna") == [("beets == 2.13.1", "idna")]


@pytest.mark.parametrize(
    "run",
    [
        'RUN V=2.0; pip install "beets == $V"',  # set by the script itself
        'RUN export BEETS_VERSION=2.0 && pip install "beets == $BEETS_VERSION"',
        'RUN pip install "beets == $(cat /version)"',  # runs a command
        'RUN pip install "beets == $UNSET"',  # nothing in scope: only the shell knows
    ],
)
def test_no_wheelhouse_when_the_specs_cannot_be_known(run):
    assert _wheelhouse_of("FROM debian:bookworm\nENV BEETS_VERSION 2.13.1\n" + run + "\n") == []
