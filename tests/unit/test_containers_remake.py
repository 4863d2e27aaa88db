"""A temporary image another build removed before this build's ``buildah from`` of it is made again."""

from __future__ import annotations

import pytest

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.containers import WorkingContainers
from shlax_front.backend.runner import CommandFailed, Result


class Runner:
    """``from`` fails while the image is not there (``present``); ``inspect`` says whether it is."""

    def __init__(self, present: bool, from_fails: bool = False):
        self.present, self.from_fails = present, from_fails
        self.calls: list[list[str]] = []

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        ok = (self.present or argv[1] not in ("from", "inspect")) and not (
            self.from_fails and argv[1] == "from"
        )
        result = Result(argv, 0 if ok else 125, "{}" if argv[1] == "inspect" else "c\n", "")
        if not ok and check:
            raise CommandFailed(result)
        return result


@pytest.fixture(autouse=True)
def _no_sweep(monkeypatch):
    monkeypatch.setattr(WorkingContainers, "_sweep_once", lambda self: None)


def test_the_copy_removed_by_another_build_is_made_again_then_its_container():
    runner = Runner(present=False)
    work = WorkingContainers(Buildah(runner))
    remade = []

    def remake() -> str:
        remade.append(1)
        runner.present = True
        return "copy"

    work.temporary_image("copy", remake=remake)
    name = work.create("copy")
    assert remade == [1] and [c[1] for c in runner.calls] == ["from", "inspect", "from"]
    assert name in work.names


def test_a_from_that_fails_for_another_reason_is_not_tried_again():
    runner = Runner(present=True, from_fails=True)  # another cause (no space left): the image is there
    work = WorkingContainers(Buildah(runner))
    work.temporary_image("copy", remake=lambda: pytest.fail("the copy is there: nothing to make again"))
    with pytest.raises(CommandFailed):
        work.create("copy")
    assert [c[1] for c in runner.calls] == ["from", "inspect"]


def test_an_image_not_made_for_the_build_is_not_made_again():
    runner = Runner(present=False)
    work = WorkingContainers(Buildah(runner))
    with pytest.raises(CommandFailed):
        work.create("busybox")
    assert [c[1] for c in runner.calls] == ["from"]
