"""``python -m shlax_front build ...`` tries the record before click is imported (``replay.finish_early``): the
command line is read by ``replay.early_options``, which must read it as click does or not at all."""

from __future__ import annotations

import click
import pytest

from shlax_front.backend import replay
from shlax_front.commands.build import _BudFlags, build_command


def _long_and_short():
    for param in build_command.params:
        if isinstance(param, click.Option):
            yield param, [*param.opts, *param.secondary_opts]


def test_every_build_option_is_in_one_table_with_its_arity():
    known = replay.VALUE_OPTIONS | replay.FLAG_OPTIONS | replay.BARE_OPTIONS
    longs = set()
    for param, names in _long_and_short():
        for name in names:
            if not name.startswith("--"):
                assert replay.SHORT_OPTIONS.get(name) in param.opts, name
                continue
            longs.add(name)
            if name in replay.BARE_OPTIONS:
                assert not param.is_flag, name
            elif param.is_flag:
                assert name in replay.FLAG_OPTIONS, name
            else:
                assert name in replay.VALUE_OPTIONS, name
    assert known == longs  # no name the command does not have
    assert set(_BudFlags.BARE) == replay.BARE_OPTIONS


@pytest.mark.parametrize(
    "args",
    [
        ["-t", "app", "--cache-dir", "/c", "."],
        ["--tag=app", "--cache-dir=/c", "--iidfile", "id.txt", "-q", "sub"],
        ["--progress", "plain", "--no-color", "--verbose", "-f", "sub/Containerfile", "sub"],
        ["--json", "--build-arg", "A=1", "--pull", "sub", "--tls-verify=false"],
        ["--progress=rawjson", "-v", "/a:/b", "--no-incremental", "--format", "docker"],
        ["--layers", "--rm=false", "sub", "--force-rm"],
        ["sub", "--quiet", "--iidfile=x", "--cache-dir", "/d", "-t", "a", "-t", "b"],
    ],
)
def test_the_options_read_are_those_click_reads(tmp_path, monkeypatch, args):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    read = replay.early_options(["build", *args])
    assert read is not None
    params = build_command.make_context("build", list(args)).params
    assert read == {
        "context": params["context"],
        "containerfile": params["containerfile"],
        "cache_dir": params["cache_dir"],
        "iidfile": params["iidfile"],
        "progress": params["progress"],
        "quiet": params["quiet"],
        "as_json": params["as_json"],
        "verbose": params["verbose"],
        "no_color": params["no_color"],
    }


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["parse", "Containerfile"],
        ["--version"],
        ["build", "--help"],
        ["build", "-h"],
        ["build", "-qt", "app", "."],
        ["build", "-tapp", "."],
        ["build", "--", "."],
        ["build", "-"],
        ["build", "-f", "-", "."],
        ["build", "a", "b"],
        ["build", "--what", "."],
        ["build", "--no-cache=1", "."],
        ["build", "-t"],
        ["build", "-t", "--no-cache", "."],
    ],
)
def test_a_command_line_it_is_not_sure_of_is_left_to_click(args):
    assert replay.early_options(args) is None


def test_a_record_is_tried_once_per_process(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(replay, "TRIED_EARLY", set())
    tried = []
    monkeypatch.setattr(replay, "attempt", lambda *a, **k: tried.append(a) and None)
    monkeypatch.setattr("shlax_front.backend.userns.needs_user_namespace", lambda: False)
    args = ["build", "--cache-dir", str(tmp_path), "-q", "."]
    assert not replay.finish_early(args)
    shown = {"progress": None, "quiet": True, "as_json": False, "verbose": False, "no_color": False}
    assert not replay.finish(args, str(tmp_path), None, **shown)  # the command line does not try again
    assert len(tried) == 1
    assert not replay.finish(["build", "."], None, None, **shown)  # another command line is tried
    assert len(tried) == 2


def test_no_early_try_for_stdin_or_a_build_that_enters_the_user_namespace(monkeypatch):
    monkeypatch.setattr(replay, "attempt", lambda *a, **k: pytest.fail("tried"))
    monkeypatch.setattr("shlax_front.backend.userns.needs_user_namespace", lambda: False)
    assert not replay.finish_early(["build", "-f", "-", "."])
    monkeypatch.setattr("shlax_front.backend.userns.needs_user_namespace", lambda: True)
    assert not replay.finish_early(["build", "."])


def test_the_console_script_tries_the_record_first_and_falls_back_to_the_command_line():
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["shlax-front"] == "shlax_front.__main__:main"
    # what the installed script runs; anything but a build goes to the command line
    script = (
        "import sys; from shlax_front.__main__ import main; sys.argv[0] = 'shlax-front'; sys.exit(main())"
    )
    for args, shown in ((["--version"], "version"), (["build", "--help"], "--cache-dir")):
        done = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=root, check=True
        )
        assert shown in done.stdout, done.stderr
