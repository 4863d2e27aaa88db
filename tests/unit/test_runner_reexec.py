"""A command that stopped at buildah's self re-execution (the kernel refused to seal the copy of its binary) is
started again; any other failure is not. Real subprocesses: a script that fails its first runs that way."""

from __future__ import annotations

import pytest

from shlax_front.backend.runner import REEXEC_RETRIES, CommandFailed, SubprocessRunner

FLAKY = """\
#!/bin/sh
count=$(cat "$0.count" 2>/dev/null || echo 0)
echo $((count + 1)) > "$0.count"
if [ "$count" -lt "$1" ]; then
    echo "Close_Fd sealing memfd copy: Device or resource busy" >&2
    exit 1
fi
echo "ran after $count"
"""


def _script(tmp_path, text=FLAKY):
    path = tmp_path / "fake-buildah"
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("streamed", [False, True])
def test_a_run_stopped_at_the_reexec_is_started_again(tmp_path, streamed):
    script = _script(tmp_path)
    lines: list[str] = []
    result = SubprocessRunner().run([str(script), "2"], on_output=lines.append if streamed else None)
    assert result.returncode == 0
    assert "ran after 2" in result.output
    assert (tmp_path / "fake-buildah.count").read_text().strip() == "3"


def test_it_is_started_again_only_so_many_times(tmp_path):
    script = _script(tmp_path)
    with pytest.raises(CommandFailed) as failed:
        SubprocessRunner().run([str(script), "99"])
    assert "sealing memfd copy" in failed.value.result.stderr
    assert (tmp_path / "fake-buildah.count").read_text().strip() == str(REEXEC_RETRIES + 1)


def test_any_other_failure_runs_once(tmp_path):
    script = _script(tmp_path, '#!/bin/sh\necho x >> "$0.count"\necho "Error: no such image" >&2\nexit 1\n')
    result = SubprocessRunner().run([str(script)], check=False)
    assert result.returncode == 1
    assert (tmp_path / "fake-buildah.count").read_text() == "x\n"
