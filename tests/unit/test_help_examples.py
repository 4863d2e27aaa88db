"""Every command's --help ends with examples (real CLI calls), and shell completion works as documented."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from buildah_tools import ROOT

COMMANDS = ["", "build", "optimize", "explain", "migrate", "parse", "emit", "cache", "cache ls", "cache du"]
COMMANDS += ["cache prune"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=True,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_examples(command):
    text = _cli(*command.split(), "--help").stdout
    assert "Example" in text
    examples = text[text.index("Example") :]
    assert f"shlax-front {command}".rstrip() in examples


def test_build_help_says_a_recipe_is_code_run_on_this_host():
    assert "Python that runs here" in _cli("build", "--help").stdout


def test_completion_as_documented():
    """The line the top-level help gives prints a bash completion function; asking it completes verbs."""
    script = _cli(_SHLAX_FRONT_COMPLETE="bash_source").stdout
    assert "_shlax_front_completion()" in script and "complete -o nosort" in script
    words = _cli(COMP_WORDS="shlax-front bu", COMP_CWORD="1", _SHLAX_FRONT_COMPLETE="bash_complete").stdout
    assert "plain,build" in words.split()
