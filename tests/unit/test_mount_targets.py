"""A relative ``RUN --mount`` target is read from the WORKDIR under the build's rules, as BuildKit and bud 1.39
read it (Docker's Go guide: ``--mount=type=bind,source=go.mod,target=go.mod``; ``--mount=target=.``). It was
passed to ``buildah run`` as written, which refused it ("invalid container path", exit 125)."""

from __future__ import annotations

from shlax_front.backend.plan import Planner
from shlax_front.backend.steps import RunStep
from shlax_front.parser import parse

TEXT = """FROM busybox
WORKDIR /src
RUN --mount=type=bind,source=go.mod,target=go.mod --mount=target=. --mount=type=cache,target=/root/.cache cat go.mod
WORKDIR sub
ARG DIR=cache
RUN --mount=type=cache,dst=./$DIR/x,id=c --mount=type=secret,id=s,target=../s.txt true
"""


def test_relative_targets_are_joined_to_the_workdir():
    runs = [s for s in Planner(parse(TEXT), build_args={}).plan().stages[0].steps if isinstance(s, RunStep)]
    targets = [[dict(m.options).get("target") or dict(m.options).get("dst") for m in r.mounts] for r in runs]
    assert targets == [["/src/go.mod", "/src", "/root/.cache"], ["/src/sub/cache/x", "/src/s.txt"]]


def test_a_target_from_a_variable_is_expanded_in_what_buildah_gets():
    """``--mount=type=cache,target=${GOMODCACHE}`` (an ENV of the parent stage): the typed target was expanded,
    the options handed to ``buildah run`` were not ("invalid container path", exit 125)."""
    text = (
        "FROM busybox AS base\nENV GOMODCACHE=/go/pkg/mod/\nFROM base\nWORKDIR /src\n"
        "RUN --mount=type=cache,target=${GOMODCACHE} --mount=type=bind,target=rel/$GOMODCACHE,source=. true\n"
    )
    run = [s for s in Planner(parse(text), build_args={}).plan().stages[1].steps if isinstance(s, RunStep)][0]
    assert [dict(m.options)["target"] for m in run.mounts] == ["/go/pkg/mod/", "/src/rel/go/pkg/mod"]
