"""The library API (``shlax_front.parse/optimize/explain/migrate/build``) with a fake buildah runner.

``build`` returns a result object and prints nothing; the CLI's formatting of that result is ``Reporter``'s.
The same call on real buildah is in ``test_build_api.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from fake_runner import FakeRunner

import shlax_front
from shlax_front.backend.api import BuildRequest, run_request
from shlax_front.backend.result import BuildResult, StepRecord
from shlax_front.backend.steps import Location
from shlax_front.errors import BuildError

APT = "FROM debian:bookworm\nRUN apt-get update && apt-get install -y curl\n"
TEXT = "FROM busybox\nENV A=1\nRUN echo $A > /a\nLABEL k=v\n"


def test_the_api_names_are_the_functions_even_after_their_modules_are_imported():
    """The modules behind the API (``shlax_front.optimizer``...) are named apart from its functions: importing them
    replaces no function, and importing the package alone loads none of them (CLI start-up)."""
    code = (
        "import sys, shlax_front\n"
        "assert not [m for m in sys.modules if m.startswith('shlax_front.')], sorted(sys.modules)\n"
        "import shlax_front.optimizer, shlax_front.explainer, shlax_front.migration\n"
        "from shlax_front.optimizer import optimize_document\n"
        "for name in ('parse', 'optimize', 'explain', 'migrate', 'build'):\n"
        "    value = getattr(shlax_front, name)\n"
        "    assert callable(value) and value.__name__ == name, (name, value)\n"
        "from shlax_front import optimize\n"
        "assert callable(optimize)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_parse_optimize_explain_migrate_from_the_package():
    from shlax_front.explainer import explain_document
    from shlax_front.migration import migrate_document
    from shlax_front.optimizer import optimize_document
    from shlax_front.parser import parse

    doc = shlax_front.parse(APT)
    assert [n.keyword for n in doc.nodes] == [n.keyword for n in parse(APT).nodes] == ["from", "run"]
    optimized = shlax_front.optimize(APT)
    assert optimized.changes and optimized.text == optimize_document(parse(APT)).text
    assert "--mount=type=cache" in optimized.text
    entries = shlax_front.explain(APT)
    assert [e.to_json() for e in entries] == [e.to_json() for e in explain_document(parse(APT))]
    assert shlax_front.migrate(APT) == migrate_document(parse(APT))
    assert "Packages(" in shlax_front.migrate(APT)


@pytest.fixture
def project(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(TEXT)
    return ctx, tmp_path / "cache"


def test_build_returns_the_image_and_a_record_per_step_and_prints_nothing(project, capfd):
    ctx, cache = project
    runner = FakeRunner()
    seen: list[StepRecord] = []
    first = run_request(
        BuildRequest(context=str(ctx), cache_dir=str(cache), ca_bundle=None, tags=("app",)),
        on_step=seen.append,
        runner=runner,
    )
    # the LABEL after the RUN is committed last, as bud does: an empty history entry after the RUN's layer, the
    # commit's empty layer dropped (``emptylayers``: that commit stored again from a ``dir:`` and removed)
    pulled = [call for call in runner.calls if call[1] == "pull"]
    assert pulled and pulled[0][-1].startswith("dir:")
    assert isinstance(first, BuildResult) and first.image not in ("image1", "image2")
    file = str(ctx / "Containerfile")
    assert [(s.status, s.instruction, s.location) for s in first.steps] == [
        ("from", "FROM busybox", Location(file, 1)),
        ("config", "ENV A=1", Location(file, 2)),
        ("built", "RUN echo $A > /a", Location(file, 3)),
        ("config", "LABEL k=v", Location(file, 4)),
    ]
    assert first.steps[2].reason == "not built before" and first.built == 1 and first.cached == 0
    assert tuple(seen) == first.steps  # the callback saw each step, in order
    # the image stored from the directory has no name: tagged, once the commit with the empty layer is removed
    # (its container after it: it keeps the RUN's image from that removal)
    assert runner.verbs()[-6:] == ["commit", "inspect", "pull", "rmi", "rm", "tag"]
    assert "--rm" not in runner.calls[-6] and runner.calls[-6][-1] != "localhost/app:latest"
    assert runner.calls[-3] == ["buildah", "rmi", "image2"] and runner.calls[-2][-1] == runner.calls[-6][-1]
    assert runner.calls[-1] == ["buildah", "tag", first.image, "app"]

    second = run_request(BuildRequest(context=str(ctx), cache_dir=str(cache), ca_bundle=None), runner=runner)
    assert second.image == first.image
    assert [s.status for s in second.steps] == ["from", "config", "cached", "cached"]
    assert capfd.readouterr() == ("", "")


def test_build_output_goes_to_the_callback_only(project, capfd):
    ctx, cache = project
    runner = FakeRunner()
    real_run = runner.run

    def run(argv, **kw):
        result = real_run(argv, **kw)
        if argv[1] == "run":
            result.stdout = "hello from the RUN\n"
            if kw.get("on_output"):  # the real runner streams each line as it is read
                kw["on_output"](result.stdout)
        return result

    runner.run = run
    shown: list[str] = []
    request = BuildRequest(context=str(ctx), cache_dir=str(cache), ca_bundle=None)
    run_request(request, on_output=shown.append, runner=runner)
    assert shown == ["hello from the RUN\n"]
    run_request(
        BuildRequest(context=str(ctx), cache_dir=str(cache), ca_bundle=None, no_cache=True), runner=runner
    )
    assert capfd.readouterr() == ("", "")


def test_a_failed_step_raises_a_located_error_and_prints_nothing(tmp_path, capfd):
    (tmp_path / "Containerfile").write_text("FROM busybox\nCOPY missing.txt /\n")
    with pytest.raises(BuildError) as err:
        run_request(
            BuildRequest(context=str(tmp_path), cache_dir=str(tmp_path / "cache")), runner=FakeRunner()
        )
    assert str(err.value).startswith(f"{tmp_path}/Containerfile:2: missing.txt")
    assert capfd.readouterr() == ("", "")


def test_the_public_build_takes_keywords(project, monkeypatch):
    """``shlax_front.build(context, tags=..., ...)`` is ``run_request`` with a ``BuildRequest``."""
    from shlax_front.backend import api

    ctx, cache = project
    asked = []
    monkeypatch.setattr(api, "run_request", lambda request, **kw: asked.append((request, kw)))
    shlax_front.build(str(ctx), tags="app", build_args={"A": "2"}, cache_dir=str(cache), on_step=print)
    ((request, kw),) = asked
    assert request == BuildRequest(
        context=str(ctx), tags=("app",), build_args={"A": "2"}, cache_dir=str(cache)
    )
    assert kw == {"on_step": print, "on_output": None, "on_start": None}


def test_a_library_build_lets_a_prune_go_on_once_it_returns(project):
    """A build holds its layer images from ``cache prune`` (``LayerIndex.hold_images``) until it ends: a library
    caller's process goes on after ``build`` returns, and a prune must not wait for it to end or for the
    collector to find the build's objects."""
    import fcntl
    import gc
    import os

    from shlax_front.backend.store import LayerIndex

    ctx, cache = project
    gc.disable()  # the executor and the index it holds may be in reference cycles: not collected before the check
    try:
        run_request(BuildRequest(context=str(ctx), cache_dir=str(cache), ca_bundle=None), runner=FakeRunner())
        fd = os.open(LayerIndex(cache).images_lock_path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a prune's lock: BlockingIOError while held
        finally:
            os.close(fd)
    finally:
        gc.enable()
