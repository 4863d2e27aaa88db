"""The stage graph: global ARGs, ARG/ENV scoping, build args, stage references, --target pruning, per-instruction
expansion and located errors. Inputs go through the real parser; golden cases live in ``fixtures/stages``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from shlax_front import instructions as ins
from shlax_front import messages
from shlax_front import stages as st
from shlax_front.errors import ParseError
from shlax_front.parser import parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stages"


def make_plan(text: str, build_args: dict[str, str] | None = None, target: str | None = None) -> st.BuildPlan:
    return st.plan(
        parse(text, "Containerfile"),
        build_args,
        target,
        platform="linux/arm/v6",
        build_platform="linux/amd64",
    )


def steps(
    text: str, build_args: dict[str, str] | None = None, base_env: list[str] | None = None
) -> list[st.Step]:
    result = make_plan(text, build_args)
    return result.steps(result.target, base_env)


def failure(text: str, build_args: dict[str, str] | None = None, target: str | None = None) -> ParseError:
    with pytest.raises(ParseError) as caught:
        make_plan(text, build_args, target)
    return caught.value


def test_global_args_in_from_and_bare_arg_inheritance() -> None:
    text = "ARG BASE=debian\nARG TAG=12\nFROM --platform=$TARGETPLATFORM ${BASE}:$TAG AS app\nARG TAG\nARG BASE=x\nRUN true\n"
    result = make_plan(text)
    assert (result.target.image, result.target.platform) == ("debian:12", "linux/arm/v6")
    arg_tag, arg_base, run = result.steps(result.target)
    assert arg_tag.expanded.pairs == (("TAG", "12"),)  # bare ARG inherits the global value
    assert arg_base.expanded.pairs == (("BASE", "x"),)  # a default wins over the global value
    assert run.scope.variables() == {"TAG": "12", "BASE": "x"}
    # Global ARGs are not visible in a stage without an ARG line.
    assert steps("ARG V=1\nFROM scratch\nENV X=$V\n")[0].expanded.pairs == (("X", ""),)


def test_build_args_override_defaults_and_globals() -> None:
    text = "ARG TAG=12\nFROM debian:$TAG\nARG TAG\nARG MODE=dev\nARG UNSET\nWORKDIR /$MODE/$TAG$UNSET\n"
    result = make_plan(text, {"TAG": "11", "MODE": "prod"})
    assert result.target.image == "debian:11"
    workdir = result.steps(result.target)[-1]
    assert workdir.expanded.path == "/prod/11"
    assert workdir.used == {"MODE", "TAG"}
    assert ("UNSET", None) in workdir.scope.args


def test_predefined_platform_args() -> None:
    text = "FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETOS TARGETARCH TARGETVARIANT BUILDARCH\nENV T=$TARGETOS/$TARGETARCH/$TARGETVARIANT B=$BUILDARCH\n"
    result = make_plan(text)
    assert result.target.platform == "linux/amd64"
    env = result.steps(result.target)[-1].expanded
    assert env.pairs == (("T", "linux/arm/v6"), ("B", "amd64"))
    assert dict(result.global_args)["TARGETSTAGE"] == "build"


def test_env_scoping_one_instruction_sees_values_from_before_it() -> None:
    env1, env2 = steps("FROM scratch\nENV A=1\nENV A=2 B=$A\n")
    assert env2.expanded.pairs == (("A", "2"), ("B", "1"))
    assert env2.scope.env == (("A", "1"),)


def test_arg_defaults_see_names_to_their_left() -> None:
    (arg,) = steps("FROM scratch\nARG A=1 B=${A}2\n")
    assert arg.expanded.pairs == (("A", "1"), ("B", "12"))


def test_env_wins_over_arg() -> None:
    *_, run = steps("FROM scratch\nARG V=from-arg\nENV V=from-env\nARG V=again\nRUN echo $V\n")
    assert run.scope.variables()["V"] == "from-env"
    assert run.run_env()["V"] == "from-env"


def test_env_and_label_values_are_unquoted_by_expansion() -> None:
    env, label = steps('FROM scratch\nENV A="x y" B=a\\ b C=\'$HOME\'\nLABEL "org.title"="My $A"\n')
    assert env.expanded.pairs == (("A", "x y"), ("B", "a b"), ("C", "$HOME"))
    assert label.expanded.pairs == (("org.title", "My x y"),)


def test_base_image_env_and_stage_inheritance() -> None:
    text = (
        "FROM debian AS base\nENV PATH=$PATH:/opt/bin\nARG LOCAL=1\nFROM base\nENV PATH=/first:$PATH\nRUN x\n"
    )
    result = make_plan(text)
    final = result.steps(result.target, ["PATH=/usr/bin:/bin", "LANG=C"])
    assert final[0].expanded.pairs == (("PATH", "/first:/usr/bin:/bin:/opt/bin"),)
    assert dict(final[1].scope.env) == {"PATH": "/first:/usr/bin:/bin:/opt/bin", "LANG": "C"}
    assert "LOCAL" not in final[1].scope.variables()  # ARGs do not cross FROM
    assert result.target.base_stage == 0


def test_run_env_gets_proxy_build_args_without_arg() -> None:
    *_, run = steps("FROM scratch\nARG A=1\nRUN env\n", {"http_proxy": "http://p:3128", "OTHER": "x"})
    assert run.run_env({"http_proxy": "http://p:3128", "OTHER": "x"}) == {
        "http_proxy": "http://p:3128",
        "A": "1",
    }


def test_what_is_and_is_not_expanded() -> None:
    text = (
        "FROM scratch\nARG D=/data P=8080 U=app S=SIGTERM\n"
        'RUN echo $D\nCMD echo $D\nENTRYPOINT ["$D"]\nHEALTHCHECK CMD test -d $D\n'
        'COPY --chown=$U:$U --chmod=0755 a$P $D/\nADD --checksum=$S http://x/$P /$D\nVOLUME $D ${D}2\nEXPOSE $P "$P/udp"\n'
        "USER $U\nSTOPSIGNAL $S\nWORKDIR $D\nONBUILD RUN $D\n"
    )
    by_class = {type(s.expanded): s for s in steps(text)}
    for cls in (ins.Cmd, ins.Entrypoint, ins.Healthcheck, ins.Onbuild, ins.Run):
        assert by_class[cls].expanded == by_class[cls].instruction
    assert by_class[ins.Copy].expanded.sources == ("a8080",)
    assert (by_class[ins.Copy].expanded.chown, by_class[ins.Copy].expanded.dest) == ("app:app", "/data/")
    assert by_class[ins.Add].expanded.checksum == "SIGTERM"
    assert by_class[ins.Volume].expanded.paths == ("/data", "/data2")
    assert by_class[ins.Expose].expanded.ports == ("8080", "8080/udp")
    assert by_class[ins.User].expanded.user == "app"
    assert by_class[ins.Stopsignal].expanded.signal == "SIGTERM"
    assert by_class[ins.Workdir].expanded.path == "/data"


def test_expose_splits_words() -> None:
    (_, expose) = steps('FROM scratch\nENV PORTS="80 443"\nEXPOSE $PORTS\n')
    assert expose.expanded.ports == ("80", "443")


def test_copy_heredoc_expands_unless_quoted() -> None:
    text = "FROM scratch\nARG N=world\nCOPY <<a <<'b' /\nhello $N '$N'\na\nbye $N\nb\n"
    copy = steps(text)[-1].expanded
    assert [h.content for h in copy.heredocs] == ["hello world 'world'\n", "bye $N\n"]


def test_run_mount_options_are_expanded() -> None:
    *_, run = steps(
        "FROM scratch\nARG CACHE=/root/.cache ID=pip\nRUN --mount=type=cache,target=$CACHE/pip,id=$ID pip x\n"
    )
    (mount,) = run.expanded.mounts
    assert (mount.resolved, mount.target, mount.id) == (True, "/root/.cache/pip", "pip")
    assert run.used == {"CACHE", "ID"}


def test_stage_references_and_target_pruning() -> None:
    text = (
        "FROM alpine AS deps\nRUN a\n"
        "FROM golang AS Build\nCOPY --from=deps /x /x\nRUN --mount=from=0,target=/m --mount=type=bind,from=nginx:1,target=/n b\n"
        "FROM debian AS docs\nRUN c\n"
        "FROM scratch AS final\nCOPY --from=BUILD /out /out\nCOPY --from=busybox:1 /bin/sh /sh\n"
    )
    result = make_plan(text)
    assert [s.label for s in result.stages] == ["deps", "build", "final"]
    assert result.all_stages[1].dependencies == (0,)
    assert result.all_stages[1].images == ("0", "nginx:1")  # mount from= takes names only, like BuildKit
    assert result.target.dependencies == (1,) and result.target.images == ("busybox:1",)
    assert [s.label for s in make_plan(text, target="DOCS").stages] == ["docs"]
    assert [s.label for s in make_plan(text, target="build").stages] == ["deps", "build"]
    assert result.stage("Build").index == 1 and result.stage(3).name == "final"


def test_from_earlier_stage_and_numeric_copy() -> None:
    text = "FROM alpine\nRUN a\nFROM 0 AS x\nFROM x AS y\nCOPY --from=0 /a /a\n"
    result = make_plan(text)
    # FROM takes names, not indexes: "FROM 0" is an image named 0.
    assert result.all_stages[1].base_stage is None
    assert result.target.base_stage == 1 and result.target.dependencies == (0, 1)
    assert [s.index for s in result.stages] == [0, 1, 2]


@pytest.mark.parametrize(
    ("text", "target", "message", "line"),
    [
        ("FROM a AS x\nFROM b AS X\n", None, messages.duplicate_stage("x"), 2),
        (
            "FROM a\nCOPY --from=later /a /b\nFROM b AS later\n",
            None,
            messages.copy_forward_reference("later", "stage-0"),
            2,
        ),
        ("FROM a AS me\nCOPY --from=me /a /b\n", None, messages.copy_forward_reference("me", "me"), 2),
        ("FROM a\nCOPY --from=1 /a /b\nFROM b\n", None, messages.copy_forward_reference("1", "stage-0"), 2),
        ("FROM a\nCOPY --from=5 /a /b\n", None, messages.invalid_stage_index(5), 2),
        (
            "FROM a\nRUN --mount=from=b,target=/m x\nFROM c AS b\n",
            None,
            messages.mount_forward_reference("b", "/m"),
            2,
        ),
        ("ARG S=x\nFROM a AS x\nFROM b\nCOPY --from=$S /a /b\n", None, messages.from_variables(), 4),
        ("ARG B\nFROM $B\n", None, messages.blank_base("$B"), 2),
        ("FROM --platform=$NOPE a\n", None, messages.empty_platform("$NOPE"), 1),
        ("FROM a\nFROM b\n", "nope", messages.unknown_target("nope"), None),  # about the file, not a line
        (
            "FROM scratch\nENV A=${B:?unset}\n",
            None,
            "failed to process '${B:?unset}': B: unset",
            2,
        ),
        (
            "FROM a\nRUN ok\nWORKDIR ${x:-y\n",
            None,
            "failed to process '${x:-y': syntax error: missing '}'",
            3,
        ),
        ("ARG V=${\nFROM a\n", None, "failed to process '${': syntax error: missing '}'", 1),
        (
            "FROM scratch\nARG T=nfs\nRUN --mount=type=$T,target=/x true\n",
            None,
            'unsupported mount type "nfs"',
            3,
        ),
    ],
)
def test_errors_are_located(text: str, target: str | None, message: str, line: int | None) -> None:
    err = failure(text, target=target)
    assert (err.message, err.line, err.path) == (message, line, "Containerfile")
    where = "Containerfile: " if line is None else f"Containerfile:{line}: "
    assert str(err).startswith(where + message)


def test_unknown_target_names_the_file_and_the_option() -> None:
    err = failure("FROM a AS x\nFROM b\n", target="y")
    assert str(err) == 'Containerfile: target stage "y" could not be found (--target)'


def test_required_variable_from_unknown_base_image_is_checked_when_walking() -> None:
    text = "FROM debian\nENV A=${HOME:?}\n"
    result = make_plan(text)  # the base image may define HOME: not an error while planning
    assert result.steps(result.target, ["HOME=/root"])[0].expanded.pairs == (("A", "/root"),)
    with pytest.raises(ParseError) as caught:
        result.steps(result.target)
    assert caught.value.line == 2


def test_errors_in_unneeded_stages_are_not_reported() -> None:
    text = "FROM a AS broken\nENV A=${B:?}\nFROM scratch AS fine\nRUN x\n"
    assert [s.label for s in make_plan(text, target="fine").stages] == ["fine"]


def test_plan_to_json_is_serialisable() -> None:
    text = "ARG V=1\nFROM debian:$V AS base\nARG V\nRUN --mount=type=cache,target=/c x\nENV A=$V\nFROM base\n"
    data = st.plan_to_json(make_plan(text))
    json.dumps(data)
    assert data["target"] == "stage-1" and data["order"] == [0, 1]
    base = data["stages"][0]
    assert (base["image"], base["name"], base["from"]["instruction"]) == ("debian:1", "base", "FROM")
    env = base["instructions"][2]
    assert env["pairs"] == [["A", "$V"]] and env["expanded"]["pairs"] == [["A", "1"]]
    assert base["instructions"][1]["mounts"][0]["target"] == "/c"
    assert st.to_json(parse(text))["stages"][1]["base_stage"] == 0


def golden_cases() -> list[Path]:
    return sorted(FIXTURES.glob("*/Containerfile"))


@pytest.mark.parametrize("containerfile", golden_cases(), ids=lambda p: p.parent.name)
def test_golden(containerfile: Path) -> None:
    """Each ``fixtures/stages/<case>/`` holds a Containerfile, optional ``args.json``
    (``{"build_args": {...}, "target": ..., "base_env": [...]}``) and ``expected.json``: per needed stage its
    label, image and, per instruction, ``LINE CLASS`` with the expanded fields that changed."""
    case = containerfile.parent
    options = json.loads((case / "args.json").read_text()) if (case / "args.json").exists() else {}
    result = st.plan(
        parse(containerfile.read_text(), str(containerfile)),
        options.get("build_args"),
        options.get("target"),
        platform="linux/amd64",
        build_platform="linux/amd64",
    )
    actual = []
    for stage in result.stages:
        walked = []
        for step in result.steps(stage, options.get("base_env")):
            entry = {"line": step.line, "instruction": type(step.expanded).__name__.upper()}
            entry["scope"] = step.scope.variables()
            if step.expanded != step.instruction:
                entry["expanded"] = st.ir_to_json(step.expanded)
                for key in ("instruction", "line", "end_line"):
                    entry["expanded"].pop(key)
            walked.append(entry)
        actual.append({"stage": stage.label, "image": stage.image, "steps": walked})
    expected = json.loads((case / "expected.json").read_text())
    assert actual == expected


def test_golden_cases_exist() -> None:
    assert len(golden_cases()) >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/armhf", "linux/arm/v7"),
        ("Linux/x86_64", "linux/amd64"),
        ("linux/arm/6", "linux/arm/v6"),
        ("riscv64", "linux/riscv64"),
    ],
)
def test_platform_normalisation(text: str, expected: str) -> None:
    assert str(st.Platform.parse(text)) == expected


def test_platform_errors_are_located() -> None:
    with pytest.raises(ParseError) as caught:
        st.plan(parse("FROM a\n"), platform="linux//x")
    assert caught.value.line == 1


_WORDS = ["a", "$A", "${B:-x}", "${C:?}", '"q $A"', "'s'", "${", "/p", "build", "0", "1", "X"]
_LINES = [
    "FROM {w} AS {n}",
    "FROM {w}",
    "ARG {n}={w}",
    "ARG {n}",
    "ENV {n}={w}",
    "COPY --from={n} {w} /d",
    "COPY --from={w} /s /d",
    "RUN --mount=type=cache,target={w},from={n} true",
    "WORKDIR {w}",
    "EXPOSE {w}",
    "LABEL {n}={w}",
]


@settings(max_examples=300, deadline=None)
@given(
    hs.lists(
        hs.tuples(
            hs.sampled_from(_LINES), hs.sampled_from(_WORDS), hs.sampled_from(["a", "b", "build", "x1"])
        ),
        min_size=1,
        max_size=8,
    ),
    hs.sampled_from([None, None, "s0", "a", "build", "zz"]),
)
def test_planning_fails_only_with_located_parse_errors(
    lines: list[tuple[str, str, str]], target: str | None
) -> None:
    text = "FROM base AS s0\n" + "".join(
        template.format(w=word, n=name) + "\n" for template, word, name in lines
    )
    try:
        result = st.plan(parse(text, "Containerfile", strict=False), {"A": "1"}, target)
    except ParseError as err:
        if err.line is None:  # only an error about the whole file has no line
            assert err.message == messages.unknown_target(target)
        else:
            assert 1 <= err.line <= len(lines) + 1
        return
    assert result.stages[-1] == result.target
    for stage in result.stages:
        assert all(dep in {s.index for s in result.stages} for dep in stage.dependencies)
        try:
            result.steps(stage, ["C=set"])
        except ParseError as err:
            assert 1 <= err.line <= len(lines) + 1


def test_step_views_of_its_scope() -> None:
    *_, run = steps("FROM scratch\nARG A=1 B\nENV E=2\nRUN x\n", base_env=["PATH=/bin"])
    assert run.env == {"PATH": "/bin", "E": "2"}
    assert run.args == {"A": "1", "B": None}
    assert run.run_env() == {"A": "1", "PATH": "/bin", "E": "2"}
