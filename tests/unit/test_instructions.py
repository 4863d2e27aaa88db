"""Typed instructions from syntax nodes: every instruction, flag validation, ``--mount`` parsing, HEALTHCHECK,
ONBUILD, and located errors. Most cases go through the real parser; a few build ``Node``s by hand to pin the
contract independently of it."""

from __future__ import annotations

import pytest

from shlax_front import instructions as ins
from shlax_front import messages
from shlax_front.errors import ParseError
from shlax_front.parser import parse
from shlax_front.syntax import Node


def one(text: str) -> ins.Instruction:
    """The typed form of the last instruction of ``text`` (a FROM is prepended when needed)."""
    if not text.lstrip().upper().startswith(("FROM", "ARG")):
        text = "FROM scratch\n" + text
    doc = parse(text, "Containerfile", strict=False)
    return ins.from_node(doc.nodes[-1], doc.path)


def failure(text: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        one(text)
    return caught.value


def test_every_keyword_has_a_parser() -> None:
    keywords = {
        "from", "run", "copy", "add", "env", "arg", "label", "workdir", "user", "expose", "volume", "cmd",
        "entrypoint", "shell", "healthcheck", "stopsignal", "maintainer", "onbuild",
    }  # fmt: skip
    assert set(ins.PARSERS) == keywords


def test_from() -> None:
    assert one("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build") == ins.From(
        None, image="golang:1.22", name="build", platform="$BUILDPLATFORM"
    )
    assert one("from debian").name is None
    assert failure("FROM a b").message == messages.from_arguments()
    assert failure("FROM a AS 1x").message == messages.invalid_stage_name("1x")
    assert failure("FROM --plat=x a").message == messages.unknown_flag("--plat")


def test_run_shell_exec_and_flags() -> None:
    run = one("RUN --network=none --security=insecure apt-get update && \\\n  apt-get install -y x")
    assert isinstance(run, ins.Run)
    assert run.command == "apt-get update &&   apt-get install -y x"
    assert (run.exec_form, run.network, run.security) == (False, "none", "insecure")
    exec_run = one('RUN ["/bin/sh", "-c", "echo hi"]')
    assert exec_run.command == ("/bin/sh", "-c", "echo hi") and exec_run.exec_form
    assert failure("RUN --network=bridge true").message == messages.invalid_network("bridge")
    assert failure("RUN --security=x true").message == messages.invalid_security("x")
    assert failure("RUN --foo true").message == messages.unknown_flag("--foo")
    assert failure("RUN --network=none --network=host true").message == messages.duplicate_flag("--network")
    assert failure("RUN --network true").message == messages.missing_flag_value("--network")


def test_run_heredoc() -> None:
    run = one("RUN <<EOF\napt-get update\nEOF\n")
    assert [(h.name, h.content, h.expand) for h in run.heredocs] == [("EOF", "apt-get update\n", True)]
    assert run.command == "<<EOF"


def test_mounts() -> None:
    run = one(
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
        "--mount=type=bind,from=build,source=/out,dst=/in "
        "--mount=type=secret,id=tok,required --mount=type=tmpfs,target=/t,size=64m true"
    )
    cache, bind, secret, tmpfs = run.mounts
    assert (cache.type, cache.target, cache.sharing, cache.readonly) == (
        "cache",
        "/var/cache/apt",
        "locked",
        False,
    )
    assert cache.get("target") == "/var/cache/apt"
    assert (bind.type, bind.from_, bind.source, bind.target, bind.readonly) == (
        "bind",
        "build",
        "/out",
        "/in",
        True,
    )
    assert (secret.id, secret.required, secret.readonly) == ("tok", True, True)
    assert (tmpfs.size, tmpfs.readonly) == ("64m", False)
    default = ins.parse_mount("target=/x,rw")
    assert default.type == "bind" and not default.readonly
    assert ins.parse_mount("type=cache,target=/x,mode=0755,uid=1000,gid=1000").mode == 0o755
    quoted = ins.parse_mount("type=cache,\"target=/a,b\",id='x'")
    assert (quoted.target, quoted.id) == ("/a,b", "x")


def test_mount_with_variables_is_resolved_later() -> None:
    mount = ins.parse_mount("type=cache,target=$HOME/.cache,id=$ID")
    assert not mount.resolved and mount.type == "cache"
    assert ins.parse_mount("type=cache,target=$T", lambda v: v.replace("$T", "/t")).target == "/t"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type=nfs,target=/x", messages.mount_unknown_type("nfs")),
        ("type=bind,target=/x,mode=0755", messages.mount_owner_not_allowed("mode", "bind")),
        ("type=cache,target=/x,sharing=open", messages.mount_unknown_sharing("open")),
        ("type=bind,target=/x,sharing=locked", messages.mount_sharing_not_cache("bind")),
        ("target=/x,required", messages.mount_key_for_type("required", "bind")),
        ("target=/x,colour=red", messages.mount_unknown_key("colour", "colour=red")),
        ("target=/x,weird", messages.mount_not_key_value("weird")),
        ("type=secret", messages.secret_mount_no_target()),
        ("type=cache,target=/x,uid=-1", messages.mount_bad_number("uid", "-1")),
        ("type=bind,from=$STAGE,target=/x", messages.mount_no_variables("from")),
        ('target="/x', messages.csv_bare_quote()),
        ('"target=/x', messages.csv_bad_quote()),
    ],
)
def test_mount_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ins.parse_mount(text)
    assert str(caught.value) == message


def test_mount_error_is_located() -> None:
    err = failure("RUN true\nRUN --mount=type=nfs,target=/x true")
    assert (err.path, err.line) == ("Containerfile", 3)
    assert str(err).startswith("Containerfile:3: " + messages.mount_unknown_type("nfs"))


def test_copy_and_add() -> None:
    copy = one(
        "COPY --from=build --chown=app:app --chmod=0644 --link --exclude=*.md --exclude=.git a b /dst/"
    )
    assert copy == ins.Copy(
        None,
        sources=("a", "b"),
        dest="/dst/",
        from_="build",
        chown="app:app",
        chmod="0644",
        link=True,
        exclude=("*.md", ".git"),
    )
    assert one('COPY ["a b", "/c"]').sources == ("a b",)
    assert one("COPY --parents --link=false a /b").parents and not one("COPY --link=false a /b").link
    add = one("ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tar /z")
    assert isinstance(add, ins.Add)
    assert (add.checksum, add.keep_git_dir, add.unpack, add.sources) == (
        "sha256:abc",
        True,
        False,
        ("https://x/y.tar",),
    )
    assert failure("COPY a").message == messages.no_destination("COPY")
    assert failure("ADD --from=x a b").message == messages.unknown_flag("--from")
    assert failure("COPY --parents=maybe a b").message == messages.bad_boolean("--parents", "maybe")
    assert failure("COPY --link= a b").message == messages.missing_flag_value("--link")


def test_copy_heredoc_sources() -> None:
    copy = one("COPY <<a.txt <<-b.txt plain /dst/\nA\na.txt\n\tB\nb.txt\n")
    assert copy.sources == ("plain",)
    assert [(h.name, h.content) for h in copy.heredocs] == [("a.txt", "A\n"), ("b.txt", "B\n")]
    assert failure("COPY a <<EOF\nx\nEOF\n").message == messages.bad_heredoc("COPY", "a destination")
    # Heredoc words are read by the parser's reading (BuildKit's MustParseHeredoc), in linear time.
    assert ins.heredoc_word_name("<<-'EOF'") == "EOF" and ins.heredoc_word_name("3<< x") == "x"
    assert ins.heredoc_word_name("<<" + " " * 50_000 + "<x") is None
    assert ins.heredoc_word_name("<<" + "\t" * 50_000) is None


def test_env_label_arg_keep_raw_values() -> None:
    assert one('ENV A="x y" B=$A\\ z').pairs == (("A", '"x y"'), ("B", "$A\\ z"))
    assert one("ENV LEGACY some value").pairs == (("LEGACY", "some value"),)
    assert one('LABEL "org.x"="1" b=2').pairs == (('"org.x"', '"1"'), ("b", "2"))
    assert one("ARG A B=1 C= D=a=b").pairs == (("A", None), ("B", "1"), ("C", ""), ("D", "a=b"))
    assert failure("ARG =x").message == messages.blank_names("ARG")


def test_single_argument_instructions() -> None:
    assert one("WORKDIR /app dir").path == "/app dir"
    assert one("USER app:app").user == "app:app"
    assert one("STOPSIGNAL SIGTERM").signal == "SIGTERM"
    assert one("MAINTAINER Jane <j@x>").name == "Jane <j@x>"
    assert one("EXPOSE 80/tcp 443").ports == ("80/tcp", "443")
    assert one('VOLUME ["/a", "/b"]').paths == ("/a", "/b")
    assert one("VOLUME /a /b").paths == ("/a", "/b")
    assert failure('VOLUME [" "]').message == messages.empty_volume()
    assert failure("WORKDIR --x=1 /a").message == messages.unknown_flag("--x")


def test_cmd_entrypoint_shell() -> None:
    assert one('CMD ["nginx", "-g", "daemon off;"]') == ins.Cmd(
        None, command=("nginx", "-g", "daemon off;"), exec_form=True
    )
    assert one("ENTRYPOINT exec app --flag").command == "exec app --flag"
    assert isinstance(one("ENTRYPOINT []"), ins.Entrypoint)
    assert one('SHELL ["/bin/bash", "-eo", "pipefail", "-c"]').argv == ("/bin/bash", "-eo", "pipefail", "-c")
    assert failure("SHELL /bin/bash -c").message == messages.not_json("SHELL")


def test_healthcheck() -> None:
    check = one("HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1")
    assert check.test == ("CMD-SHELL", "curl -f http://localhost/ || exit 1")
    assert check.config() == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        "Interval": 30_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 3,
    }
    assert one('HEALTHCHECK CMD ["/bin/check", "-q"]').test == ("CMD", "/bin/check", "-q")
    assert one("HEALTHCHECK NONE").test == ("NONE",)
    assert one("HEALTHCHECK --start-period=1m30s CMD x").config()["StartPeriod"] == 90_000_000_000
    assert failure("HEALTHCHECK NONE x").message == messages.healthcheck_none_arguments()
    assert failure("HEALTHCHECK RUN x").message == messages.healthcheck_unknown_type("RUN")
    assert failure("HEALTHCHECK --interval=1us CMD x").message == messages.interval_too_short("interval")
    assert failure("HEALTHCHECK --interval=5 CMD x").message == messages.invalid_duration("5")
    assert failure("HEALTHCHECK --retries=-1 CMD x").message == messages.negative_retries(-1)
    assert failure("HEALTHCHECK --retries=x CMD x").message == messages.invalid_retries("x")
    assert failure("HEALTHCHECK --color=x CMD x").message == messages.unknown_flag("--color")


def test_go_durations() -> None:
    assert ins.go_duration_ns("1h2m3.5s") == 3723_500_000_000
    assert ins.go_duration_ns("0") == 0
    assert ins.go_duration_ns("250ms") == 250_000_000
    for bad in ("", "5", "1d", "s", "1.s5"):
        with pytest.raises(ValueError):
            ins.go_duration_ns(bad)


def test_onbuild() -> None:
    trigger = one("ONBUILD RUN --mount=type=cache,target=/x make")
    assert isinstance(trigger, ins.Onbuild)
    assert trigger.trigger == "RUN --mount=type=cache,target=/x make"
    assert isinstance(trigger.instruction, ins.Run) and trigger.instruction.mounts[0].target == "/x"
    assert one("onbuild COPY <<EOF /x\nhi\nEOF\n").trigger == "COPY <<EOF /x\nhi\nEOF"
    # The trigger keeps the body as written: "<<-" tabs are stripped when the trigger runs, not before.
    tabbed = one("ONBUILD RUN <<-EOF\n\techo hi\n\tEOF\n")
    assert tabbed.trigger == "RUN <<-EOF\n\techo hi\nEOF"
    assert tabbed.instruction.heredocs[0].content == "echo hi\n"
    assert failure("ONBUILD ONBUILD RUN x").message == messages.onbuild_chained()
    assert failure("ONBUILD FROM x").message == messages.onbuild_forbidden("FROM")


def test_arg_and_stopsignal_ignore_flags_like_buildkit() -> None:
    assert one("ARG --whatever A=1").pairs == (("A", "1"),)


def test_hand_built_nodes() -> None:
    node = Node(keyword="copy", args=["src", "/dst"], flags=["--from=0"], start_line=7, original="COPY")
    assert ins.from_node(node, "x/Containerfile") == ins.Copy(None, sources=("src",), dest="/dst", from_="0")
    env = Node(keyword="env", args=["A", "1", "="], start_line=2)
    assert ins.from_node(env).pairs == (("A", "1"),)
    bad = Node(keyword="frob", args=["x"], start_line=4, original="FROB")
    with pytest.raises(ParseError) as caught:
        ins.from_node(bad, "x/Containerfile")
    assert str(caught.value).startswith("x/Containerfile:4: " + messages.unknown_instruction("FROB"))
