"""Unit tests of the build backend with a fake buildah runner: keys, ignore rules, what a cached step costs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fake_runner import FakeRunner

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.context import BuildContext, IgnoreRules
from shlax_front.backend.executor import Executor, Options
from shlax_front.backend.hostcache import HostCaches, partition_name, records_directory
from shlax_front.backend.keys import explain_miss, step_key
from shlax_front.backend.mountpoints import missing_ancestors, remove_mountpoints
from shlax_front.backend.plan import Planner
from shlax_front.backend.runner import Result
from shlax_front.backend.store import LayerIndex
from shlax_front.backend.wheelhouse import (
    WHEELHOUSE_TARGET,
    exact_pins,
    fetch_missing,
    fetchable_alone,
    pinned_names,
    record_resolution,
    requirement_lines,
    settled,
)
from shlax_front.backend.wheelhouse import fill as fill_wheelhouse
from shlax_front.parser import parse
from shlax_front.stages import host_platform


def plan_of(text, **kw):
    return Planner(parse(text), **kw).plan()


def make_executor(tmp_path, runner, index=None):
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    return Executor(
        Buildah(runner),
        index or LayerIndex(tmp_path / "cache").load(),
        HostCaches(tmp_path / "cache"),
        BuildContext(str(ctx)),
        Options(ca_bundle=None),
    )


TEXT = "FROM busybox\nENV A=1\nRUN echo $A > /a\nLABEL k=v\n"


def test_second_build_makes_no_container_and_no_run(tmp_path):
    runner = FakeRunner()
    first = make_executor(tmp_path, runner).run(plan_of(TEXT)).image
    assert "run" in runner.verbs() and "commit" in runner.verbs()
    runner.calls.clear()
    second = make_executor(tmp_path, runner).run(plan_of(TEXT)).image
    assert second == first
    # only: inspect the base image, one listing of image ids - no from/run/commit
    assert sorted(set(runner.verbs())) == ["images", "inspect"]


def test_run_gets_args_in_scope_but_not_in_the_key_of_others(tmp_path):
    text = "FROM busybox\nARG V=1\nRUN echo $V\n"
    plan = plan_of(text, build_args={"V": "2"})
    run = plan.stages[0].steps[1]
    assert run.env == (("V", "2"),)
    assert run.argv == ("/bin/sh", "-c", "echo $V")


def test_bare_arg_takes_buds_predefined_platform_value():
    """bud 1.28: a bare ARG TARGETARCH is the target's arch; undeclared or BuildKit-only names stay unset."""
    arch = host_platform().arch
    text = (
        "ARG D=x$TARGETOS\nFROM busybox\nARG TARGETARCH\nARG BUILDPLATFORM\nARG TARGETSTAGE\nARG D\n"
        "ARG TARGETOS=mine\nRUN env\n"
    )
    run = plan_of(text).stages[0].steps[1]
    assert dict(run.env) == {
        "TARGETARCH": arch,
        "BUILDPLATFORM": f"linux/{arch}",
        "D": "x",
        "TARGETOS": "mine",
    }
    given = plan_of(text, build_args={"TARGETARCH": "arm64"}).stages[0].steps[1]
    assert dict(given.env)["TARGETARCH"] == "arm64"


def test_target_prunes_unused_stages():
    text = "FROM busybox AS a\nRUN a\nFROM busybox AS b\nRUN b\nFROM busybox AS c\nCOPY --from=a /x /x\n"
    plan = plan_of(text, target="c")
    assert [s.name for s in plan.stages] == ["a", "c"]
    assert plan.stages[1].steps[1].from_stage == 0


def test_heredoc_run_lowering():
    plan = plan_of("FROM busybox\nRUN <<EOF\necho hi\nEOF\nRUN cat <<X > /f\nbody\nX\n")
    first, second = plan.stages[0].steps[1:]
    assert first.argv == ("/bin/sh", "-c", "echo hi\n")
    assert second.argv == ("/bin/sh", "-c", "cat <<X > /f\nbody\nX")


def test_docker_format_needed_for_healthcheck():
    assert plan_of("FROM busybox\nHEALTHCHECK CMD true\n").needs_docker_format
    assert not plan_of("FROM busybox\nCMD true\n").needs_docker_format


def test_ignore_rules():
    rules = IgnoreRules.parse("*.log\n!keep.log\nbuild/\n**/tmp\n# comment\n")
    assert rules.ignored("a.log") and not rules.ignored("keep.log")
    assert rules.ignored("build/x/y.c")
    assert rules.ignored("deep/er/tmp") and rules.ignored("tmp")
    assert not rules.ignored("src/main.c")


def test_context_digest_ignores_mtime_but_not_mode_or_content(tmp_path):
    (tmp_path / "a").write_text("1")
    ctx = BuildContext(str(tmp_path))
    d1 = ctx.digest(("a",))
    os.utime(tmp_path / "a", (1, 1))
    assert BuildContext(str(tmp_path)).digest(("a",)) == d1
    os.chmod(tmp_path / "a", 0o700)
    d2 = BuildContext(str(tmp_path)).digest(("a",))
    assert d2 != d1
    (tmp_path / "a").write_text("2")
    assert BuildContext(str(tmp_path)).digest(("a",)) not in (d1, d2)
    os.symlink("a", tmp_path / "l")
    d3 = BuildContext(str(tmp_path)).digest(("l",))
    os.unlink(tmp_path / "l")
    os.symlink("b", tmp_path / "l")
    assert BuildContext(str(tmp_path)).digest(("l",)) != d3


def test_keys_chain_and_explain():
    a = step_key("p", {"instruction": "RUN x", "env": [["V", "1"]]})
    assert a == step_key("p", {"instruction": "RUN x", "env": [["V", "1"]]})
    assert a != step_key("q", {"instruction": "RUN x", "env": [["V", "1"]]})
    prev = {"parent": "p", "instruction": "RUN x", "env": [["V", "1"]]}
    assert explain_miss(prev, {**prev, "env": [["V", "2"]]}) == "build args/env changed: V"
    assert explain_miss(prev, {**prev, "parent": "q"}) == "an earlier step changed"
    assert explain_miss(None, prev) == "not built before"


def test_the_index_keeps_expanded_texts_as_digests_and_still_explains(tmp_path):
    """An ENV's options and a COPY's text are expanded, so a build arg's value can be in them: the index's slots
    keep digests of those, names and digests as they are, and a miss is explained alike from either side."""
    env = {"parent": "p", "instruction": "ENV SEEN=tok3n-value", "options": ["--env", "SEEN=tok3n-value"]}
    copy = {
        "parent": "p",
        "instruction": "COPY a /opt/tok3n-value",
        "context": "c1",
        "context_files": {"a": "1"},
    }
    index = LayerIndex(tmp_path / "cache").load()
    index.record("k1", "image1", "(config)", "Containerfile|0|3|ConfigStep", env)
    index.remember_slot("Containerfile|0|4|CopyStep", copy)
    written = (tmp_path / "cache" / "layers" / "index.json").read_text()
    assert "tok3n" not in written and "tok3n" not in str(index.slots)
    again = LayerIndex(tmp_path / "cache").load()
    assert again.slots["Containerfile|0|4|CopyStep"]["context_files"] == {"a": "1"}
    assert explain_miss(again.slots["Containerfile|0|3|ConfigStep"], env) == "cached layer was removed"
    changed = {**env, "options": ["--env", "SEEN=other"], "instruction": "ENV SEEN=other"}
    assert explain_miss(again.slots["Containerfile|0|3|ConfigStep"], changed) == (
        "instruction text changed; options changed"
    )
    moved = {**copy, "context": "c2", "context_files": {"a": "2"}}
    assert explain_miss(again.slots["Containerfile|0|4|CopyStep"], moved) == "context files changed: a"
    assert explain_miss(env, changed) == explain_miss(again.slots["Containerfile|0|3|ConfigStep"], changed)


def test_partition_name():
    assert partition_name({"ID": "debian", "VERSION_ID": "12"}, "amd64") == "debian-12-amd64"
    assert partition_name({"ID": "arch"}, "arm64") == "arch-rolling-arm64"


def test_mountpoints_buildah_creates_are_removed(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    created = missing_ancestors(str(root), ["/run/shlax-front/ca.crt", "/etc/x/y", "/etc"])
    assert created == [str(root / "run" / "shlax-front"), str(root / "etc" / "x")]
    (root / "run" / "shlax-front").mkdir(parents=True)
    (root / "run" / "shlax-front" / "ca.crt").write_text("")
    (root / "etc" / "x" / "y").mkdir(parents=True)
    remove_mountpoints(str(root), created)
    assert not (root / "run" / "shlax-front").exists() and not (root / "etc" / "x").exists()


@pytest.mark.parametrize("bad", ["FROM busybox\nCOPY missing.txt /\n"])
def test_missing_copy_source_is_a_located_error(tmp_path, bad):
    from shlax_front.errors import BuildError

    runner = FakeRunner()
    with pytest.raises(BuildError) as err:
        make_executor(tmp_path, runner).run(plan_of(bad))
    assert str(err.value).startswith("Containerfile:2: missing.txt")


def test_host_shared_cache_is_handed_back_to_the_invoking_user(tmp_path, monkeypatch):
    """Under sudo, files a root container wrote into ~/.cache/pip end up owned by SUDO_UID, not root."""
    from shlax_front.backend import hostcache
    from shlax_front.backend.steps import HostCache

    monkeypatch.setattr(hostcache, "invoking_user", lambda: (4321, 4321, str(tmp_path / "home")))
    caches = HostCaches(tmp_path / "root")
    pip = HostCache("pip", "/root/.cache/pip", host="pip", uid=0, gid=0, sharing="shared")
    with caches.mounted((pip,), None) as prepared:
        [(directory, _)] = prepared
        assert directory == tmp_path / "home" / ".cache" / "pip"
        assert directory.stat().st_uid == 0  # handed to the container's user for the run
        (directory / "http").mkdir()
        (directory / "http" / "blob").write_text("x")
    for path in (directory, directory / "http", directory / "http" / "blob"):
        assert path.stat().st_uid == 4321


# -- pip wheelhouse: only what is missing crosses the network, and only when it cannot change the versions


class FakePip:
    """A ``pip download`` over a wheelhouse and an index, both {name: version}; records (argv, network)."""

    def __init__(self, wheelhouse, index, deps=None):
        self.wheelhouse, self.index, self.deps = dict(wheelhouse), index, deps or {}
        self.calls = []

    def __call__(self, argv, network):
        self.calls.append((list(argv), network))
        if "--no-index" in argv:
            lines = []
            todo = [a for a in argv if a.split("==")[0] in self.index]
            while todo:
                name = todo.pop(0).split("==")[0]
                if name not in self.wheelhouse:
                    lines.append(f"ERROR: No matching distribution found for {name}==1")
                    return Result(argv, 1, "\n".join(lines), "")
                lines.append(
                    f"File was already downloaded /wh/{name}-{self.wheelhouse[name]}-py3-none-any.whl"
                )
                todo += self.deps.get(name, [])
            return Result(argv, 0, "\n".join(lines), "")
        name = argv[-1].split("==")[0]
        if name not in self.index:  # a local path, say: this index has nothing of it
            return Result(argv, 1, f"ERROR: No matching distribution found for {argv[-1]}", "")
        self.wheelhouse[name] = self.index[name]
        return Result(argv, 0, f"Saved /wh/{name}-{self.index[name]}-py3-none-any.whl", "")


def _fill(pip, packages, history=None, ttl=3600):
    offline = ["pip", "download", "--no-index", *packages]
    first = pip(offline, False)

    def stands(output):
        return settled(history or Path("/nonexistent"), ["pip", "download"], packages, output, ttl)

    fetchable = fetchable_alone(history or Path("/nonexistent"), ["pip", "download"], packages, ttl)
    return fetch_missing(pip, offline, ["pip", "download"], fetchable, first.output, stands)


def test_added_pinned_package_fetches_only_itself():
    pip = FakePip({"six": "1"}, {"six": "1", "idna": "1"})
    done, outputs = _fill(pip, ["six==1", "idna==1"])
    assert done and "Saved /wh/idna-1-py3-none-any.whl" in outputs[0]
    online = [argv for argv, network in pip.calls if network]
    assert online == [["pip", "download", "--no-deps", "idna==1"]]  # six's index page is never read


def test_unpinned_requirements_fall_back_to_the_index():
    # the index may hold a newer six than the wheelhouse: only a resolution against the index is faithful
    pip = FakePip({"six": "1"}, {"six": "2", "idna": "1"})
    assert _fill(pip, ["six", "idna==1"]) == (False, [])
    assert not [argv for argv, network in pip.calls if network]
    # a pinned package whose unpinned dependency sits in the wheelhouse: found once the package is there
    pip = FakePip({"dep": "1"}, {"app": "1", "dep": "2"}, deps={"app": ["dep"]})
    done, _ = _fill(pip, ["app==1"])
    assert not done


def test_a_recent_answer_of_the_index_vouches_for_unpinned_dependencies(tmp_path):
    """flask==1 pulls werkzeug (unpinned): once the index chose werkzeug 2 for ["flask==1"], adding a pinned
    pygments reads pygments' page alone, as long as werkzeug's file is still the one the index chose."""
    index = {"flask": "1", "werkzeug": "2", "pygments": "1"}
    deps = {"flask": ["werkzeug"]}
    chose = "\n".join(f"Saved /wh/{n}-{index[n]}-py3-none-any.whl" for n in ("flask", "werkzeug"))
    record_resolution(tmp_path, ["pip", "download"], ["flask==1"], chose)

    pip = FakePip({"flask": "1", "werkzeug": "2"}, index, deps)
    done, _ = _fill(pip, ["flask==1", "pygments==1"], tmp_path)
    assert done
    assert [argv for argv, network in pip.calls if network] == [
        ["pip", "download", "--no-deps", "pygments==1"]
    ]

    # the wheelhouse's werkzeug is not the one the index chose: ask the index
    pip = FakePip({"flask": "1", "werkzeug": "1"}, index, deps)
    assert not _fill(pip, ["flask==1", "pygments==1"], tmp_path)[0]
    # the answer is too old
    pip = FakePip({"flask": "1", "werkzeug": "2"}, index, deps)
    assert not _fill(pip, ["flask==1", "pygments==1"], tmp_path, ttl=0)[0]


def test_filling_the_wheelhouse_reads_the_index_only_for_what_is_missing(tmp_path):
    """The fill a RUN's pip installs get: offline first, the missing pinned distribution alone, then the
    install is told the wheelhouse has everything; under --offline nothing runs before the install, which reads
    the wheelhouse alone (an offline resolution before it was a second pip that told nothing more)."""
    from shlax_front.actions import Wheelhouse

    shown = []
    history = _host_wheelhouse(tmp_path, "six-1-py3-none-any.whl")
    pip = FakePip({"six": "1"}, {"six": "1", "idna": "1"})
    install = [("pip", Wheelhouse(packages=("six==1", "idna==1")))]
    env = fill_wheelhouse(pip, install, history, False, 3600, shown.append)
    assert env == [("PIP_FIND_LINKS", WHEELHOUSE_TARGET), ("PIP_NO_INDEX", "1")]
    assert [argv[-2:] for argv, network in pip.calls if network] == [["--no-deps", "idna==1"]]
    assert any("Saved /wh/idna-1" in output for output in shown)

    pip = FakePip({}, {"six": "1"})
    env = fill_wheelhouse(
        pip, [("pip", Wheelhouse(packages=("six==1",)))], tmp_path, True, 3600, shown.append
    )
    assert env == [("PIP_FIND_LINKS", WHEELHOUSE_TARGET), ("PIP_NO_INDEX", "1")]
    assert pip.calls == []


def _host_wheelhouse(tmp_path, *files):
    """A host wheelhouse holding ``files``; returns its records directory, as ``fill`` is given it."""
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir(parents=True)
    for name in files:
        (wheelhouse / name).write_bytes(b"")
    return records_directory(wheelhouse)


def test_a_cold_wheelhouse_goes_straight_to_the_full_download(tmp_path):
    """When the wheelhouse holds no file of any distribution the install names, the offline attempt and the
    one-by-one fetches cannot succeed: one full ``pip download`` with the index, and the index's answer is
    recorded so that the next added pin reads its own page alone."""
    from shlax_front.actions import Wheelhouse

    history = _host_wheelhouse(tmp_path, "unrelated-1-py3-none-any.whl")
    pip = FakePip({}, {"six": "1"})
    env = fill_wheelhouse(pip, [("pip", Wheelhouse(packages=("six==1",)))], history, False, 3600, print)
    assert env == [("PIP_FIND_LINKS", WHEELHOUSE_TARGET), ("PIP_NO_INDEX", "1")]
    assert pip.calls == [
        (["pip", "download", "--dest", WHEELHOUSE_TARGET, "--find-links", WHEELHOUSE_TARGET, "six==1"], True)
    ]
    assert settled(history, pip.calls[0][0], ["six==1"], "Saved /wh/six-1-py3-none-any.whl", 3600)

    # a local path or a nested file may be served without the index: never cold
    for line in ("./lib", "-r more.txt", "pkg @ file:///src/pkg"):
        pip = FakePip({}, {"six": "1"})
        fill_wheelhouse(pip, [("pip", Wheelhouse(packages=(line, "six==1")))], history, False, 3600, print)
        assert pip.calls[0][1] is False and "--no-index" in pip.calls[0][0]

    # a file of a named distribution (any version, any spelling of the name): the offline attempt comes first
    history = _host_wheelhouse(tmp_path / "warm", "Six-0.9-py3-none-any.whl")
    pip = FakePip({"six": "1"}, {"six": "1"})
    fill_wheelhouse(pip, [("pip", Wheelhouse(packages=("six==1",)))], history, False, 3600, print)
    assert pip.calls[0][1] is False and "--no-index" in pip.calls[0][0]


@pytest.mark.parametrize(
    "lines, took, expected",
    [
        (["flask==1"], {"flask": "1", "werkzeug": "2"}, True),  # the same question, the same answer
        (["flask==1", "six==1"], {"flask": "1", "werkzeug": "2", "six": "1"}, True),  # extended by a pin
        (["flask==1", "six"], {"flask": "1", "werkzeug": "2", "six": "1"}, False),  # extended, not pinned
        (["flask==1", "six==1"], {"flask": "1", "werkzeug": "2", "six": "1", "dep": "1"}, False),  # new dep
        (["flask==2"], {"flask": "2", "werkzeug": "2"}, False),  # a requirement changed
        (["flask==1", "constraint: werkzeug<3"], {"flask": "1", "werkzeug": "2"}, False),  # not a pin
        (["flask==1", "-r more.txt"], {"flask": "1", "werkzeug": "2"}, False),  # unseen requirements
        (["six==1"], {"six": "1"}, True),  # everything pinned: no record needed
        (None, {"six": "1"}, False),  # requirements unreadable
    ],
)
def test_when_the_wheelhouse_answers_for_the_index(tmp_path, lines, took, expected):
    answer = "\n".join(
        f"Saved /wh/{n}-2-py3-none-any.whl" if n == "werkzeug" else f"Saved /wh/{n}-1-py3-none-any.whl"
        for n in ("flask", "werkzeug")
    )
    record_resolution(tmp_path, ["pip", "download"], ["flask==1"], answer)
    output = "\n".join(f"File was already downloaded /wh/{n}-{v}-py3-none-any.whl" for n, v in took.items())
    assert settled(tmp_path, ["pip", "download"], lines, output, 3600) is expected
    assert not settled(tmp_path, ["pip", "download", "--pre"], ["flask==1"], answer, 3600)  # other options


def test_requirement_lines_as_pip_reads_them():
    text = ["six==1.16.0  # why", "charset_normalizer==3.3.2 \\\n    --hash=sha256:abc", "", "  flask >= 2 "]
    assert requirement_lines(text) == ["six==1.16.0", "charset_normalizer==3.3.2", "flask >= 2"]
    assert exact_pins(text) == {"six", "charset-normalizer"}


@pytest.mark.parametrize(
    "lines, expected",
    [
        (["six==1.16.0", "Idna[all] == 3.7 ; python_version>'3'  # why"], {"six", "idna"}),
        (["charset_normalizer==3.3.2 \\\n    --hash=sha256:abc"], {"charset-normalizer"}),
        (["six>=1.16"], None),
        (["six==1.*"], None),
        (["-r other.txt"], None),
        (["https://example.org/six.whl"], None),
    ],
)
def test_pinned_names(lines, expected):
    assert pinned_names(lines) == expected


def test_a_record_is_written_whole(tmp_path):
    record_resolution(tmp_path, ["pip", "download"], ["six==1"], "Saved /wh/six-1-py3-none-any.whl")
    (record,) = tmp_path.iterdir()
    assert json.loads(record.read_text())["files"] == {"six": "six-1-py3-none-any.whl"}
    os.utime(record, (0, 0))  # an old record vouches for nothing
    assert not settled(tmp_path, ["pip", "download"], ["six==1", "idna"], "Saved /wh/idna-1.whl\n", 3600)


def test_step_traffic_is_read_from_the_output():
    from shlax_front.backend.run_output import fetched_bytes, offline_missing, served_bytes

    apt = "Need to get 1,200 kB/3,000 kB of archives.\nFetched 1,200 kB in 1s (1 MB/s)\nFetched 20 B\n"
    assert fetched_bytes(apt) == 1_200_020 and fetched_bytes("nothing") is None
    pip = "Processing /run/shlax-front/wheelhouse/six-1-py3-none-any.whl\n"
    assert served_bytes(apt + pip, {"six-1-py3-none-any.whl": 500}) == 1_800_500
    assert served_bytes("", {}) is None
    missing = "E: Unable to locate package curl\nERROR: No matching distribution found for flask==3\n"
    assert offline_missing(missing) == ["curl", "flask==3"]


def test_the_default_cache_root_ignores_a_relative_xdg_cache_home(monkeypatch, tmp_path):
    """The XDG spec says a relative ``XDG_CACHE_HOME`` is to be ignored; the caches under the root are
    bind-mounted, and buildah refuses a relative host path."""
    from shlax_front.backend.store import default_root

    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_root() == tmp_path / "shlax-front"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert default_root().is_absolute() and default_root().name == "shlax-front"
