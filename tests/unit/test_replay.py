"""The no-op record (``backend/replay.py``): every input it covers, changed, makes it stand for nothing.

Each test records a build (a real ``BuildContext`` walk over a real directory, a fake buildah on ``PATH``, a
layer index file, an image listing given as a dict), checks that the record holds, changes one input and
checks that it no longer does, naming that input. Without the check of that input the record would still
hold, and a no-op would be replayed over a changed build.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from shlax_front.backend import late_edit, replay
from shlax_front.backend.context import BuildContext
from shlax_front.backend.result import BuildResult, StepRecord
from shlax_front.backend.statcache import RACY_SECONDS
from shlax_front.backend.steps import CopyStep, FromStep, Location

BASE = "b" * 64
LAYER = "1" * 64
FINAL = "f" * 64
OLD = time.time() - 1000  # every file of the fixture was last changed long before the recorded build


class Build:
    """One recorded build of ``ctx`` and the means to ask whether its record still holds."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.tmp = tmp_path
        self.ctx = tmp_path / "ctx"
        (self.ctx / "src").mkdir(parents=True)
        (self.ctx / "Containerfile").write_text("FROM base\nCOPY src/*.py /app/\nCOPY app.txt /\n")
        (self.ctx / "src" / "a.py").write_text("a\n")
        (self.ctx / "src" / "b.py").write_text("b\n")
        (self.ctx / "app.txt").write_text("app\n")
        (self.ctx / "README").write_text("not copied\n")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        (self.bin / "buildah").write_text("#!/bin/sh\n")
        (self.bin / "buildah").chmod(0o755)
        self.cache = tmp_path / "cache"
        (self.cache / "layers").mkdir(parents=True)
        self.cache.chmod(0o700)
        self.write_index({"k1": LAYER, "k2": FINAL})
        for path in [self.tmp, *self.tmp.rglob("*")]:
            os.utime(path, (OLD, OLD), follow_symlinks=False)
        monkeypatch.chdir(self.ctx)
        self.environ = {"PATH": str(self.bin), "HOME": str(tmp_path), "V": "s3cr3t", "PWD": str(self.ctx)}
        self.argv = ["build", "-t", "app", "--cache-dir", str(self.cache), "."]
        self.listing: dict[str, set[str]] = {
            BASE: {"docker.io/library/base:latest"},
            LAYER: set(),
            FINAL: {"localhost/app:latest"},
        }

    def write_index(self, entries: dict[str, str]) -> None:
        data = {
            "entries": {key: {"image": image, "step": "", "created": 0} for key, image in entries.items()}
        }
        (self.cache / "layers" / "index.json").write_text(json.dumps(data))

    def record(
        self, *, containerfile=None, used=None, copies=(("src/*.py",), ("app.txt",)), mounts=(), steps=None,
        warned=False, started=None, tail_copies=None, **changes,
    ) -> Path:  # fmt: skip
        """Record a build of ``containerfile`` (``-f``; else ``used``, found in the context), which started at
        ``started`` (default: well after the fixture's files were made); ``changes``: request or options
        fields. The record's path."""
        path = containerfile or used or "Containerfile"
        context = BuildContext(str(self.ctx), os.path.abspath(path))
        for sources in copies:
            context.digest(sources)
        for sources in mounts:  # RUN --mount=type=bind sources
            context.mounted_digest(sources)
        tail = None
        if tail_copies is not None:  # COPY steps after the last RUN: the executor notes where they began
            tail_steps = [
                CopyStep(Location("Containerfile", 9), "COPY x /", sources=s, dest="/") for s in tail_copies
            ]
            state = SimpleNamespace(
                key="k1",
                image=LAYER,
                pending=[],
                history="",
                uncommitted=False,
                container=None,
                gaps=[],
                entries=[],
            )
            tail = late_edit.tail_entry(
                tail_steps, 0, SimpleNamespace(index=0, label="0"), path, state, context, {"k1": LAYER}, "oci",
                SimpleNamespace(timestamp=None, container_options=()),
            )  # fmt: skip
            for sources in tail_copies:
                context.digest(sources)
        request = SimpleNamespace(
            no_cache=False, explain=False, output=None, push=False, cache_from=(), cache_to=(), secrets=(),
            ssh=(), build_contexts=(), containerfile=None, context=".", volumes=(), authfile=None, network=None,
            build_args={},
        )  # fmt: skip
        request.containerfile = containerfile
        options = SimpleNamespace(build_contexts={}, pull="missing", ca_bundle=None, tags=("app",))
        for name, value in changes.items():
            setattr(request if hasattr(request, name) else options, name, value)
        where = Location("Containerfile", 1)
        result = BuildResult(
            FINAL,
            tuple(
                StepRecord("0", text, where, status, 1.0)
                for text, status in steps or [("FROM base", "from"), ("COPY src/*.py /app/", "built")]
            ),
            2.0,
        )
        recorder = replay.Recorder(self.argv, str(self.cache), self.environ)
        recorder.stamp = time.time() + RACY_SECONDS + 1 if started is None else started
        recorder.warned = warned
        recorder.collect(request, path, context, options, {"base": {"FromImageID": BASE}},
                         {"k1": LAYER, "k2": FINAL}, result, tail=tail)  # fmt: skip
        recorder.write()
        return replay.record_path(self.cache, self.argv, str(self.ctx))

    def why(self, **given) -> str | None:
        """Why the record does not stand for a build run now (None: it does)."""
        record = replay.load(replay.record_path(self.cache, self.argv, str(self.ctx)))
        assert record is not None, "no record"
        args = {"argv": self.argv, "cwd": str(self.ctx), "environ": self.environ, **given}
        return replay.stale_reason(
            record, args["argv"], args["cwd"], args["environ"], self.cache, lambda: self.listing
        )


@pytest.fixture
def build(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    made.record()
    assert made.why() is None
    return made


# -- the command line, the environment, the programs -----------------------------------------------------------


def test_another_command_line_or_directory_is_another_build(build):
    assert build.why(argv=[*build.argv[:-1], "--target", "x", "."]) == "command line"
    assert build.why(cwd=str(build.tmp)) == "command line"
    other = replay.record_path(build.cache, [*build.argv, "--no-color"], str(build.ctx))
    assert other != replay.record_path(build.cache, build.argv, str(build.ctx))


def test_the_record_keeps_no_word_of_the_command_line(build):
    """A ``--build-arg`` value may be a secret: the record keeps a digest of the command line, never its words,
    and a changed value is still another build."""
    build.argv = [
        "build",
        "--build-arg",
        "TOKEN=s3cr3t-value",
        "-t",
        "app",
        "--cache-dir",
        str(build.cache),
        ".",
    ]
    path = build.record()
    assert b"s3cr3t" not in path.read_bytes()
    assert build.why() is None
    assert build.why(argv=[*build.argv[:2], "TOKEN=other", *build.argv[3:]]) == "command line"


def test_every_variable_counts_but_the_shells_own(build):
    assert build.why(environ={**build.environ, "V": "s3cr3t2"}) == "environment"  # --build-arg V reads it
    assert build.why(environ={**build.environ, "https_proxy": "http://p:3128"}) == "environment"
    assert build.why(environ={**build.environ, "CONTAINERS_STORAGE_CONF": "/x"}) == "environment"
    assert build.why(environ={k: v for k, v in build.environ.items() if k != "V"}) == "environment"
    assert build.why(environ={**build.environ, "PWD": "/elsewhere", "TERM": "dumb", "SHLVL": "3"}) is None


def test_another_buildah_binary(build):
    (build.bin / "buildah").write_text("#!/bin/sh\n# upgraded\n")
    assert build.why() == "buildah binary"


def test_another_shlax_front(build, monkeypatch):
    entries = replay.code_entries()
    assert any(path.endswith("/backend/replay.py") for path, _ in entries)
    edited = [[path, [*sig[:1], sig[1] + 1, *sig[2:]]] if path.endswith("api.py") else [path, sig]
              for path, sig in entries]  # fmt: skip
    monkeypatch.setattr(replay, "code_entries", lambda: edited)
    assert build.why() == "shlax-front code"


# -- files ------------------------------------------------------------------------------------------------------


def test_an_edited_copied_file(build):
    (build.ctx / "app.txt").write_text("app, edited\n")
    assert build.why() == f"file {build.ctx / 'app.txt'}"


def test_an_edit_that_keeps_the_size_and_the_mtime(build):
    path = build.ctx / "src" / "a.py"
    path.write_text("A\n")
    os.utime(path, (OLD, OLD))  # the ctime still moves
    assert build.why() == f"file {path}"


def test_a_file_added_where_a_copy_glob_looked(build):
    (build.ctx / "src" / "c.py").write_text("c\n")
    assert build.why() == f"file {build.ctx / 'src'}"


def test_a_file_removed_or_its_mode_changed(build):
    (build.ctx / "src" / "b.py").chmod(0o600)
    assert build.why() == f"file {build.ctx / 'src' / 'b.py'}"
    (build.ctx / "src" / "b.py").unlink()
    assert build.why() == f"file {build.ctx / 'src'}"


def test_a_file_no_step_reads_changes_nothing(build):
    (build.ctx / "README").write_text("edited, still not copied\n")
    assert build.why() is None


def test_a_symlink_retargeted(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    (made.ctx / "link").symlink_to("app.txt")
    os.utime(made.ctx / "link", (OLD, OLD), follow_symlinks=False)
    made.record(copies=(("link",),))
    assert made.why() is None
    (made.ctx / "link").unlink()
    (made.ctx / "link").symlink_to("README")
    assert made.why() == f"file {made.ctx / 'link'}"


def test_a_bind_mount_source_led_elsewhere(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    (made.ctx / "other").mkdir()
    (made.ctx / "via").symlink_to("src")
    (made.ctx / "mounted").symlink_to("via")  # a chain: the mount shows src
    for path in ("other", "via", "mounted"):
        os.utime(made.ctx / path, (OLD, OLD), follow_symlinks=False)
    made.record(copies=(), mounts=(("mounted",),))
    assert made.why() is None
    (made.ctx / "via").unlink()
    (made.ctx / "via").symlink_to("other")  # the link in the middle of the chain
    assert made.why() == f"file {made.ctx / 'mounted'}"  # what it leads to is another directory


def test_the_containerfile_and_the_ignore_file(build):
    (build.ctx / ".dockerignore").write_text("src/b.py\n")
    assert build.why() == f"file {build.ctx / '.dockerignore'}"
    (build.ctx / ".dockerignore").unlink()
    (build.ctx / "Containerfile").write_text("FROM base\nCOPY src/*.py /app/\nCOPY app.txt /x/\n")
    assert build.why() == f"file {build.ctx / 'Containerfile'}"


def test_a_dockerfile_appearing_beside_the_containerfile_it_was_chosen_over(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    (made.ctx / "Containerfile").rename(made.ctx / "Dockerfile")
    made.record(used="Dockerfile")
    assert made.why() is None
    (made.ctx / "Containerfile").write_text("FROM other\n")
    assert made.why() == f"file {made.ctx / 'Containerfile'}"


def test_a_containerfile_outside_the_context(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    outside = tmp_path / "ci" / "Containerfile"
    outside.parent.mkdir()
    outside.write_text("FROM base\n")
    os.utime(outside, (OLD, OLD))
    made.record(containerfile=str(outside))
    outside.write_text("FROM base\nRUN true\n")
    assert made.why() == f"file {outside}"


def test_a_volume_source_removed(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    source = tmp_path / "src-volume"
    source.mkdir()
    os.utime(source, (OLD, OLD))
    made.record(volumes=(f"{source}:/src:ro",))
    source.rmdir()
    assert made.why() == f"file {source}"


# -- the store ----------------------------------------------------------------------------------------------------


def test_a_key_pointing_at_another_image(build):
    build.write_index({"k1": LAYER, "k2": "2" * 64})  # a --no-cache build committed the last step again
    assert build.why() == "layer index"
    (build.cache / "layers" / "index.json").write_text("{damaged")
    assert build.why() == "layer index"


def test_an_image_removed_from_the_store(build):
    del build.listing[LAYER]  # an intermediate layer: the normal path would build its step again
    assert build.why() == "image removed"
    build.listing[LAYER] = set()
    del build.listing[FINAL]
    assert build.why() == "image removed"


def test_a_base_image_name_moved_or_made_ambiguous(build):
    build.listing["c" * 64] = build.listing.pop(BASE)  # retagged: the name is another image now
    assert build.why() == "image base"
    build.listing[BASE] = {"quay.io/x/base:latest"}  # two images a short name can stand for
    assert build.why() == "image base"


def test_a_cache_directory_others_can_write(build):
    build.cache.chmod(0o777)
    try:
        assert build.why() == "cache directory"
    finally:
        build.cache.chmod(0o700)


# -- when there is no record --------------------------------------------------------------------------------------


def test_a_file_changed_just_before_the_build_leaves_no_record(tmp_path, monkeypatch):
    made = Build(tmp_path, monkeypatch)
    path = made.record()
    (made.ctx / "app.txt").write_text("just now\n")  # younger than RACY_SECONDS when the build starts
    made.record(started=time.time())
    assert not path.exists()
    os.utime(made.ctx / "app.txt", (OLD, OLD))  # its ctime is still recent: still none
    made.record(started=time.time())
    assert not path.exists()
    made.record()  # a build that starts later records it
    assert path.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"no_cache": True},
        {"explain": True},
        {"pull": "always"},
        {"pull": "newer"},
        {"output": "type=local,dest=out"},
        {"push": True},
        {"cache_to": ("x",)},
        {"secrets": ("id=a,src=f",)},
        {"ssh": ("default",)},
        {"build_contexts": ("n=dir",)},
        {"warned": True},
        {"steps": [("FROM base", "from"), ("ADD https://example.com/f /f", "cached")]},
    ],
)
def test_builds_never_recorded(tmp_path, monkeypatch, change):
    made = Build(tmp_path, monkeypatch)
    path = made.record()
    assert path.exists()
    made.record(**change)
    assert not path.exists()  # the earlier record goes too


def test_a_damaged_record_is_absent(build):
    path = replay.record_path(build.cache, build.argv, str(build.ctx))
    path.write_text('{"format": 1, "argv"')
    assert replay.load(path) is None
    path.write_text(json.dumps({"format": 99}))
    assert replay.load(path) is None
    build.record()
    record = json.loads(path.read_text())
    assert replay.load(path) == record
    for damage in (
        {"steps": [["0", "FROM base", "Containerfile", "1", "from"]]},
        {"image": None},
        {"tags": [[1, 2]]},
    ):
        path.write_text(json.dumps({**record, **damage}))
        assert replay.load(path) is None, damage


def test_the_record_is_private_and_names_no_value(build):
    path = replay.record_path(build.cache, build.argv, str(build.ctx))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cr3t" not in path.read_text()


# -- what is shown --------------------------------------------------------------------------------------------------


def test_each_step_as_a_no_op_shows_it():
    where = Location("Containerfile", 1)
    steps = [
        StepRecord("0", "FROM base", where, "from", 0.1),
        StepRecord("0", "ENV A=1", where, "config", 0.0),
        StepRecord("0", "RUN make", where, "built", 3.0),
        StepRecord("0", "EXPOSE 80", where, "config", 0.0),  # the stage's commit keeps its key
        StepRecord("1", "FROM base", where, "from", 0.1),
        StepRecord("1", "COPY a /", where, "cached", 0.0),
    ]
    assert [status for *_, status in replay.noop_view(steps)] == [
        "from", "config", "cached", "cached", "from", "cached",
    ]  # fmt: skip


def test_the_replay_tells_the_progress_what_a_no_op_tells_it():
    events = []
    done = replay.Replayed(FINAL, [["0", "FROM base", "Containerfile", 1, "from"],
                                   ["0", "RUN make", "Containerfile", 2, "cached"]], time.monotonic())  # fmt: skip
    result = done.run(None, on_start=lambda s: events.append(("start", s.instruction)),
                      on_step=lambda r: events.append((r.status, r.instruction)))  # fmt: skip
    assert events == [("start", "FROM base"), ("from", "FROM base"), ("cached", "RUN make")]
    assert result.image == FINAL and result.cached == 1 and result.built == 0


# -- late edits (``late_edit``): files only the COPY steps after the last RUN read ------------------------------


def test_a_file_only_the_last_copies_read_edited_is_a_late_edit(tmp_path, monkeypatch):
    build = Build(tmp_path, monkeypatch)
    path = build.record(copies=(("src/*.py",),), tail_copies=(("app.txt",),))
    record = json.loads(path.read_text())
    assert [entry[0] for entry in record["tail"]["paths"]] == [str(build.ctx / "app.txt")]
    assert str(build.ctx / "app.txt") not in [entry[0] for entry in record["paths"]]
    assert record["tail"]["keys"] == ["k2"] and not record["tail"]["racy"]
    assert build.why() is None
    (build.ctx / "app.txt").write_text("edited\n")
    assert build.why() == replay.LATE_FILES
    (build.ctx / "src" / "a.py").write_text("an earlier step's file\n")
    assert build.why() == f"file {build.ctx / 'src' / 'a.py'}"  # the other inputs are checked first


def test_a_file_both_an_earlier_step_and_the_last_copies_read_is_not_a_late_edit(tmp_path, monkeypatch):
    build = Build(tmp_path, monkeypatch)
    path = build.record(copies=(("app.txt",),), tail_copies=(("app.txt",), ("src/*.py",)))
    tail_paths = [entry[0] for entry in json.loads(path.read_text())["tail"]["paths"]]
    assert str(build.ctx / "app.txt") not in tail_paths and str(build.ctx / "src" / "a.py") in tail_paths
    (build.ctx / "app.txt").write_text("edited\n")
    assert build.why() == f"file {build.ctx / 'app.txt'}"


def test_the_containerfile_and_the_ignore_files_are_never_late_files(tmp_path, monkeypatch):
    build = Build(tmp_path, monkeypatch)
    (build.ctx / ".dockerignore").write_text("README\n")
    os.utime(build.ctx / ".dockerignore", (OLD, OLD))
    path = build.record(copies=(), tail_copies=((".",),))  # COPY . / last: its ignore file read by it
    record = json.loads(path.read_text())
    assert any(entry[0].endswith("app.txt") for entry in record["tail"]["paths"])
    checked_first = {entry[0] for entry in record["paths"]}  # a change there is never a late edit
    assert {
        str(build.ctx / n) for n in ("Containerfile", ".dockerignore", ".containerignore")
    } <= checked_first
    (build.ctx / ".dockerignore").write_text("README\napp.txt\n")
    assert build.why() == f"file {build.ctx / '.dockerignore'}"


def test_a_late_file_changed_just_before_the_build_is_read_again_by_the_next(tmp_path, monkeypatch):
    """The racy rule: a stat taken too soon after a change vouches for nothing. Such a late file keeps the record
    (a late edit hashes it again) but makes it no no-op."""
    build = Build(tmp_path, monkeypatch)
    started = time.time() + RACY_SECONDS + 1  # the fixture's files were made (ctime) well before
    os.utime(build.ctx / "app.txt", (started, started))  # changed as the build started
    path = build.record(copies=(("src/*.py",),), tail_copies=(("app.txt",),), started=started)
    assert json.loads(path.read_text())["tail"]["racy"]
    assert build.why() == replay.LATE_FILES


def test_a_damaged_tail_is_no_record(tmp_path, monkeypatch):
    build = Build(tmp_path, monkeypatch)
    path = build.record(copies=(("src/*.py",),), tail_copies=(("app.txt",),))
    record = json.loads(path.read_text())
    record["tail"]["keys"] = "k2"
    path.write_text(json.dumps(record))
    assert build.why() == "record"


@pytest.mark.parametrize(
    "step",
    [
        CopyStep(
            Location("C", 1), "COPY $SRC /", sources=("s3cr3t",), dest="/"
        ),  # an ARG's value in the record
        CopyStep(Location("C", 1), "COPY --from=0 a /", sources=("a",), dest="/", from_stage=0),
        CopyStep(Location("C", 1), "COPY --from=img a /", sources=("a",), dest="/", from_image="img"),
        CopyStep(Location("C", 1), "ADD https://x/a /", sources=("https://x/a",), dest="/", add=True),
        CopyStep(Location("C", 1), "COPY <<EOF /a", sources=(), dest="/a", heredocs=(("a", "x"),)),
    ],
)
def test_steps_never_redone_from_the_record(step):
    assert not late_edit.is_tail_step(step)
    steps = [
        FromStep(Location("C", 1), "FROM b"),
        CopyStep(Location("C", 2), "COPY a /", sources=("a",), dest="/"),
    ]
    assert late_edit.tail_start(steps) == 1 and late_edit.tail_start([*steps, step]) is None


def test_a_late_edit_makes_the_calls_and_the_index_entries_the_executor_makes(tmp_path):
    """The tail redone from the record against the normal path on the same edit (a fake buildah for both,
    knowing the same images): the same buildah commands, image, statuses, and layer index afterwards."""
    import re
    import shutil

    from fake_runner import FakeRunner

    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.executor import Executor, Options
    from shlax_front.backend.hostcache import HostCaches
    from shlax_front.backend.plan import Planner
    from shlax_front.backend.store import LayerIndex
    from shlax_front.parser import parse

    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    text = 'FROM busybox\nRUN echo hi\nENV A=1\nCOPY a.txt /a/\nCOPY b.txt c.txt /b/\nEXPOSE 80\nCMD ["sh"]\n'
    (ctx / "Containerfile").write_text(text)
    for name in ("a.txt", "b.txt", "c.txt"):
        (ctx / name).write_text(name)

    def build(root: Path, runner: FakeRunner):
        context = BuildContext(str(ctx), str(ctx / "Containerfile"))
        options = Options(ca_bundle=None, tags=("app",))
        executor = Executor(Buildah(runner), LayerIndex(root).load(), HostCaches(root), context, options)
        plan = Planner(parse(text), path=str(ctx / "Containerfile")).plan()
        return executor, executor.run(plan), context

    def knowing(first: FakeRunner) -> FakeRunner:
        runner = FakeRunner()
        runner.images, runner.counter = set(first.images), first.counter
        return runner

    def commands(runner: FakeRunner) -> list[str]:
        kept = [
            c for c in runner.calls if c[1] in ("from", "config", "copy", "add", "mount", "commit", "tag")
        ]
        return [re.sub(r"shlax-front-\S+", "CONTAINER", " ".join(c)) for c in kept]

    def index(root: Path) -> dict:
        data = json.loads((root / "layers" / "index.json").read_text())
        return {**data, "entries": {k: v["image"] for k, v in data["entries"].items()}}

    first = FakeRunner()
    executor, result, context = build(cache, first)
    assert (
        executor.tail is not None and executor.tail["start"] == 3
    )  # the two COPYs, EXPOSE and CMD; ENV pending
    tail = late_edit.finished_tail(executor.tail, context.visited, set(), executor.reached)
    assert len(tail["keys"]) == 2

    (ctx / "c.txt").write_text("edited")
    shutil.copytree(cache, tmp_path / "cache2")
    late = knowing(first)
    listing = {image: set() for image in first.images}
    redone, _ = late_edit.redo(tail, cache, listing, "localhost/app:latest", runner=late)
    normal = knowing(first)
    _, built, _ = build(tmp_path / "cache2", normal)

    # the commit is stored again with bud's empty entries (``emptylayers``), unnamed: the executor tags it at
    # the build's end, replay after the late edit
    tagged = [c for c in commands(normal) if c.startswith("buildah tag")]
    assert tagged == [f"buildah tag {built.image} app"]
    assert commands(late) == [c for c in commands(normal) if c not in tagged]
    assert any(c.startswith("buildah copy") for c in commands(late))
    assert redone.image == built.image != result.image and redone.named is None
    assert [row[4] for row in redone.rows] == [step.status for step in built.steps[-4:]]
    assert [row[5] for row in redone.rows] == [step.reason for step in built.steps[-4:]]
    assert index(cache) == index(tmp_path / "cache2")

    # the edit undone: the layer made before is found again, as the normal path finds it
    (ctx / "c.txt").write_text("c.txt")
    again, _ = late_edit.redo(
        tail, cache, {**listing, redone.image: set()}, "localhost/app:latest", knowing(first)
    )
    assert again.image == result.image and [row[4] for row in again.rows] == [
        "cached",
        "cached",
        "config",
        "cached",
    ]


def test_a_late_edit_on_buildah_1_28_writes_a_plain_file_into_the_mounted_container(tmp_path, monkeypatch):
    """Where plain files are copied without ``--contextdir`` (1.28), the late edit's COPY of one plain file is
    ``buildah mount`` and this process writing it (``directcopy``), with the digest ``buildah copy`` prints in
    the history line; with buildah 1.39's tail (``plain_copies`` off) it is ``buildah copy`` as before."""
    import shutil

    from fake_runner import FakeRunner

    from shlax_front.backend import directcopy
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.executor import Executor, Options
    from shlax_front.backend.hostcache import HostCaches
    from shlax_front.backend.plan import Planner
    from shlax_front.backend.store import LayerIndex
    from shlax_front.parser import parse

    monkeypatch.setattr(directcopy.os, "geteuid", lambda: 0)
    monkeypatch.setattr(directcopy, "_outside_user_namespaces", lambda: True)
    monkeypatch.setattr(directcopy.os, "fchown", lambda fd, uid, gid: None)
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("root", "root"))
    rootfs = tmp_path / "rootfs"
    (rootfs / "app").mkdir(parents=True)

    class Mounting(FakeRunner):
        def run(self, argv, check=True, on_output=None, cwd=None, input=None):
            done = super().run(argv, check, on_output, cwd, input)
            if argv[1] == "mount":
                done.stdout = str(rootfs)
            return done

    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    text = 'FROM busybox\nRUN echo hi\nCOPY app.py /app/\nCMD ["sh"]\n'
    (ctx / "Containerfile").write_text(text)
    (ctx / "app.py").write_text("x")
    first = FakeRunner()
    context = BuildContext(str(ctx), str(ctx / "Containerfile"))
    executor = Executor(
        Buildah(first), LayerIndex(cache).load(), HostCaches(cache), context, Options(ca_bundle=None)
    )
    executor.run(Planner(parse(text), path=str(ctx / "Containerfile")).plan())
    tail = late_edit.finished_tail(executor.tail, context.visited, set(), executor.reached)
    listing = {image: set() for image in first.images}
    shutil.copytree(cache, tmp_path / "cache2")

    (ctx / "app.py").write_text("hello\n")
    os.chmod(ctx / "app.py", 0o640)
    late = Mounting()
    late.images, late.counter = set(first.images), first.counter
    late_edit.redo({**tail, "plain_copies": True}, cache, listing, None, runner=late)
    assert [c[1] for c in late.calls if c[1] != "inspect"] == ["from", "mount", "config", "commit", "pull"]
    config = next(c for c in late.calls if c[1] == "config")
    digest = (
        "d442f3032cca46bb3d00214fe46666b05f97c73fdc740f35154794f62051a2f0"  # printed by buildah copy 1.28.2
    )
    assert config[config.index("--created-by") + 1] == f"/bin/sh -c #(nop) COPY file:{digest} in /app/ "
    assert (rootfs / "app" / "app.py").read_text() == "hello\n"

    buildah_1_39 = FakeRunner()
    buildah_1_39.images, buildah_1_39.counter = set(first.images), first.counter
    late_edit.redo({**tail, "plain_copies": False}, tmp_path / "cache2", listing, None, runner=buildah_1_39)
    assert [c[1] for c in buildah_1_39.calls if c[1] != "inspect"] == [
        "from",
        "copy",
        "config",
        "commit",
        "pull",
    ]


def test_a_build_whose_record_would_hold_a_build_args_value_is_not_recorded(tmp_path, monkeypatch):
    """``ARG F`` then ``COPY $F /``: the paths read, the step shown and the tail's sources hold the value."""
    build = Build(tmp_path, monkeypatch)
    path = build.record(copies=(("src/*.py",),), tail_copies=(("app.txt",),), build_args={"F": "app.txt"})
    assert not path.exists()
    path = build.record(
        copies=(("src/*.py",),), tail_copies=(("app.txt",),), build_args={"F": "n0t-th3re", "G": "x"}
    )
    assert "tail" in json.loads(path.read_text())  # a value nothing holds, one too short to tell


def test_a_common_build_arg_value_found_only_in_numbers_or_digests_is_no_reason_not_to_record(
    tmp_path, monkeypatch
):
    """``UID=1000`` or ``DEBUG=true`` show up by chance in the record's stat numbers, JSON booleans or hex
    digests, where no value is ever expanded: the build is recorded. Found in a word (a step's text), it is not."""
    build = Build(tmp_path, monkeypatch)
    record = json.loads(build.record().read_text())
    number = next(str(entry[2][1]) for entry in record["paths"] if entry[2])  # a stat field
    common = {"UID": number[:4], "DEBUG": "true", "KEY": record["code"][:8]}
    assert all(value in json.dumps(record) for value in common.values())
    assert build.record(build_args=common).exists()
    shown = [("FROM base", "from"), ("ENV DEBUG=true", "config"), ("COPY src/*.py /app/", "built")]
    assert not build.record(build_args=common, steps=shown).exists()


def test_files_made_in_the_working_directory_of_python_m_keep_the_code_signature(tmp_path, monkeypatch):
    """``python -m shlax_front`` puts the working directory on the path: a log written there is no new code."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    before = replay.code_digest(replay.code_entries())
    (tmp_path / "build.log").write_text("a log\n")
    (tmp_path / "src").mkdir()
    assert replay.code_digest(replay.code_entries()) == before
    (tmp_path / "helpers.py").write_text("# a module an import could find here\n")
    assert replay.code_digest(replay.code_entries()) != before
    (tmp_path / "helpers.py").unlink()
    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text("")
    assert replay.code_digest(replay.code_entries()) != before
