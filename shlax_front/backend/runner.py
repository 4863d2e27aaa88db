"""Running external commands behind one small interface, so the executor can be tested with a fake.

The real runner remembers the child it is waiting for: on Ctrl-C the executor's cleanup must not race a
``buildah run`` that is still writing into the container it is about to remove, so ``terminate_children``
stops it first.

buildah copies its own binary into a sealed memory file before it re-executes itself (its chroot runtime, its
copier, a rootless user namespace); the kernel can refuse the seal for a moment (``F_ADD_SEALS``: EBUSY while
something still holds the fresh pages) and buildah then stops before doing anything (``sealing memfd copy:
Device or resource busy``). Such a run is started again, at most ``REEXEC_RETRIES`` times: nothing ran.

A long RUN must not look stuck: given ``on_output``, the runner reads the command's output (stdout and stderr
merged, in the order the command wrote them, as ``buildah bud`` shows them) line by line as it arrives and
hands each line to the callback, and still returns the whole output (the byte accounting and the failure
message read it). The runner itself prints nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: how many times a command that failed at buildah's self re-execution is started again
REEXEC_RETRIES = 2
#: what buildah prints when the kernel refused to seal the copy of its binary (and it stopped there)
REEXEC_SEAL_FAILURE = "sealing memfd copy: Device or resource busy"


def failed_to_reexec(result: Result) -> bool:
    """Whether ``result`` is buildah stopping at its self re-execution, before doing anything (module
    docstring): safe to start again."""
    return result.returncode != 0 and REEXEC_SEAL_FAILURE in result.output


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


#: receives one line of a command's output (its newline included, when it had one) as soon as it is read
LineCallback = Callable[[str], None]


class CommandFailed(Exception):
    """A command exited non-zero; carries the result (for the output tail in the error message)."""

    def __init__(self, result: Result):
        self.result = result
        super().__init__(f"{' '.join(result.argv[:3])}... exited with status {result.returncode}")


@dataclass
class SubprocessRunner:
    """Runs commands with ``subprocess``; ``on_output`` receives their output line by line as it arrives."""

    env: dict[str, str] | None = None
    _children: set[subprocess.Popen] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        on_output: LineCallback | None = None,
        cwd: str | None = None,
        input: str | None = None,
    ) -> Result:
        """Run ``argv`` to its end. Without ``on_output``, stdout and stderr are kept apart (a verb's answer
        is its stdout); with it, they are merged and streamed, and the result's ``stdout`` holds them both.
        A run that stopped at buildah's self re-execution is started again (module docstring)."""
        argv = [str(a) for a in argv]
        for _ in range(REEXEC_RETRIES):
            result = self._run_once(argv, on_output, cwd, input)
            if not failed_to_reexec(result):
                break
            time.sleep(0.1)
        else:
            result = self._run_once(argv, on_output, cwd, input)
        if check and result.returncode != 0:
            raise CommandFailed(result)
        return result

    def _run_once(
        self, argv: list[str], on_output: LineCallback | None, cwd: str | None, input: str | None
    ) -> Result:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if on_output else subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # our Ctrl-C goes to us; we stop the child ourselves, in order
        )
        with self._lock:
            self._children.add(proc)
        try:
            if on_output is not None:
                result = Result(argv, 0, _stream(proc, input, on_output), "")
                result.returncode = proc.wait()
            else:
                out, err = proc.communicate(input)
                result = Result(argv, proc.returncode, out, err)
        finally:
            if proc.poll() is None:
                _stop(proc)
            with self._lock:
                self._children.discard(proc)
        return result

    def terminate_children(self) -> None:
        """Stop every command still running (used on interrupt, before cleanup runs)."""
        with self._lock:
            children = list(self._children)
        for proc in children:
            _stop(proc)


def _stream(proc: subprocess.Popen, input: str | None, on_output: LineCallback) -> str:
    """Read ``proc``'s merged output to its end, one line at a time: each line goes to ``on_output`` at once
    (a pipe's reader returns what is there, it does not wait for a full buffer); all of it is returned."""
    assert proc.stdout is not None  # a pipe, as is stdin when there is input
    if input is not None:
        assert proc.stdin is not None
        proc.stdin.write(input)
        proc.stdin.close()
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        on_output(line)
    return "".join(lines)


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
