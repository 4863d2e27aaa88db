"""A late edit's first container made while the record is still checked (``late_edit.Head``): taken by ``redo``
for the tail's first COPY with the calls it would make itself, and removed whenever it is not taken (the edit
undone, the record stale, SIGTERM meanwhile)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time

import pytest
from fake_runner import FakeRunner
from test_replay import Build

from shlax_front.backend import directcopy, late_edit, replay
from shlax_front.backend import runner as runner_module
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.context import BuildContext
from shlax_front.backend.executor import Executor, Options
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.plan import Planner
from shlax_front.backend.store import LayerIndex
from shlax_front.parser import parse

TEXT = 'FROM busybox\nRUN echo hi\nCOPY app.py /app/\nCMD ["sh"]\n'


def _recorded(tmp_path):
    """A build of ``TEXT`` through the executor (fake buildah): its tail as the record keeps it, the runner."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(TEXT)
    (ctx / "app.py").write_text("x")
    first = FakeRunner()
    context = BuildContext(str(ctx), str(ctx / "Containerfile"))
    executor = Executor(
        Buildah(first), LayerIndex(cache).load(), HostCaches(cache), context, Options(ca_bundle=None)
    )
    executor.run(Planner(parse(TEXT), path=str(ctx / "Containerfile")).plan())
    tail = late_edit.finished_tail(executor.tail, context.visited, set(), executor.reached)
    tail["paths"] = [replay.path_entry(p) for p in tail["paths"]]  # as the record keeps them
    return tail, first


def _knowing(first: FakeRunner) -> FakeRunner:
    runner = FakeRunner()
    runner.images, runner.counter = set(first.images), first.counter
    return runner


def _commands(runner: FakeRunner) -> list[str]:
    return [re.sub(r"shlax-front-\S+", "CONTAINER", " ".join(c)) for c in runner.calls if c[1] != "inspect"]


def _verbs(runner: FakeRunner) -> list[str]:
    """The verbs called, less the questions (``inspect``, a killed build's sweep listing ``containers``)."""
    return [c[1] for c in runner.calls if c[1] not in ("inspect", "containers")]


def _left(runner: FakeRunner) -> set[str]:
    """The containers made and neither committed with ``--rm`` nor removed."""
    made = {c[c.index("--name") + 1] for c in runner.calls if c[1] == "from"}
    gone = {c[-1] for c in runner.calls if c[1] == "rm"}
    gone |= {c[c.index("--rm") + 1] for c in runner.calls if c[1] == "commit" and "--rm" in c}
    return made - gone


@pytest.mark.parametrize("plain", [True, False])
def test_the_head_is_the_container_redo_makes_itself(tmp_path, monkeypatch, plain):
    """The same buildah commands as without a head (a copy written into the mounted container or ``buildah
    copy``), the same image and layer index; nothing left."""
    monkeypatch.setattr(directcopy.os, "geteuid", lambda: 0)
    monkeypatch.setattr(directcopy, "_outside_user_namespaces", lambda: True)
    monkeypatch.setattr(directcopy.os, "fchown", lambda fd, uid, gid: None)
    monkeypatch.setattr(directcopy, "_owner_names", lambda st: ("root", "root"))
    tail, first = _recorded(tmp_path)
    tail = {**tail, "plain_copies": plain}
    listing = {image: set() for image in first.images}
    shutil.copytree(tmp_path / "cache", tmp_path / "cache2")
    (tmp_path / "ctx" / "app.py").write_text("edited\n")
    alone = _knowing(first)
    without, _ = late_edit.redo(tail, tmp_path / "cache", listing, "localhost/app:latest", runner=alone)
    early = _knowing(first)
    head = late_edit.Head.start(tail, early)
    assert head is not None
    done, _ = late_edit.redo(tail, tmp_path / "cache2", listing, "localhost/app:latest", head=head)
    assert _commands(early)[0].startswith("buildah from --quiet --name CONTAINER --pull=never image")
    assert _commands(early) == _commands(alone)
    assert _verbs(early) == (
        # the commit stored again with CMD's empty entry (``emptylayers``): a ``pull dir:``
        ["from", "mount", "config", "commit", "pull"]
        if plain
        else ["from", "copy", "config", "commit", "pull"]
    )
    assert done.image == without.image and done.rows == without.rows
    index = [json.loads((tmp_path / d / "layers" / "index.json").read_text()) for d in ("cache", "cache2")]
    assert [{k: v["image"] for k, v in i["entries"].items()} for i in index] == [
        {k: v["image"] for k, v in index[0]["entries"].items()}
    ] * 2
    assert _left(early) == set() and head.work.names == []


def test_a_head_not_taken_because_the_copy_is_cached_is_removed(tmp_path):
    """The late file changed back: the first COPY's layer is found, no container is needed; the head's goes."""
    tail, first = _recorded(tmp_path)
    tail = {**tail, "plain_copies": True}
    listing = {image: set() for image in first.images}
    os.utime(tmp_path / "ctx" / "app.py", (time.time() + 5, time.time() + 5))  # a stat change, same content
    early = _knowing(first)
    head = late_edit.Head.start(tail, early)
    assert head is not None
    done, _ = late_edit.redo(tail, tmp_path / "cache", listing, None, head=head)
    assert [row[4] for row in done.rows] == ["cached", "cached"]
    assert _verbs(early) == ["from", "mount", "umount", "rm"]
    assert _left(early) == set() and "commit" not in early.verbs()


def test_a_failed_head_leaves_redo_to_make_its_own(tmp_path):
    tail, first = _recorded(tmp_path)
    tail = {**tail, "plain_copies": False}
    listing = {image: set() for image in first.images}
    (tmp_path / "ctx" / "app.py").write_text("edited\n")

    class FailingFirstFrom(FakeRunner):
        def run(self, argv, check=True, on_output=None, cwd=None, input=None):
            if argv[1] == "from" and "from" not in self.verbs():
                self.calls.append([str(a) for a in argv])
                raise runner_module.CommandFailed(runner_module.Result(list(argv), 125, "", "busy"))
            return super().run(argv, check, on_output, cwd, input)

    early = FailingFirstFrom()
    early.images, early.counter = set(first.images), first.counter
    head = late_edit.Head.start(tail, early)
    assert head is not None
    done, _ = late_edit.redo(tail, tmp_path / "cache", listing, None, head=head)
    assert _verbs(early) == ["from", "from", "copy", "config", "commit", "pull", "umount", "rm"]
    assert done.rows[0][4] == "built" and _left(early) == set()


def test_only_a_tail_that_begins_with_a_copy_gets_a_head(tmp_path):
    tail, first = _recorded(tmp_path)
    assert late_edit.Head.start({**tail, "format": 0}, FakeRunner()) is None
    config_first = {**tail, "steps": [{**tail["steps"][-1]}, *tail["steps"]]}
    assert late_edit.Head.start(config_first, FakeRunner()) is None


# -- from ``replay.attempt``: the head is started when the late files changed, removed when not taken -----------


@pytest.fixture
def late(tmp_path, monkeypatch):
    """A recorded build whose last COPY's file was edited since, and the fake buildah the head gets."""
    build = Build(tmp_path, monkeypatch)
    path = build.record(copies=(("src/*.py",),), tail_copies=(("app.txt",),))
    (build.ctx / "app.txt").write_text("edited\n")
    fake = FakeRunner()
    monkeypatch.setattr(runner_module, "SubprocessRunner", lambda: fake)
    build.fake = fake
    build.path = path
    return build


def test_no_head_when_an_input_checked_before_the_listing_changed(late):
    """A late edit is not in view when another input changed: no container is made for nothing (the normal path
    builds at once)."""
    (late.ctx / "src" / "a.py").write_text("an earlier step's file\n")
    assert replay.attempt(late.argv, str(late.cache), None, environ=late.environ) is None
    assert late.fake.calls == []
    assert json.loads(late.path.read_text())["tail"]["steps"][0]["kind"] == "copy"


def test_a_head_is_removed_when_the_store_makes_the_record_stale_after_all(late):
    """Every other input held, the head was started; the listing lacks the record's images (this fake buildah
    lists none): the normal path builds, and the head's container is removed first."""
    assert replay.attempt(late.argv, str(late.cache), None, environ=late.environ) is None
    assert _verbs(late.fake) == ["from", "umount", "rm"]
    assert _left(late.fake) == set()


def test_no_head_without_a_late_edit_in_view(tmp_path, monkeypatch):
    build = Build(tmp_path, monkeypatch)
    build.record(copies=(("src/*.py",),), tail_copies=(("app.txt",),))  # nothing changed since
    fake = FakeRunner()
    monkeypatch.setattr(runner_module, "SubprocessRunner", lambda: fake)
    replay.attempt(build.argv, str(build.cache), None, environ=build.environ)
    assert fake.calls == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_head_is_removed_when_the_build_is_terminated_while_the_listing_is_awaited(late, monkeypatch, sig):
    before = signal.getsignal(sig)

    def awaited(self):
        os.kill(os.getpid(), sig)

    monkeypatch.setattr(replay.ImageListing, "__call__", awaited)
    with pytest.raises(KeyboardInterrupt):
        replay.attempt(late.argv, str(late.cache), None, environ=late.environ)
    assert _verbs(late.fake) == ["from", "umount", "rm"] and _left(late.fake) == set()
    assert signal.getsignal(sig) is before
