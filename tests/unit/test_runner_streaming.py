"""The subprocess runner hands each output line to ``on_output`` as the command prints it, and still returns
the whole output (stdout and stderr merged in the order they were written)."""

from __future__ import annotations

import pytest

from shlax_front.backend.runner import CommandFailed, SubprocessRunner

#: prints a line, then waits (at most ~20 s) for a file that only the callback creates, then prints again
WAITS_FOR_THE_CALLBACK = (
    'echo first; echo to-stderr >&2; n=0; while [ ! -e "$0" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done;'
    ' [ -e "$0" ] && echo second'
)


def test_each_line_reaches_the_callback_before_the_command_ends(tmp_path):
    marker = tmp_path / "marker"
    seen: list[str] = []

    def on_output(line: str) -> None:
        seen.append(line)
        if line == "first\n":
            marker.touch()  # the command finishes only once the first line was handed over

    result = SubprocessRunner().run(["sh", "-c", WAITS_FOR_THE_CALLBACK, str(marker)], on_output=on_output)
    assert seen == ["first\n", "to-stderr\n", "second\n"]
    assert result.returncode == 0 and result.output == "first\nto-stderr\nsecond\n"


def test_a_streamed_command_that_fails_keeps_its_whole_output():
    script = "i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); done; exit 3"
    seen: list[str] = []
    with pytest.raises(CommandFailed) as err:
        SubprocessRunner().run(["sh", "-c", script], on_output=seen.append)
    assert len(seen) == 100 and err.value.result.returncode == 3
    assert err.value.result.output.splitlines()[40] == "line40"


def test_without_a_callback_stdout_and_stderr_stay_apart():
    result = SubprocessRunner().run(["sh", "-c", "echo out; echo err >&2"])
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
