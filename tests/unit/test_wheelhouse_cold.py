"""A cold install's full ``pip download`` runs in the RUN's own shell, right before the RUN's command
(``ColdFill``): the same download and record as ``fill`` makes, the command exec'd with the environment
``fill`` would have given it, and nothing else of the wrapper visible to it."""

from __future__ import annotations

import os
import subprocess

import pytest

from shlax_front.actions import Wheelhouse
from shlax_front.backend import faults, wheelhouse
from shlax_front.backend.hostcache import records_directory
from shlax_front.backend.wheelhouse import ColdFill, cold_fill

ONLINE = [
    "pip",
    "download",
    "--dest",
    wheelhouse.WHEELHOUSE_TARGET,
    "--find-links",
    wheelhouse.WHEELHOUSE_TARGET,
]


def _history(tmp_path, *files):
    directory = tmp_path / "pip-wheelhouse"
    directory.mkdir(parents=True)
    for name in files:
        (directory / name).write_bytes(b"")
    return records_directory(directory)


def _read(text):
    return lambda paths: text


def test_a_cold_single_install_read_from_the_root_is_filled_in_the_run(tmp_path):
    history = _history(tmp_path, "unrelated-1-py3-none-any.whl")
    install = ("/venv/bin/pip", Wheelhouse(requirements=("requirements.txt",)))
    cold = cold_fill([install], history, False, _read("flask==3.0.3\nrequests==2.32.3\n"))
    assert isinstance(cold, ColdFill)
    assert cold.online_argv == ["/venv/bin/pip", *ONLINE[1:], "-r", "requirements.txt"]  # what fill runs
    assert cold.lines == ["flask==3.0.3", "requests==2.32.3"]


@pytest.mark.parametrize(
    "installs, offline, read, files",
    [
        ([("pip", Wheelhouse(packages=("six==1",)))], True, _read(""), ()),  # --offline: fill's own path
        ([("pip", Wheelhouse(packages=("six==1",)))] * 2, False, _read(""), ()),  # two installs
        ([("pip", Wheelhouse(packages=("six==1",), find_links=("/src",)))], False, _read(""), ()),
        ([("pip", Wheelhouse(requirements=("r.txt",)))], False, _read(None), ()),  # only a cat run could tell
        ([("pip", Wheelhouse(requirements=("r.txt",)))], False, None, ()),
        (
            [("pip", Wheelhouse(packages=("six==1",)))],
            False,
            _read(""),
            ("six-0.9-py3-none-any.whl",),
        ),  # warm
        ([("pip", Wheelhouse(packages=("./lib",)))], False, _read(""), ()),  # may be served without the index
    ],
)
def test_anything_else_takes_the_existing_path(tmp_path, installs, offline, read, files):
    assert cold_fill(installs, _history(tmp_path, *files), offline, read) is None


@pytest.fixture
def host_wheelhouse(tmp_path, monkeypatch):
    """The wheelhouse at a host path, standing in for its mount point in the container, and a fake pip that
    saves a file there (or fails when ``FAIL`` is set) and prints which proxy it was given."""
    history = _history(tmp_path)
    target = str(history.parent / "pip-wheelhouse")
    monkeypatch.setattr(wheelhouse, "WHEELHOUSE_TARGET", target)
    pip = tmp_path / "pip"
    pip.write_text(
        "#!/bin/sh\n"
        'echo "proxy=$https_proxy"\n'
        'if [ -n "$FAIL" ]; then echo "ERROR: No matching distribution found for six==1"; exit 1; fi\n'
        'if [ -n "$BUILD" ]; then echo "  Preparing metadata (pyproject.toml): started"; fi\n'
        f": > {target}/six-1-py3-none-any.whl\n"
        f'echo "Saved {target}/six-1-py3-none-any.whl"\n'
    )
    pip.chmod(0o755)
    return history, str(pip)


def _run(cold, step, env):
    argv = cold.wrap(step, [("https_proxy", "http://127.0.0.1:1 'quoted'")])
    return subprocess.run(argv, capture_output=True, text=True, env=env)


def _step_env(output):
    return {line.split("=", 1)[0]: line.split("=", 1)[1] for line in output.splitlines() if "=" in line}


def test_the_download_runs_first_then_the_command_with_fills_environment(host_wheelhouse):
    history, pip = host_wheelhouse
    cold = ColdFill([pip, "download", "six==1"], history, ["six==1"], [pip, "download"])
    base = {"PATH": os.environ["PATH"], "KEEP": "1"}
    done = _run(cold, ["/bin/sh", "-c", "env; exit 7"], base)
    assert done.returncode == 7  # the command's own status
    plain = _step_env(
        subprocess.run(["/bin/sh", "-c", "env"], capture_output=True, text=True, env=base).stdout
    )
    seen = _step_env(done.stdout)
    # the command sees what it would see alone, and fill's two variables; the proxy was the download's only
    assert seen == {**plain, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheelhouse.WHEELHOUSE_TARGET}
    assert cold.output() == (
        f"proxy=http://127.0.0.1:1 'quoted'\nSaved {wheelhouse.WHEELHOUSE_TARGET}/six-1-py3-none-any.whl\n"
    )
    shown = []
    assert cold.finish(shown.append) == [
        ("PIP_FIND_LINKS", wheelhouse.WHEELHOUSE_TARGET),
        ("PIP_NO_INDEX", "1"),
    ]
    assert shown == [cold.output()]
    # the index's answer is recorded as fill records it, and the run's own files are gone
    (record,) = wheelhouse._fresh_records(history, cold.record_argv, 3600)
    assert record["lines"] == ["six==1"] and record["files"] == {"six": "six-1-py3-none-any.whl"}
    assert sorted(os.listdir(history.parent / "pip-wheelhouse")) == ["six-1-py3-none-any.whl"]


def test_a_failed_download_leaves_the_index_to_the_command(host_wheelhouse):
    history, pip = host_wheelhouse
    cold = ColdFill([pip, "download", "six==1"], history, ["six==1"], [pip, "download"])
    done = _run(cold, ["/bin/sh", "-c", "env"], {"PATH": os.environ["PATH"], "FAIL": "1"})
    assert done.returncode == 0
    assert "PIP_NO_INDEX" not in _step_env(done.stdout)  # the command resolves against the index itself
    assert cold.finish(lambda output: None) == [("PIP_FIND_LINKS", wheelhouse.WHEELHOUSE_TARGET)]
    assert not history.exists() or not list(history.iterdir())  # nothing recorded
    assert os.listdir(history.parent / "pip-wheelhouse") == []


def test_a_download_that_built_from_source_leaves_the_index_to_the_command(host_wheelhouse):
    """``pip install .`` of a project with a build backend (or an sdist): the download installed its build
    requirements from the index and kept none, so the command's own build needs the index (with
    ``PIP_NO_INDEX`` it failed: "No matching distribution found for flit_core")."""
    history, pip = host_wheelhouse
    cold = ColdFill([pip, "download", "six==1"], history, ["six==1"], [pip, "download"])
    done = _run(cold, ["/bin/sh", "-c", "env"], {"PATH": os.environ["PATH"], "BUILD": "1"})
    seen = _step_env(done.stdout)
    assert "PIP_NO_INDEX" not in seen and seen["PIP_FIND_LINKS"] == wheelhouse.WHEELHOUSE_TARGET
    assert not any(name.startswith("shlax_front") for name in seen)  # the wrapper's variables stay its own
    assert cold.finish(lambda output: None) == [("PIP_FIND_LINKS", wheelhouse.WHEELHOUSE_TARGET)]


@pytest.mark.parametrize("builds", [True, False])
def test_fill_leaves_the_index_to_an_install_that_builds_from_source(tmp_path, builds):
    """``fill``'s answer for the same: no ``PIP_NO_INDEX`` after a download that built something."""

    class Ran:
        returncode = 0
        stdout = output = "Processing /src\n" + (
            "  Installing build dependencies: started\n  Preparing metadata (pyproject.toml): started\n"
            if builds
            else ""
        )

    installs = [("pip", Wheelhouse(packages=("./src",)))]
    env = wheelhouse.fill(lambda argv, network: Ran(), installs, _history(tmp_path), False, 3600, print)
    assert (("PIP_NO_INDEX", "1") in env) is not builds
    assert ("PIP_FIND_LINKS", wheelhouse.WHEELHOUSE_TARGET) in env


def test_a_stale_success_mark_of_a_dead_build_does_not_count(host_wheelhouse):
    history, pip = host_wheelhouse
    cold = ColdFill([pip, "download", "six==1"], history, ["six==1"], [pip, "download"])
    cold.succeeded.write_text("")
    _run(cold, ["/bin/sh", "-c", "true"], {"PATH": os.environ["PATH"], "FAIL": "1"})
    assert cold.finish(lambda output: None) == [("PIP_FIND_LINKS", wheelhouse.WHEELHOUSE_TARGET)]


def test_interrupted_before_the_record_records_nothing(host_wheelhouse, monkeypatch):
    history, pip = host_wheelhouse
    cold = ColdFill([pip, "download", "six==1"], history, ["six==1"], [pip, "download"])
    _run(cold, ["/bin/sh", "-c", "true"], {"PATH": os.environ["PATH"]})
    monkeypatch.setenv(faults.ENV, "wheelhouse-filled")
    with pytest.raises(faults.InjectedFault):
        cold.finish(lambda output: None)
    assert not history.exists() or not list(history.iterdir())
    assert os.listdir(history.parent / "pip-wheelhouse") == ["six-1-py3-none-any.whl"]
