"""The per-version bud rules: which version gets which rules, and what they change (no buildah needed)."""

from __future__ import annotations

import os

import pytest

from shlax_front import instructions as ins
from shlax_front.backend import budversion
from shlax_front.backend.budversion import BUD_1_28, BUD_1_39
from shlax_front.backend.mountpoints import MountPoints
from shlax_front.backend.steps import RunMount
from shlax_front.errors import ParseError
from shlax_front.parser import parse
from shlax_front.platforms import host_platform
from shlax_front.stages import plan


def test_versions_map_to_the_nearest_measured_rules():
    assert budversion.parse_version(
        "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)"
    ) == (1, 28)
    assert budversion.parse_version("buildah version 1.39.3 (image-spec 1.1.0, runtime-spec 1.2.0)") == (
        1,
        39,
    )
    assert budversion.parse_version("command not found") is None
    assert budversion.rules_for((1, 27)) is BUD_1_28
    assert budversion.rules_for((1, 33)) is BUD_1_28
    assert budversion.rules_for((1, 39)) is BUD_1_39
    assert budversion.rules_for((1, 42)) is BUD_1_39
    assert budversion.rules_for((2, 0)) is BUD_1_39
    assert BUD_1_28.key != BUD_1_39.key


def test_platform_args_join_the_build_args_only_under_build_argument_rules():
    host = host_platform()
    assert BUD_1_28.with_platform_args({"A": "1"}) == {"A": "1"}
    values = BUD_1_39.with_platform_args({"TARGETARCH": "given"})
    assert values["TARGETARCH"] == "given" and values["BUILDARCH"] == host.arch
    assert "TARGETSTAGE" not in values and "TARGETOSVERSION" not in values  # bud does not predefine them


def test_redefining_a_platform_arg_is_refused_with_its_line():
    doc = parse("ARG TARGETOS=x\nFROM busybox\nARG BUILDPLATFORM\nARG TARGETPLATFORM=linux/amd64\n")
    graph = plan(doc)
    args = [*graph.meta_args, *(i for s in graph.stages for i in s.instructions if isinstance(i, ins.Arg))]
    budversion.refuse_redefinitions(BUD_1_28, args, "Containerfile")
    with pytest.raises(ParseError) as err:
        budversion.refuse_redefinitions(BUD_1_39, args, "Containerfile")
    assert str(err.value) == (
        "Containerfile:4: ARG TARGETPLATFORM: buildah 1.39 refuses a default for the platform ARG it sets "
        "(attempted to redefine TARGETPLATFORM): ARG TARGETPLATFORM=linux/amd64"
    )


def test_covered_targets_deleted_only_under_1_28(tmp_path):
    root = tmp_path / "root"
    (root / "srv" / "data").mkdir(parents=True)
    (root / "srv" / "data" / "keep").write_text("keep\n")
    (root / "etc").mkdir()
    (root / "etc" / "secret").write_text("keep\n")
    mounts = [RunMount("bind", (("source", "dd"), ("target", "/srv/data")))]
    old = MountPoints.before(str(root), [], mounts, ["/etc/secret", "/run/secrets/new"], rules=BUD_1_28)
    new = MountPoints.before(str(root), [], mounts, ["/etc/secret", "/run/secrets/new"], rules=BUD_1_39)
    assert old.replaced == [os.path.join(root, "srv", "data")] and new.replaced == []
    assert old.doomed == [os.path.join(root, "etc", "secret")] and new.doomed == []
    assert old.created == new.created  # mount points a RUN creates: alike in both


def test_a_bind_mount_spelled_as_a_volume():
    assert budversion.bind_as_volume("type=bind,source=/c/mounts/x,target=/x,rw") == "/c/mounts/x:/x:rw"
    assert (
        budversion.bind_as_volume("type=bind,source=/c,target=/x,readonly,nosuid,bind-propagation=rshared")
        == "/c:/x:ro,nosuid,rshared"
    )
    assert budversion.bind_as_volume("type=bind,source=/c,target=/x") == "/c:/x"
    assert BUD_1_28.run_bind_writes_kept and not BUD_1_39.run_bind_writes_kept
