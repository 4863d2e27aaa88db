"""What the wheelhouse answers for the pull-through index on a warm rebuild (``index_answers``): the rules
``fill`` applies - an exact pin with a file of its version, or a project whose file a fresh recorded answer of
the index took for requirements these ones extend - and where the index does not stand in at all."""

from __future__ import annotations

import os

import pytest

from shlax_front.actions import Wheelhouse
from shlax_front.backend import wheelhouse
from shlax_front.backend.hostcache import records_directory

ARGV = [
    "pip",
    "download",
    "--dest",
    wheelhouse.WHEELHOUSE_TARGET,
    "--find-links",
    wheelhouse.WHEELHOUSE_TARGET,
]
FILES = (
    "flask-3.0.3-py3-none-any.whl",
    "Werkzeug-3.0.3-py3-none-any.whl",
    "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "six-1.15.0-py2.py3-none-any.whl",
)


@pytest.fixture
def history(tmp_path):
    directory = tmp_path / "pip-wheelhouse"
    directory.mkdir()
    for name in FILES:
        (directory / name).write_bytes(b"")
    return records_directory(directory)


def _record(history, lines, files):
    output = "".join(f"Saved {wheelhouse.WHEELHOUSE_TARGET}/{f}\n" for f in files)
    wheelhouse.record_resolution(history, [*ARGV, "-r", "requirements.txt"], lines, output)
    (path,) = history.iterdir()
    return path


def _answers(history, text, ttl=3600.0, offline=False, install=None):
    install = install or ("pip", Wheelhouse(requirements=("requirements.txt",)))
    return wheelhouse.index_answers([install], history, offline, lambda paths: text, ttl)


def test_an_exact_pin_with_a_file_of_its_version_never_asks_the_index(history):
    answers = _answers(history, "flask==3.0.3\nsix==1.16.0\nrequests==2.32.3\n")
    assert answers is not None and answers.projects == {"flask": None}  # six: another version; requests: none
    assert answers.lines == ("flask==3.0.3", "six==1.16.0", "requests==2.32.3")
    assert list(answers.record_argv) == [*ARGV, "-r", "requirements.txt"]


def test_dependencies_are_answered_while_a_recorded_answer_for_requirements_these_extend_is_fresh(history):
    files = ("flask-3.0.3-py3-none-any.whl", "Werkzeug-3.0.3-py3-none-any.whl", FILES[2])
    path = _record(history, ["flask==3.0.3"], files)
    when = path.stat().st_mtime
    added = _answers(history, "flask==3.0.3\nsix\n")  # six unpinned, added: asked of PyPI
    assert added is not None and added.projects == {"flask": None, "werkzeug": when, "markupsafe": when}
    assert _answers(history, "flask\n").projects == {}  # a line changed: not an extension of that answer
    assert _answers(history, "flask==3.0.3\n", ttl=0).projects == {"flask": None}  # --lists-ttl 0
    os.utime(path, (when - 7200, when - 7200))
    assert _answers(history, "flask==3.0.3\n").projects == {"flask": None}  # older than --lists-ttl
    os.utime(path, (when, when))
    (history.parent / "pip-wheelhouse" / FILES[2]).unlink()
    assert "markupsafe" not in _answers(history, "flask==3.0.3\n").projects  # its file is gone


@pytest.mark.parametrize(
    "text, offline, install",
    [
        ("flask==3.0.3\n", True, None),  # --offline: fill's own path
        ("-e ./src\n", False, None),
        ("flask @ https://example.org/flask.whl\n", False, None),
        ("./flask-3.0.3-py3-none-any.whl\n", False, None),
        (None, False, None),  # only a run could read the file
        ("flask==3.0.3\n", False, ("pip", Wheelhouse(packages=("flask",), find_links=("/src",)))),
    ],
)
def test_the_index_does_not_stand_in_where_pip_reads_from_elsewhere(history, text, offline, install):
    assert _answers(history, text, offline=offline, install=install) is None


def test_pinned_versions():
    lines = [
        "six==1.16.0",
        "Flask[async] === 3.0.3 ; python_version > '3'",
        "idna>=3",
        "constraint: a==1",
        "a==2",
    ]
    assert wheelhouse.pinned_versions(lines) == {"six": "1.16.0", "flask": "3.0.3", "a": None}
    assert wheelhouse.file_version("charset_normalizer-3.3.2.tar.gz") == "3.3.2"
