"""``shlax-front build``'s progress on real buildah: a RUN's lines reach stderr while the step still runs,
the tty view under a pseudo-terminal has aligned columns (and no colour codes with ``NO_COLOR``), and a failed
step leaves its whole output in a log file."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyte
from buildah_tools import ROOT, forget_layers, shlax

BUSYBOX = "docker.io/library/busybox:latest"
#: the RUN prints, then waits for ``gate/open`` to appear in the context (the test creates it once it has read
#: the first line); it gives up after about a minute, saying so, so that a build that does not stream fails
#: the test instead of hanging it. Read-only: a plain bind on every buildah (1.39 lays an overlay over a writable
#: one, and an overlay need not show a file created in its lower directory after it was mounted)
GATED = f"""\
FROM {BUSYBOX}
RUN --mount=type=bind,source=gate,target=/gate,ro echo first-line; n=0; \\
    while [ ! -e /gate/open ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; \\
    if [ -e /gate/open ]; then echo gate-was-open; else echo gate-never-opened; fi
"""
SGR = re.compile(rb"\x1b\[[0-9;]*m")
#: a finished step's status word and its seconds in the tty view
STATUS = re.compile(r" (from|config|built|cached) +\d+\.\ds")


def _environment(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot"),
        **extra,
    }


def _context(tmp_path: Path, text: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(text)
    return ctx


def test_a_run_line_shows_before_the_step_ends(tmp_path, base_images, buildah_cleanup):
    ctx = _context(tmp_path, GATED)
    (ctx / "gate").mkdir()
    cache = tmp_path / "cache"
    build = subprocess.Popen(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), str(ctx)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        assert build.stderr is not None
        seen = []
        for line in build.stderr:  # plain progress: stderr is a pipe
            seen.append(line)
            if line.rstrip().endswith(" first-line"):
                break
        assert re.fullmatch(r"#2 \d+\.\d{3} first-line\n", seen[-1]), seen
        assert not any("gate" in line and "#2 " in line and "RUN" not in line for line in seen)
        (ctx / "gate" / "open").touch()  # only now may the step end
        rest, more = build.communicate(timeout=300)
        assert build.returncode == 0, more
        lines = more.splitlines()
        assert re.fullmatch(r"#2 \d+\.\d{3} gate-was-open", lines[0]), more
        assert lines[1].startswith("#2 built ") and lines[-1].startswith("0 steps reused, 1 built")
        image = rest.strip()

        (ctx / "gate" / "open").unlink()  # the context as the step's key saw it: reused
        events = shlax("build", "--progress=rawjson", str(ctx), cache_dir=cache)
        assert events.stdout.strip() == image
        kinds = [json.loads(line)["event"] for line in events.stderr.splitlines()]
        assert kinds == ["start", "end", "end", "summary"]  # FROM (it may pull), the cached RUN
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
        forget_layers(cache)


def _in_a_terminal(args: list[str], cache: Path, **env: str) -> tuple[bytes, str, pyte.Screen]:
    """Run ``shlax-front build ARGS`` with stderr on a 100x40 pseudo-terminal: what it wrote there, its
    stdout, and the screen a terminal would show in the end."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    build = subprocess.Popen(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_environment(TERM="xterm-256color", COLUMNS="100", LINES="40", **env),
    )
    os.close(slave)
    written = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the build closed its end
            break
        if not chunk:
            break
        written += chunk
    os.close(master)
    assert build.stdout is not None
    stdout = build.stdout.read().decode()
    assert build.wait() == 0, written.decode(errors="replace")
    screen = pyte.Screen(100, 40)
    pyte.ByteStream(screen).feed(written)
    return written, stdout, screen


def test_the_tty_view_lines_up_its_columns(tmp_path, base_images, buildah_cleanup):
    long = "x" * 150
    ctx = _context(
        tmp_path,
        f"FROM {BUSYBOX}\nENV A=1\nRUN echo hello from the run\nRUN echo {long} > /long\n",
    )
    cache = tmp_path / "cache"
    try:
        written, image, screen = _in_a_terminal([str(ctx)], cache, NO_COLOR="1")
        assert not SGR.findall(written), SGR.findall(written)[:5]  # no colour, no bold, no dim
        shown = [line.rstrip() for line in screen.display if line.strip()]
        steps = [line for line in shown if re.match(r"\s*#\d ", line)]
        assert [line.split()[0] for line in steps] == ["#1", "#2", "#3", "#4"], shown
        assert [re.search(STATUS, line).group(1) for line in steps] == [
            "from",
            "config",
            "built",
            "built",
        ]
        _assert_aligned(steps)
        assert "…" in steps[3] and long not in "".join(shown)  # cut to the width, not wrapped
        assert shown[-1].startswith("0 steps reused, 2 built")
        assert image.strip()

        written, again, screen = _in_a_terminal([str(ctx)], cache)  # colours on: the same columns
        assert SGR.findall(written) and again == image
        steps = [line.rstrip() for line in screen.display if re.match(r"\s*#\d ", line)]
        assert [re.search(STATUS, line).group(1) for line in steps] == [
            "from",
            "config",
            "cached",
            "cached",
        ]
        _assert_aligned(steps)
    finally:
        forget_layers(cache)


def _assert_aligned(steps: list[str]) -> None:
    """The status word starts in one column on every line, the seconds end in one column."""
    starts = {re.search(STATUS, line).start() for line in steps}
    ends = {re.search(r"\d+\.\ds", line).end() for line in steps}
    assert len(starts) == 1 and len(ends) == 1, steps


def test_a_failed_step_keeps_its_whole_output_in_a_log(tmp_path, base_images):
    ctx = _context(
        tmp_path,
        f"FROM {BUSYBOX}\nRUN i=1; while [ $i -le 100 ]; do echo output-line-$i; i=$((i+1)); done; exit 3\n",
    )
    cache = tmp_path / "cache"
    result = shlax("build", "--json", str(ctx), cache_dir=cache, check=False)
    assert result.returncode == 3, result.stderr  # the RUN's status, as bud exits
    report = json.loads(result.stdout)
    log = Path(report["error"]["log"])
    assert log.parent == cache / "logs" and report["error"]["location"].endswith("Containerfile:2")
    text = log.read_text()
    assert "output-line-40\n" in text and text.rstrip().splitlines()[-1].startswith("Error")  # all of it
    stderr = result.stderr.splitlines()
    assert "output-line-40" not in result.stderr and "output-line-99" in stderr  # the last lines only
    assert f"shlax-front: the failing step's whole output: {log}" in stderr
    assert stderr[-1].endswith("exited with status 3")
    forget_layers(cache)
