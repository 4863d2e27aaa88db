"""``shlax-front cache prune`` as a person and a script meet it, through the real CLI: on a terminal it says what
it will remove and asks (``n`` keeps everything), ``--force`` does not ask, ``--dry-run`` lists and removes
nothing, and every real prune ends with what it freed. No layers here, so no buildah build is needed."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from buildah_tools import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _fill(cache) -> None:
    for path, size in (("caches/npm/blob", 2000), ("caches/pip-wheelhouse/six-1.17.0-py3-none-any.whl", 500)):
        (cache / path).parent.mkdir(parents=True, exist_ok=True)
        (cache / path).write_bytes(b"x" * size)


def _prune(cache, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", "cache", "prune", "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        env=ENV,
        stdin=subprocess.DEVNULL,
    )


def _prune_on_a_terminal(cache, answer: bytes) -> tuple[int, str]:
    """Run prune with stdin/stdout/stderr on a pseudo-terminal, answer the question; (exit status, screen)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the terminal
        os.execve(
            sys.executable,
            [sys.executable, "-m", "shlax_front", "cache", "prune", "--cache-dir", str(cache)],
            ENV,
        )
    screen = b""
    while b"?" not in screen:
        screen += os.read(fd, 1024)
    os.write(fd, answer + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen.decode()


def test_dry_run_lists_and_removes_nothing(tmp_path):
    cache = tmp_path / "cache"
    _fill(cache)
    done = _prune(cache, "--dry-run")
    assert done.returncode == 0
    assert "2.0 kB  npm" in done.stdout and "500 B  pip-wheelhouse" in done.stdout
    assert done.stderr.startswith("would remove 2 package caches (2.5 kB)")
    assert (cache / "caches" / "npm" / "blob").exists()


def test_a_terminal_is_asked_first(tmp_path):
    cache = tmp_path / "cache"
    _fill(cache)
    status, screen = _prune_on_a_terminal(cache, b"n")
    assert status == 1 and "remove 2 package caches (2.5 kB)" in screen
    assert (cache / "caches" / "npm" / "blob").exists()
    status, screen = _prune_on_a_terminal(cache, b"y")
    assert status == 0 and "freed 2.5 kB of package caches" in screen
    assert not (cache / "caches" / "npm").exists()


def test_force_and_scripts_are_not_asked_and_hear_what_was_freed(tmp_path):
    cache = tmp_path / "cache"
    _fill(cache)
    done = _prune(cache, "--force")
    assert done.returncode == 0 and done.stdout == ""
    assert "removed 2 package caches, 0 cached layers and 0 no-op records" in done.stderr
    assert "freed 2.5 kB of package caches" in done.stderr
    assert not (cache / "caches" / "pip-wheelhouse").exists()
    assert "nothing to remove" in _prune(cache).stderr
