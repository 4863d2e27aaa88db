"""Config steps after a stage's last layer (a RUN's): bud's empty history entries, no layer of their own
(``emptylayers``). The image's config and manifest are edited as pure functions; the executor's buildah calls are
checked on a fake buildah that keeps the directory each ``pull dir:`` read."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from fake_runner import FakeRunner

from shlax_front.backend.api import BuildRequest, run_request
from shlax_front.backend.emptylayers import EMPTY_LAYER, with_entries, without_empty_layer, write_dir

BASE = "sha256:" + "a" * 64
RUN_LAYER = "sha256:" + "b" * 64
TEXT = 'FROM busybox\nRUN echo a > /a\nUSER nobody\nEXPOSE 8080\nCMD ["sh"]\n'
ENTRIES = ["/bin/sh -c #(nop) USER nobody", "/bin/sh -c #(nop) EXPOSE 8080", '/bin/sh -c #(nop) CMD ["sh"]']


def _committed(last: str = EMPTY_LAYER) -> tuple[str, str]:
    """A commit of config steps on a RUN's image, as buildah stores it: its config and manifest."""
    config = {
        "created": "2026-12-07T10:00:00Z",
        "config": {"User": "nobody", "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [BASE, RUN_LAYER, last]},
        "history": [
            {"created_by": "/bin/sh"},
            {"created_by": "/bin/sh -c echo a > /a", "comment": "FROM busybox"},
            {
                "created": "2026-12-07T10:00:00Z",
                "created_by": '/bin/sh -c #(nop) CMD ["sh"]',
                "comment": "FROM bbb",
            },
        ],
    }
    layers = [{"mediaType": "m", "digest": d, "size": 1} for d in (BASE, RUN_LAYER, last)]
    manifest = {
        "schemaVersion": 2,
        "config": {"mediaType": "c", "digest": "sha256:x", "size": 1},
        "layers": layers,
    }
    return json.dumps(config), json.dumps(manifest)


def test_the_empty_layer_goes_and_each_config_step_gets_an_empty_entry():
    made = without_empty_layer(*_committed(), ENTRIES)
    assert made is not None
    config, manifest = json.loads(made[0]), json.loads(made[1])
    assert config["rootfs"]["diff_ids"] == [BASE, RUN_LAYER]
    assert [layer["digest"] for layer in manifest["layers"]] == [BASE, RUN_LAYER]
    assert [(h["created_by"], h.get("empty_layer", False)) for h in config["history"]] == [
        ("/bin/sh", False),
        ("/bin/sh -c echo a > /a", False),
        *[(line, True) for line in ENTRIES],
    ]
    # each entry has the commit's time and comment; the rest of the config is buildah's, untouched
    assert {(h["created"], h["comment"]) for h in config["history"][2:]} == {
        ("2026-12-07T10:00:00Z", "FROM bbb")
    }
    assert (
        config["config"] == {"User": "nobody", "Cmd": ["sh"]} and config["created"] == "2026-12-07T10:00:00Z"
    )
    assert manifest["config"]["digest"] == "sha256:" + hashlib.sha256(made[0]).hexdigest()
    assert manifest["config"]["size"] == len(made[0])


@pytest.mark.parametrize(
    "committed, entries",
    [
        (_committed(last="sha256:" + "c" * 64), ENTRIES),  # the last layer has files: it stays
        (_committed(), []),  # no history line to give (the default PATH alone): kept as committed
        (("not json", "{}"), ENTRIES),
        (_committed()[0], json.dumps({"layers": []})),  # the manifest disagrees with the config
    ],
)
def test_an_image_not_as_expected_is_kept_as_committed(committed, entries):
    if isinstance(committed, str):
        committed = (committed, entries)
        entries = ENTRIES
    assert without_empty_layer(*committed, entries) is None


def test_the_directory_holds_the_manifest_and_config_only(tmp_path):
    write_dir(str(tmp_path / "d"), b"{}", b'{"layers":[]}')
    names = sorted(os.listdir(tmp_path / "d"))
    assert names == sorted(["version", "manifest.json", hashlib.sha256(b"{}").hexdigest()])
    assert (tmp_path / "d" / "version").read_text() == "Directory Transport Version: 1.1\n"


class KeepingRunner(FakeRunner):
    """The fake buildah, keeping the config each ``pull dir:`` read (the directory is gone after it)."""

    def __init__(self):
        super().__init__()
        self.pulled: list[dict] = []

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        if argv[1] == "pull" and str(argv[-1]).startswith("dir:"):
            path = str(argv[-1]).removeprefix("dir:")
            with open(os.path.join(path, "manifest.json")) as f:
                digest = json.load(f)["config"]["digest"].removeprefix("sha256:")
            with open(os.path.join(path, digest)) as f:
                self.pulled.append(json.load(f))
        return super().run(argv, check=check, on_output=on_output, cwd=cwd, input=input)


def _build(tmp_path, runner, text: str = TEXT, **request):
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    runner.calls.clear()
    return run_request(
        BuildRequest(context=str(ctx), cache_dir=str(tmp_path / "cache"), ca_bundle=None, **request),
        runner=runner,
    )


def test_after_a_run_the_config_steps_are_empty_entries_and_the_run_keeps_its_key(tmp_path):
    runner = KeepingRunner()
    done = _build(tmp_path, runner, tags=("app", "quay.io/a/b:1"))
    verbs = runner.verbs()
    # the RUN's own commit, then a container of its image for the config steps, one config call, one commit
    assert verbs.count("run") == 1 and verbs.count("commit") == 2
    assert verbs[-8:] == ["from", "config", "commit", "inspect", "pull", "rmi", "rm", "tag"]
    assert runner.calls[-8][-1] == "image1"  # a container of the RUN's image
    container = runner.calls[-8][runner.calls[-8].index("--name") + 1]
    config = runner.calls[-7]
    assert config[2:8] == ["--user", "nobody", "--port", "8080/tcp", "--cmd", '["sh"]']
    assert config[-3:] == ["--created-by", '/bin/sh -c #(nop) CMD ["sh"]', container]
    # the commit with the empty layer goes, then its container, which kept the RUN's image from that removal
    assert "--rm" not in runner.calls[-6] and runner.calls[-6][-1] == container
    assert runner.calls[-3:-1] == [["buildah", "rmi", "image2"], ["buildah", "rm", container]]
    assert runner.calls[-1] == ["buildah", "tag", done.image, "app", "quay.io/a/b:1"]
    (pulled,) = runner.pulled
    assert [h.get("created_by") for h in pulled["history"]] == ["/bin/sh", *ENTRIES]
    assert [h.get("empty_layer", False) for h in pulled["history"]] == [False, True, True, True]
    assert EMPTY_LAYER not in pulled["rootfs"]["diff_ids"]
    assert done.image == hashlib.sha256(json.dumps(pulled, separators=(",", ":")).encode()).hexdigest()
    assert [s.status for s in done.steps] == ["from", "built", "config", "config", "config"]

    again = _build(tmp_path, runner, tags=("app",))  # a no-op: the image is found, nothing made
    assert again.image == done.image
    assert not {"commit", "pull", "rmi", "run"} & set(runner.verbs())
    assert [s.status for s in again.steps] == ["from", "cached", "config", "config", "cached"]

    changed = _build(tmp_path, runner, TEXT.replace('["sh"]', '["sh", "-c", "true"]'), tags=("app",))
    # only CMD changed: the RUN's image is found under its own key, not run again; the config steps made anew
    assert "run" not in runner.verbs() and runner.verbs().count("commit") == 1
    assert runner.calls[runner.verbs().index("from")][-1] == "image1"
    assert [s.status for s in changed.steps] == ["from", "cached", "config", "config", "config"]
    assert runner.pulled[-1]["history"][-1]["created_by"] == '/bin/sh -c #(nop) CMD ["sh", "-c", "true"]'
    assert changed.image != done.image


def test_a_commit_not_as_expected_is_kept(tmp_path):
    """When the commit's last layer is not the empty one, it is the image (one layer more, as before)."""
    runner = KeepingRunner()
    runner._stored = lambda ref: {}  # an inspect without the stored config and manifest
    done = _build(tmp_path, runner, tags=("app",))
    assert done.image == "image2" and "pull" not in runner.verbs() and "rmi" not in runner.verbs()
    assert runner.verbs()[-4:] == ["commit", "inspect", "rm", "tag"]


def test_a_label_from_the_command_line_and_the_timestamp(tmp_path):
    """``--label`` is the last config step (bud's history line for it), ``--timestamp`` the commit's."""
    runner = KeepingRunner()
    _build(tmp_path, runner, labels=("k=v",), timestamp=0)
    commit = runner.calls[runner.verbs().index("pull") - 2]
    assert commit[1] == "commit" and commit[commit.index("--timestamp") + 1] == "0"
    (pulled,) = runner.pulled
    assert [h["created_by"] for h in pulled["history"][1:]] == [*ENTRIES, '/bin/sh -c #(nop) LABEL "k"="v"']


def test_a_stage_other_stages_copy_from_ends_with_its_empty_entries(tmp_path):
    runner = KeepingRunner()
    text = "FROM busybox AS base\nRUN echo a > /a\nENV A=1\nFROM busybox\nCOPY --from=base /a /b\n"
    with open(os.path.join(runner.rootfs, "a"), "w") as f:  # what the first stage's RUN wrote
        f.write("a\n")
    _build(tmp_path, runner, text)
    (pulled,) = runner.pulled
    assert [h["created_by"] for h in pulled["history"][1:]] == ["/bin/sh -c #(nop) ENV A=1"]
    # the second stage copies from the first's image as stored from the directory
    derived = hashlib.sha256(json.dumps(pulled, separators=(",", ":")).encode()).hexdigest()
    assert ["buildah", "rmi", "image2"] in runner.calls
    assert any(call[1] == "from" and call[-1] == derived for call in runner.calls)


def test_config_steps_right_after_from_are_empty_entries_on_the_base_image(tmp_path):
    runner = KeepingRunner()
    done = _build(tmp_path, runner, 'FROM busybox\nCMD ["sh"]\n')
    assert (
        runner.verbs().count("commit") == 1 and runner.calls[runner.verbs().index("from")][-1] == "busybox-id"
    )
    (pulled,) = runner.pulled
    assert [h["created_by"] for h in pulled["history"][1:]] == ['/bin/sh -c #(nop) CMD ["sh"]']
    assert done.image != "image1"


def _stage_image(layers: int) -> tuple[str, str]:
    """A stage's image as buildah stores it: the base's layer and entries (one of them empty), then ``layers``
    layers of the stage, each with its entry."""
    own = ["sha256:" + str(n) * 64 for n in range(1, layers + 1)]
    config = {
        "rootfs": {"type": "layers", "diff_ids": [BASE, *own]},
        "history": [
            {"created_by": "/bin/sh"},
            {"created_by": '/bin/sh -c #(nop) CMD ["sh"]', "empty_layer": True},
            *[
                {"created": f"t{n}", "created_by": f"layer {n}", "comment": f"FROM {n}"}
                for n in range(1, layers + 1)
            ],
        ],
    }
    manifest = {"config": {"digest": "sha256:x"}, "layers": [{"digest": d} for d in [BASE, *own]]}
    return json.dumps(config), json.dumps(manifest)


def test_entries_go_before_each_of_the_stage_s_layers_and_after_its_last():
    made = with_entries(*_stage_image(2), [("ENV A=1", "WORKDIR /app"), ("LABEL a=b",)], ["CMD x"])
    assert made is not None
    history = json.loads(made[0])["history"]
    assert [(h["created_by"], h.get("empty_layer", False), h.get("comment")) for h in history] == [
        ("/bin/sh", False, None),
        ('/bin/sh -c #(nop) CMD ["sh"]', True, None),  # the base's own entries stay as they are
        ("ENV A=1", True, "FROM 1"),  # an entry takes the time and comment of the layer it precedes
        ("WORKDIR /app", True, "FROM 1"),
        ("layer 1", False, "FROM 1"),
        ("LABEL a=b", True, "FROM 2"),
        ("layer 2", False, "FROM 2"),
        ("CMD x", True, "FROM 2"),
    ]
    assert [h.get("created") for h in history[2:]] == ["t1", "t1", "t1", "t2", "t2", "t2"]
    assert json.loads(made[1])["config"]["digest"] == "sha256:" + hashlib.sha256(made[0]).hexdigest()
    # only the stage's last layers get gaps: a stage built FROM another one leaves the base's as they are
    only_last = with_entries(*_stage_image(2), [("USER x",)], [])
    assert only_last is not None
    assert [h["created_by"] for h in json.loads(only_last[0])["history"]][-3:] == [
        "layer 1",
        "USER x",
        "layer 2",
    ]


@pytest.mark.parametrize(
    "image, gaps, trailing",
    [
        (_stage_image(1), [("A",), ("B",), ("C",)], []),  # more layers said than the image has
        (_stage_image(1), [()], []),  # nothing to insert: the image is kept
        (
            (json.dumps({"rootfs": {"diff_ids": [BASE]}, "history": []}), json.dumps({"layers": [{}]})),
            [("A",)],
            [],
        ),
        ((_stage_image(1)[0], json.dumps({"layers": []})), [("A",)], []),  # manifest and config disagree
        (
            _stage_image(1),
            [],
            ["CMD"],
        ),  # not drop_last: fine; see below for drop_last without the empty layer
    ],
)
def test_an_image_not_as_expected_gets_no_entries(image, gaps, trailing):
    made = with_entries(*image, gaps, trailing)
    if trailing:
        assert made is not None and with_entries(*image, gaps, trailing, drop_last=True) is None
    else:
        assert made is None


def _config(ref: str) -> dict:
    return {"env": {"PATH": "/bin"}, "shell": None, "workdir": "/", "user": ""}


@pytest.mark.parametrize(
    "build_args, lines",
    [
        ({}, ["/bin/sh -c #(nop) ARG V", "/bin/sh -c #(nop) ARG V"]),
        ({"W": "2"}, ["/bin/sh -c #(nop) ARG V", "/bin/sh -c #(nop) ARG V W"]),
    ],
)
def test_an_arg_s_entry_names_the_args_with_a_value_and_goes_with_the_next_step(build_args, lines):
    from shlax_front.backend.plan import Planner
    from shlax_front.backend.steps import ConfigStep, RunStep
    from shlax_front.parser import parse

    text = "FROM busybox\nARG V=1\nARG W\nRUN true\nARG Z=3\n"
    plan = Planner(parse(text), build_args, image_config=_config, path="C").plan()
    steps = plan.stages[-1].steps
    (run,) = [step for step in steps if isinstance(step, RunStep)]
    assert list(run.before) == lines
    last = steps[-1]  # an ARG last in the stage: a config step of its own that changes nothing
    assert isinstance(last, ConfigStep) and last.options == () and last.before == ()
    assert last.history == "/bin/sh -c #(nop) ARG " + " ".join(sorted(["V", "Z", *build_args]))


def test_on_1_39_only_the_stage_s_first_entry_names_the_base_image():
    """bud 1.39: the stage's first entry has the comment buildah gave its first layer (``FROM <base>``), the
    others none; 1.28's comments are left as the layers have them."""
    made = with_entries(
        *_stage_image(2), [("ENV A=1", "WORKDIR /app"), ()], ["CMD x"], base_comment_first=True
    )
    assert made is not None
    history = json.loads(made[0])["history"]
    assert [h.get("comment") for h in history[2:]] == ["FROM 1", None, None, "FROM 2", "FROM 2"]
