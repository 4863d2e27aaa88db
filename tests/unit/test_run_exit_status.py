"""A failed ``RUN`` ends the build with the command's own exit status, as ``buildah bud`` ends (bud 1.28 and 1.39:
``RUN exit 3`` exits 3, a command not found 127); scripts and CI tell failures apart by it."""

from __future__ import annotations

import pytest
from fake_runner import FakeRunner, build_with

from shlax_front.backend.runner import Result
from shlax_front.errors import BuildError, RunFailed


class FailingRun(FakeRunner):
    """The fake buildah, whose ``run`` exits with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        if str(argv[1]) == "run":
            self.calls.append([str(a) for a in argv])
            return Result([str(a) for a in argv], self.status, "sh: nope: not found\n", "")
        return super().run(argv, check=check, on_output=on_output, cwd=cwd, input=input)


@pytest.mark.parametrize(("status", "exit_code"), [(3, 3), (127, 127), (1, 1), (255, 255), (-9, 1), (256, 1)])
def test_a_failed_run_carries_the_commands_exit_status(tmp_path, status, exit_code):
    with pytest.raises(RunFailed) as failed:
        build_with(FailingRun(status), tmp_path, "FROM busybox\nRUN nope\n")
    assert failed.value.exit_code == exit_code
    assert str(failed.value) == f"Containerfile:2: RUN nope: exited with status {status}"


def test_other_build_errors_keep_status_1():
    assert BuildError("COPY x /: no such file").exit_code == 1


def test_the_command_line_exits_with_the_runs_status(monkeypatch, capsys):
    from shlax_front import cli

    def failing(*args, **kwargs):
        raise RunFailed("RUN exit 3: exited with status 3", "Containerfile", 3, "", 3)

    monkeypatch.setattr(cli.cli, "main", failing)
    with pytest.raises(SystemExit) as ended:
        cli.main(["build", "."])
    assert ended.value.code == 3
    assert capsys.readouterr().err == "Containerfile:3: RUN exit 3: exited with status 3\n"
