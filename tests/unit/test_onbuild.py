"""A FROM image with ONBUILD triggers (``onbuild``): no ``buildah from`` of it (the CLI would run the triggers
itself), but of a copy whose config has none, stored from a ``dir:`` and removed when the build ends; the triggers
are steps of the child build, keyed from the original image. Checked on a fake buildah."""

from __future__ import annotations

import hashlib
import json
import os

from fake_runner import FakeRunner

from shlax_front.backend.api import BuildRequest, run_request
from shlax_front.backend.keys import root_key
from shlax_front.backend.onbuild import triggers, without_triggers
from shlax_front.backend.runner import Result

TRIGGERS = ["RUN mkdir /made"]
BASE = "sha256:" + "a" * 64


def _stored(onbuild: list[str] | None) -> tuple[str, str]:
    """An image with triggers as buildah stores it in Docker format: its config and manifest."""
    config = {
        "architecture": "amd64",
        "config": {"Env": ["PATH=/bin"], "OnBuild": onbuild},
        "rootfs": {"type": "layers", "diff_ids": [BASE]},
        "history": [{"created_by": "/bin/sh"}, {"created_by": "/bin/sh -c #(nop) ONBUILD RUN mkdir /made"}],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": "sha256:p",
            "size": 1,
        },
        "layers": [{"mediaType": "layer", "digest": BASE, "size": 1}],
    }
    return json.dumps(config), json.dumps(manifest)


def test_the_copy_has_an_empty_onbuild_and_everything_else_as_it_was():
    config, manifest = _stored(TRIGGERS)
    made = without_triggers(config, manifest)
    assert made is not None
    copy, described = json.loads(made[0]), json.loads(made[1])
    original = json.loads(config)
    original["config"]["OnBuild"] = []
    assert copy == original  # bud's child image says "OnBuild": [] too
    assert described["config"]["digest"] == "sha256:" + hashlib.sha256(made[0]).hexdigest()
    assert described["config"]["size"] == len(made[0])
    assert described["layers"] == json.loads(manifest)["layers"]
    assert without_triggers(*_stored(None)) is None and without_triggers(*_stored([])) is None
    assert without_triggers("not json", manifest) is None


class TriggerRunner(FakeRunner):
    """The fake buildah, with ``parent``: a Docker-format image whose config has ONBUILD triggers. A RUN whose
    script holds ``fail`` exits 1. Keeps the config each ``pull dir:`` read."""

    def __init__(self, onbuild: list[str] = TRIGGERS):
        super().__init__()
        self.pulled: list[dict] = []
        self.onbuild = onbuild

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        if argv[1] == "inspect" and argv[-1] in ("parent", "parent-id"):
            self.calls.append(argv)
            config, manifest = _stored(self.onbuild)
            docker = json.loads(config)
            info = {"FromImageID": "parent-id", "Docker": docker, "Config": config, "Manifest": manifest}
            return Result(argv, 0, json.dumps({**info, "OCIv1": {"config": {"Env": ["PATH=/bin"]}}}), "")
        if argv[1] == "run" and "fail" in argv[-1]:
            self.calls.append(argv)
            return Result(argv, 1, "", "failed")
        if argv[1] == "pull" and argv[-1].startswith("dir:"):
            path = argv[-1].removeprefix("dir:")
            with open(os.path.join(path, "manifest.json")) as f:
                digest = json.load(f)["config"]["digest"].removeprefix("sha256:")
            with open(os.path.join(path, digest)) as f:
                self.pulled.append(json.load(f))
        return super().run(argv, check=check, on_output=on_output, cwd=cwd, input=input)


def _build(tmp_path, runner, text: str, **request):
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    runner.calls.clear()
    return run_request(
        BuildRequest(context=str(ctx), cache_dir=str(tmp_path / "cache"), ca_bundle=None, **request),
        runner=runner,
    )


def _froms(runner) -> list[str]:
    return [call[-1] for call in runner.calls if call[1] == "from"]


def test_the_working_containers_are_made_from_a_copy_without_triggers_removed_at_the_end(tmp_path):
    runner = TriggerRunner()
    done = _build(tmp_path, runner, "FROM parent\nRUN echo child > /child\n", format="docker")
    (pulled,) = runner.pulled
    assert pulled["config"]["OnBuild"] == [] and pulled["rootfs"]["diff_ids"] == [BASE]
    copy = hashlib.sha256(json.dumps(pulled, separators=(",", ":")).encode()).hexdigest()
    # the trigger's container is the copy's, never the original's; the child's RUN builds on the trigger's layer
    assert _froms(runner) == [copy, "image1"]
    runs = [call for call in runner.calls if call[1] == "run"]
    assert [run[-1] for run in runs] == ["mkdir /made", "echo child > /child"]
    assert [s.status for s in done.steps] == ["from", "built", "built"]
    # each trigger's layer has bud's history line, as an instruction of the stage's own
    created = [call[call.index("--created-by") + 1] for call in runner.calls if "--created-by" in call]
    assert created == ["/bin/sh -c mkdir /made", "/bin/sh -c echo child > /child"]
    verbs = runner.verbs()
    assert verbs.index("pull") < verbs.index("from")
    # removed once the build ended, after every container (and never with --force)
    assert runner.calls[-1] == ["buildah", "rmi", copy]
    assert verbs.count("rmi") == 1
    # the FROM's key is the original image's: the trigger step's parent
    index = json.loads((tmp_path / "cache" / "layers" / "index.json").read_text())
    parents = {slot.get("parent") for slot in index["slots"].values()}
    assert root_key("parent-id", "docker", None) in parents

    again = _build(tmp_path, runner, "FROM parent\nRUN echo child > /child\n", format="docker")
    assert again.image == done.image
    # a no-op needs no working container: no copy is made
    assert not {"pull", "from", "rmi", "run"} & set(runner.verbs())


def test_a_failed_build_removes_its_containers_then_the_copy(tmp_path):
    runner = TriggerRunner()
    result = None
    try:
        result = _build(tmp_path, runner, "FROM parent\nRUN fail\n", format="docker")
    except Exception:  # the build fails: its error is the RUN's
        pass
    assert result is None
    (copy,) = [call[-1].removeprefix("dir:") for call in runner.calls if call[1] == "pull"]
    made = [call[call.index("--name") + 1] for call in runner.calls if call[1] == "from"]
    # every container made is gone: the trigger's with its commit (--rm), the failed RUN's by the clean-up
    removed = [
        call[-1] for call in runner.calls if call[1] == "rm" or (call[1] == "commit" and "--rm" in call)
    ]
    assert len(made) == 2 and set(made) <= set(removed)
    rmi = [n for n, call in enumerate(runner.calls) if call[1] == "rmi"]
    assert len(rmi) == 1 and rmi[0] > max(n for n, call in enumerate(runner.calls) if call[1] == "rm")
    assert runner.calls[rmi[0]][2:] == [_copy_id(runner.pulled[0])]
    assert copy.startswith("/")  # the directory it was pulled from


def _copy_id(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, separators=(",", ":")).encode()).hexdigest()


def test_an_image_without_triggers_is_used_as_it_is(tmp_path):
    runner = TriggerRunner()
    _build(tmp_path, runner, "FROM busybox\nRUN echo a > /a\n")
    assert _froms(runner) == ["busybox-id"] and "pull" not in runner.verbs() and "rmi" not in runner.verbs()


def test_triggers_are_read_from_the_docker_config_only():
    assert triggers({"Docker": {"config": {"OnBuild": TRIGGERS}}}) == TRIGGERS
    assert triggers({"OCIv1": {"config": {"OnBuild": TRIGGERS}}}) == []
    assert triggers(None) == [] and triggers({"Docker": {"config": {"OnBuild": None}}}) == []


class TailKept:
    """A no-op recorder that keeps the late-edit tail the executor handed it."""

    def __init__(self) -> None:
        self.tails: list = []

    def collect(self, *args, tail=None, **kwargs) -> None:
        self.tails.append(tail)


def test_a_child_with_triggers_records_no_late_edit_tail(tmp_path):
    """A tail starting at the FROM image (a COPY trigger, then COPYs) would have the late edit make a container
    of the original image with ``buildah from``, which runs its triggers: such a build records no tail."""
    for folder in (tmp_path / "plain" / "ctx", tmp_path / "ctx"):
        folder.mkdir(parents=True)
        for name in ("app.txt", "x.txt"):
            (folder / name).write_text(name)
    plain, triggered = TailKept(), TailKept()
    _build(tmp_path / "plain", FakeRunner(), "FROM busybox\nCOPY x.txt /x.txt\n", recorder=plain)
    assert [tail is not None and tail["start"] for tail in plain.tails] == [1]  # the control: a tail
    runner = TriggerRunner(["COPY app.txt /app.txt"])
    _build(tmp_path, runner, "FROM parent\nCOPY x.txt /x.txt\n", format="docker", recorder=triggered)
    assert _froms(runner)[0] != "parent-id" and triggered.tails == [None]


class StageTriggerRunner(TriggerRunner):
    """The fake buildah, where an image stored from a ``dir:`` (a stage's image ending in config steps) has
    ONBUILD triggers."""

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        pulled = {_copy_id(config) for config in self.pulled}
        if argv[1] == "inspect" and argv[-1] in pulled:
            self.calls.append(argv)
            config, manifest = _stored(TRIGGERS)
            info = {
                "FromImageID": argv[-1],
                "Docker": json.loads(config),
                "Config": config,
                "Manifest": manifest,
            }
            return Result(argv, 0, json.dumps(info), "")
        result = super().run(argv, check=check, on_output=on_output, cwd=cwd, input=input)
        if argv[1] == "mount":  # every image's root holds what the first stage's RUN wrote
            with open(os.path.join(self.rootfs, "b"), "w") as f:
                f.write("b\n")
        return result


def test_copy_from_a_stage_with_triggers_reads_a_copy_without_them(tmp_path):
    runner = StageTriggerRunner()
    text = "FROM busybox AS base\nRUN echo b > /b\nONBUILD RUN mkdir /made\nFROM busybox\nCOPY --from=base /b /c\n"
    _build(tmp_path, runner, text, format="docker")
    stage, copy = (_copy_id(config) for config in runner.pulled)  # the stage's image, then its copy
    assert runner.pulled[1]["config"]["OnBuild"] == []
    assert stage not in _froms(runner) and copy in _froms(runner)
    assert runner.calls[-1] == ["buildah", "rmi", copy]


def test_copy_from_an_image_with_triggers_reads_a_copy_without_them(tmp_path):
    runner = StageTriggerRunner()
    _build(tmp_path, runner, "FROM busybox\nCOPY --from=parent /b /c\n", format="docker")
    (copy,) = (_copy_id(config) for config in runner.pulled)
    assert runner.pulled[0]["config"]["OnBuild"] == []
    assert _froms(runner) == ["busybox-id", copy] and "parent-id" not in _froms(runner)
    assert runner.calls[-1] == ["buildah", "rmi", copy]
