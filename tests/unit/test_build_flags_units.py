"""Unit tests of the bud/docker build flags: how each value is read and refused, what reaches buildah's
command line (never a password), the unused build-arg list, readable errors for bytes that are not UTF-8."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from fake_runner import FakeRunner

from shlax_front import stages
from shlax_front.backend import flags, pullauth, validate
from shlax_front.backend.api import BuildRequest, run_request
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.sshmount import SshError, ssh_volumes
from shlax_front.backend.steps import Location, RunMount, RunStep
from shlax_front.errors import ParseError, ShlaxError
from shlax_front.parser import parse


@pytest.mark.parametrize(
    "tag",
    ["app", "app:1.0", "localhost/app", "localhost:5000/team/app:v_1.2-rc", "reg.example.com/a/b",
     "app@sha256:" + "a" * 64],
)  # fmt: skip
def test_valid_tags(tag):
    assert flags.check_tag(tag) == tag


@pytest.mark.parametrize(
    ("tag", "says"),
    [("App", "must be lowercase"), ("Team/app", "must be lowercase"), ("app:", "invalid reference format"),
     ("a:b:c", "invalid reference format"), ("-app", "invalid reference format"), ("app:-x", "invalid")],
)  # fmt: skip
def test_invalid_tags(tag, says):
    with pytest.raises(ShlaxError, match=says):
        flags.check_tag(tag)


def test_pull_policy_follows_bud():
    assert flags.pull_policy(None) == "missing"
    assert flags.pull_policy("true") == "newer"  # --pull alone, as bud 1.28 reads it
    assert flags.pull_policy("false") == "missing"
    assert [flags.pull_policy(p) for p in ("always", "never", "NEWER")] == ["always", "never", "newer"]
    with pytest.raises(ShlaxError, match="--pull=sometimes"):
        flags.pull_policy("sometimes")


@pytest.mark.parametrize(
    ("reader", "value", "says"),
    [
        (flags.add_host, "host", "expected HOST:IP"),
        (flags.add_host, "host:999.1.1.1", "is not an IP address"),
        (flags.ulimit, "files=1", "expected NAME=SOFT"),
        (flags.ulimit, "nofile=20:10", "soft limit is above the hard limit"),
        (flags.shm_size, "lots", "expected <number><unit>"),
        (flags.network, "bridge0", "expected private, none, host"),
        (flags.volume, "relative", "expected SRC:DST"),
        (flags.volume, "/tmp:relative", "must be an absolute path"),
        (flags.volume, "/tmp:/x:bogus", "unknown option 'bogus'"),
        (flags.output, "type=image", "not supported"),
        (flags.output, "type=tar", "expected dest=PATH"),
        (flags.output, "type=registry", "needs name=HOST/REPOSITORY"),
        (flags.output, "type=registry,name=Bad/Name", "invalid reference format"),
        (flags.timestamp, "soon", "expected seconds since the epoch"),
    ],
)
def test_bad_values_name_their_flag(reader, value, says):
    with pytest.raises(ShlaxError, match=says):
        reader(value)


def test_good_values():
    assert flags.add_host("db:10.0.0.2") == "db:10.0.0.2"
    assert flags.add_host("db6:::1") == "db6:::1"
    assert flags.ulimit("nofile=1024:2048") == "nofile=1024:2048"
    assert flags.network("default") == "private"
    assert flags.volume("/tmp:/data:ro,Z") == "/tmp:/data:ro,Z"
    assert flags.output("type=local,dest=out") == flags.Output("local", os.path.abspath("out"))
    assert flags.output("type=registry,name=r.example:5000/app:1") == flags.Output(
        "registry", "r.example:5000/app:1"
    )
    assert flags.timestamp("0") == 0


def test_platform_only_this_machine(monkeypatch):
    from shlax_front.platforms import host_platform

    flags.platform(str(host_platform()))
    with pytest.raises(ShlaxError, match="--platform linux/s390x: only this machine's platform"):
        flags.platform("linux/s390x")


def test_build_contexts_and_ssh(tmp_path):
    assert flags.build_contexts([f"extra={tmp_path}"]) == {"extra": str(tmp_path)}
    with pytest.raises(ShlaxError, match="only a local directory"):
        flags.build_contexts(["x=docker-image://busybox"])
    with pytest.raises(ShlaxError, match="no such directory"):
        flags.build_contexts([f"x={tmp_path / 'missing'}"])
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "agent"))
    try:
        assert flags.ssh(["default"], {"SSH_AUTH_SOCK": str(tmp_path / "agent")})["default"].socket
        key = tmp_path / "id_ed25519"
        key.write_text("key")
        assert flags.ssh([f"deploy={key}"], {})["deploy"].keys == (str(key),)
        with pytest.raises(ShlaxError, match="SSH_AUTH_SOCK is not set"):
            flags.ssh(["default"], {})
    finally:
        sock.close()


def test_sources_are_read_from_the_request(tmp_path):
    request = BuildRequest(
        context=str(tmp_path), add_hosts=("db:10.0.0.2",), ulimits=("nofile=10",), volumes=(f"{tmp_path}:/v",),
        shm_size="64m", tls_verify=False,
    )  # fmt: skip
    read = flags.read(request, {"SOURCE_DATE_EPOCH": "1234"})
    assert read.container_options == (
        "--add-host", "db:10.0.0.2", "--ulimit", "nofile=10", "--shm-size", "64m", "--volume", f"{tmp_path}:/v",
    )  # fmt: skip
    assert read.registry_options == ("--tls-verify=false",)
    assert read.timestamp == 1234  # SOURCE_DATE_EPOCH when --timestamp is not given
    as_arg = BuildRequest(context=str(tmp_path), build_args={"SOURCE_DATE_EPOCH": "99"})
    assert flags.read(as_arg, {"SOURCE_DATE_EPOCH": "1234"}).timestamp == 99  # docker's build arg first
    assert validate.unused_build_args(as_arg.build_args, set()) == []


def test_a_password_never_reaches_the_command_line(tmp_path):
    runner = FakeRunner()
    buildah = Buildah(runner, creds="someone:s3cret")
    seen = {}

    def run(argv, **kw):
        if argv[1] == "pull":
            path = argv[argv.index("--authfile") + 1]
            seen["mode"] = os.stat(path).st_mode & 0o777
            seen["auths"] = json.loads(Path(path).read_text())["auths"]
            seen["path"] = path
        return FakeRunner.run(runner, argv, **kw)

    runner.run = run  # type: ignore[method-assign]
    buildah.pull("reg.example.com/team/app:1", "always")
    (pull,) = [c for c in runner.calls if c[1] == "pull"]
    assert "s3cret" not in " ".join(pull) and "--policy=always" in pull
    assert seen["mode"] == 0o600 and list(seen["auths"]) == ["reg.example.com"]
    assert not os.path.exists(seen["path"])  # deleted after the pull
    assert pullauth.registry_of("busybox") == "docker.io"


def test_unused_build_args_as_bud_lists_them():
    doc = parse("ARG G\nFROM busybox AS a\nARG A\nFROM busybox\nARG B=1 C\n")
    declared = stages.plan(doc).declared_args()
    assert declared == {"G", "A", "B", "C"}
    given = {"A": "1", "X": "2", "HTTP_PROXY": "p", "all_proxy": "p", "TARGETARCH": "arm64"}
    assert validate.unused_build_args(given, declared) == ["TARGETARCH", "X", "all_proxy"]


def test_an_error_about_bytes_that_are_not_utf8_reads_as_text():
    text = b"FROM busybox\n\xff\xfe garbage\n".decode("utf-8", errors="surrogateescape")
    err = validate.readable_error(
        ParseError(f"unknown instruction: {text.splitlines()[1]}", "Containerfile", 2), text
    )
    assert "\\udc" not in repr(str(err)) and "\ufffd\ufffd garbage" in str(err)
    assert str(err).endswith("(not UTF-8 text at byte 13)")


def test_checks_run_before_any_buildah_call(tmp_path):
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN true\n")
    runner = FakeRunner()
    for request, says in (
        (BuildRequest(context=str(tmp_path), tags=("Bad",)), "-t Bad: invalid reference format"),
        (BuildRequest(context=str(tmp_path), containerfile=str(tmp_path)), "is a directory"),
        (
            BuildRequest(context=str(tmp_path), cache_dir="/proc/none"),
            "--cache-dir /proc/none: cannot create it",
        ),
        (BuildRequest(context=str(tmp_path), platform="linux/s390x"), "--platform"),
    ):
        with pytest.raises(ShlaxError, match=says):
            run_request(request, runner=runner)
    assert runner.calls == []


def test_ssh_mount_binds_the_agent_socket():
    step = RunStep(Location("Containerfile", 3), "RUN --mount=type=ssh git clone", mounts=(RunMount("ssh"),))
    assert ssh_volumes(step, {"default": "/tmp/agent.sock"}) == (
        ["/tmp/agent.sock:/run/buildkit/ssh_agent.0"],
        [("SSH_AUTH_SOCK", "/run/buildkit/ssh_agent.0")],
        ["/run/buildkit/ssh_agent.0"],
    )
    assert ssh_volumes(step, {}) == ([], [], [])  # not given, not required: skipped
    required = RunStep(
        step.location, step.text, mounts=(RunMount("ssh", (("id", "git"), ("required", "true"))),)
    )
    with pytest.raises(SshError, match="Containerfile:3: .*ssh agent 'git' is required"):
        ssh_volumes(required, {})


def test_ssh_key_files_are_served_by_an_agent_started_for_the_build(tmp_path):
    import subprocess

    from shlax_front.backend.sshmount import agents

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with agents({"deploy": flags.SshSource("deploy", keys=(str(key),))}) as sockets:
        listed = subprocess.run(
            ["ssh-add", "-l"],
            env={**os.environ, "SSH_AUTH_SOCK": sockets["deploy"]},
            capture_output=True,
            text=True,
        )
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1
    assert not os.path.exists(sockets["deploy"])  # the agent and its directory are gone with the build


def test_the_library_build_takes_the_flags(tmp_path):
    import shlax_front

    (tmp_path / "Containerfile").write_text("FROM busybox\n")
    with pytest.raises(ShlaxError, match="--pull=sometimes"):
        shlax_front.build(str(tmp_path), cache_dir=str(tmp_path / "c"), pull="sometimes")


@pytest.mark.parametrize(
    ("args", "pull", "tls", "context"),
    [(["--pull", "ctx"], "true", None, "ctx"), (["--pull=never", "ctx"], "never", None, "ctx"),
     (["--tls-verify", "--pull", "ctx"], "true", True, "ctx"), (["--tls-verify=false", "ctx"], None, False, "ctx")],
)  # fmt: skip
def test_pull_and_tls_verify_alone_never_take_the_context(args, pull, tls, context, tmp_path, monkeypatch):
    from shlax_front.commands.build import build_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ctx").mkdir()
    params = build_command.make_context("build", list(args)).params
    assert (params["pull"], params["tls_verify"], params["context"]) == (pull, tls, context)


def test_labels_end_the_final_stage_and_annotations_alone_ride_on_its_last_commit():
    from types import SimpleNamespace

    from shlax_front.backend.prepare import planned
    from shlax_front.backend.steps import BuildSteps, ConfigStep, FromStep, Stage

    def plan_with(**fields):
        where = Location("Containerfile", 2)
        stage = Stage(0, None, [FromStep(where, "FROM busybox"), RunStep(where, "RUN true")])
        request = BuildRequest(**fields)
        return planned(BuildSteps([stage]), SimpleNamespace(doc=None), request).stages[0].steps

    labelled = plan_with(labels=("team=core",), annotations=("note=hi",))
    assert isinstance(labelled[-1], ConfigStep)
    assert labelled[-1].options == ("--label", "team=core", "--annotation", "note=hi")
    assert labelled[-1].history == '/bin/sh -c #(nop) LABEL "team"="core"'
    annotated = plan_with(annotations=("note=hi",))
    assert isinstance(annotated[1], ConfigStep) and annotated[1].options == ("--annotation", "note=hi")
    assert isinstance(annotated[-1], RunStep)


def test_a_failed_pull_is_not_tried_again_in_the_same_build():
    from shlax_front.backend.runner import CommandFailed, Result

    runner = FakeRunner()
    pulls = []

    def run(argv, **kw):
        if argv[1] == "pull":
            pulls.append(argv)
            return Result(list(argv), 125, "", "connection refused")
        return FakeRunner.run(runner, argv, **kw)

    runner.run = run  # type: ignore[method-assign]
    buildah = Buildah(runner)
    for _ in range(2):  # the planner's read of the image, then the executor's FROM
        with pytest.raises(CommandFailed):
            buildah.pull("localhost:9/app", "always")
    assert len(pulls) == 1


def test_layers_rm_and_force_rm_are_taken_and_never_take_the_next_word(tmp_path):
    """``buildah bud --layers -t app .`` and ``docker build --rm --force-rm .`` keep their command line: the
    flags are read, with or without ``=BOOL``, and change nothing; a bare one never eats the next word."""
    import click

    from shlax_front.commands.build import build_command

    words = ["--layers", "-t", "app", "--rm=false", "--force-rm", str(tmp_path)]
    ctx = build_command.make_context("build", words)
    assert ctx.params["tags"] == ("app",) and ctx.params["context"] == str(tmp_path)
    assert "always_so" not in ctx.params
    with pytest.raises(click.BadParameter, match="maybe"):
        build_command.make_context("build", ["--layers=maybe", str(tmp_path)])


def test_image_format_is_the_flag_else_buildah_format_as_bud_spells_it():
    assert flags.image_format(None, {}) is None  # the executor's default
    assert flags.image_format(None, {"BUILDAH_FORMAT": "docker"}) == "docker"
    assert flags.image_format("oci", {"BUILDAH_FORMAT": "docker"}) == "oci"
    with pytest.raises(ShlaxError, match="BUILDAH_FORMAT=OCI: expected oci or docker"):
        flags.image_format(None, {"BUILDAH_FORMAT": "OCI"})  # bud: unrecognized image type "OCI"
    with pytest.raises(ShlaxError, match="--format=v2s2: expected oci or docker"):
        flags.image_format("v2s2", {})


def test_a_build_arg_without_value_is_the_environments_or_none_as_in_bud(monkeypatch):
    """``--build-arg NAME`` takes NAME from the environment; without it bud drops NAME (the ARG keeps its
    default) where shlax-front stopped with '--build-arg NAME: expected KEY=VALUE' (scripts pass
    ``--build-arg http_proxy`` whether or not a proxy is set)."""
    from shlax_front.commands.build import build_arg_values

    monkeypatch.setenv("FROM_ENV", "env value")
    for name in ("NOT_SET", "DROPPED", "KEPT", "EMPTY"):
        monkeypatch.delenv(name, raising=False)
    given = ["DROPPED=1", "FROM_ENV", "NOT_SET", "KEPT=x=y", "EMPTY=", "DROPPED"]
    assert build_arg_values(given) == {"FROM_ENV": "env value", "KEPT": "x=y", "EMPTY": ""}
    assert build_arg_values(["NOT_SET=2", "NOT_SET"]) == {}


def test_logfile_takes_the_builds_whole_output_as_bud(tmp_path):
    """``--logfile FILE``: what the build prints on stdout and stderr goes to FILE (0600), nothing to the terminal;
    a path that cannot be written is one line, exit status 2. shlax-front stopped at 'No such option'."""
    import subprocess
    import sys

    from shlax_front import logfile

    assert logfile.given(["build", "--logfile", "a", "--logfile=b", "."]) == "b"
    assert logfile.given(["build", ".", "--", "--logfile", "a"]) is None
    assert logfile.given(["optimize", "--logfile", "a"]) is None
    (tmp_path / "Containerfile").write_text("FROM busybox\nCOPY onlyone\n")
    log = tmp_path / "build.log"
    log.write_text("an earlier build's log\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop(logfile.REDIRECTED, None)

    def build(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(tmp_path / "c"), *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env)

    run = build("--logfile", str(log), str(tmp_path))
    assert (run.returncode, run.stdout, run.stderr) == (2, "", "")
    assert log.read_text().strip().endswith("COPY requires at least two arguments, but only one was provided. "
                                            "Destination could not be determined: COPY onlyone")  # fmt: skip
    assert "earlier" not in log.read_text()
    fresh = tmp_path / "fresh.log"
    assert build("--logfile", str(fresh), str(tmp_path)).returncode == 2
    assert os.stat(fresh).st_mode & 0o777 == 0o600 and "COPY onlyone" in fresh.read_text()
    missing = tmp_path / "no" / "such.log"
    run = build(f"--logfile={missing}", str(tmp_path))
    assert (run.returncode, run.stderr) == (2, f"--logfile {missing}: No such file or directory\n")


def test_a_relative_containerfile_not_found_here_is_the_contexts_as_in_bud(tmp_path, monkeypatch):
    """``-f Dockerfile.dev src``: bud reads ``src/Dockerfile.dev`` when the working directory has no
    ``Dockerfile.dev`` (one there comes first); shlax-front said '-f Dockerfile.dev: no such file'."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Dockerfile.dev").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)
    assert validate.containerfile_path("Dockerfile.dev", "src") == os.path.join("src", "Dockerfile.dev")
    (tmp_path / "Dockerfile.dev").write_text("FROM scratch\n")
    assert validate.containerfile_path("Dockerfile.dev", "src") == "Dockerfile.dev"
    with pytest.raises(ShlaxError, match="^-f other: no such file$"):
        validate.containerfile_path("other", "src")
    absolute = str(tmp_path / "missing")
    with pytest.raises(ShlaxError, match="no such file"):
        validate.containerfile_path(absolute, "src")


@pytest.mark.parametrize(
    ("words", "pull"),
    [(["--pull-always"], "always"), (["--pull-never"], "never"), (["--pull-never=true"], "never"),
     (["--pull-always=false"], None), (["--pull=never", "--pull-always=0"], "never")],
)  # fmt: skip
def test_buds_hidden_pull_spellings_are_the_policy_they_stand_for(words, pull, tmp_path):
    """bud 1.28 and 1.39 still take ``--pull-always`` and ``--pull-never`` (hidden, from older buildah); scripts
    passing them stopped at 'No such option'."""
    from shlax_front.commands.build import build_command

    ctx = build_command.make_context("build", [*words, str(tmp_path)])
    assert (ctx.params["pull"], ctx.params["context"]) == (pull, str(tmp_path))


def test_compress_and_skip_unused_stages_are_taken_and_false_is_refused_naming_the_flag(tmp_path):
    """``--compress`` (bud: "a legacy option, which has no effect") and ``--skip-unused-stages`` (bud's default,
    true: what is done here anyway) are taken, bare or ``=BOOL``, never eating the next word;
    ``--skip-unused-stages=false`` (build every stage) is not supported: refused with the flag's name (exit 2)."""
    import click
    from click.testing import CliRunner

    from shlax_front.cli import cli
    from shlax_front.commands.build import build_command

    words = ["--compress", "-t", "app", "--skip-unused-stages", "--compress=false", str(tmp_path)]
    ctx = build_command.make_context("build", words)
    assert ctx.params["tags"] == ("app",) and ctx.params["context"] == str(tmp_path)
    build_command.make_context("build", ["--skip-unused-stages=true", str(tmp_path)])
    with pytest.raises(click.BadParameter, match="=false is not supported"):
        build_command.make_context("build", ["--skip-unused-stages=false", str(tmp_path)])
    refused = CliRunner().invoke(cli, ["build", "--skip-unused-stages=false", str(tmp_path)])
    assert refused.exit_code == 2 and "'--skip-unused-stages'" in refused.output


def test_a_second_containerfile_is_refused_not_built_instead_of_the_first(tmp_path):
    """``-f base -f extra``: bud builds base's instructions then extra's; the last ``-f`` alone was built (another
    image, or 'RUN before the first FROM'). Now one line naming both, exit status 2."""
    from shlax_front.cli import main

    (tmp_path / "Containerfile").write_text("FROM busybox\n")
    with pytest.raises(SystemExit) as ended:
        main(["build", "-f", "Containerfile", "--file=extra", str(tmp_path)])
    assert ended.value.code == 2
    from shlax_front.commands.build import build_command

    ctx = build_command.make_context("build", ["-f", "Containerfile", str(tmp_path)])
    assert ctx.params["containerfile"] == "Containerfile"
    assert build_command.make_context("build", [str(tmp_path)]).params["containerfile"] is None
