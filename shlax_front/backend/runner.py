"""Running external commands behind one small interface, so the executor can be tested with a fake.

The real runner remembers the child it is waiting for: on Ctrl-C the executor's cleanup must not race a
``buildah run`` that is still writing into the container it is about to remove, so ``terminate_children``
stops it first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Result:
    """What a finished command left behind."""

    argv: list[str]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CommandFailed(Exception):
    """A command exited non-zero; carries the result (for the output tail in the error message)."""

    def __init__(self, result: Result):
        self.result = result
        super().__init__(f"{' '.join(result.argv[:3])}... exited with status {result.returncode}")


@dataclass
class SubprocessRunner:
    """Runs commands with ``subprocess``; ``stream`` mirrors their output to our stderr as it arrives."""

    env: dict[str, str] | None = None
    _children: set[subprocess.Popen] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        stream: bool = False,
        cwd: str | None = None,
        input: str | None = None,
        tail_lines: int = 400,
    ) -> Result:
        argv = [str(a) for a in argv]
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stream else subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # our Ctrl-C goes to us; we stop the child ourselves, in order
        )
        with self._lock:
            self._children.add(proc)
        try:
            if stream:
                lines: list[str] = []
                assert proc.stdout is not None  # a pipe, as is stdin when there is input
                if input is not None:
                    assert proc.stdin is not None
                    proc.stdin.write(input)
                    proc.stdin.close()
                for line in proc.stdout:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                    lines.append(line)
                    if len(lines) > tail_lines * 4:
                        del lines[: len(lines) - tail_lines]
                proc.wait()
                result = Result(argv, proc.returncode, "".join(lines), "")
            else:
                out, err = proc.communicate(input)
                result = Result(argv, proc.returncode, out, err)
        finally:
            if proc.poll() is None:
                _stop(proc)
            with self._lock:
                self._children.discard(proc)
        if check and result.returncode != 0:
            raise CommandFailed(result)
        return result

    def terminate_children(self) -> None:
        """Stop every command still running (used on interrupt, before cleanup runs)."""
        with self._lock:
            children = list(self._children)
        for proc in children:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
