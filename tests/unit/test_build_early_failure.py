"""A flag refused before the build starts is told like a failed build: ``--json`` gets the error object on
stdout, ``--progress=rawjson`` an error event on stderr, exit 2 and no traceback (a real CLI process; nothing
reaches buildah)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _build(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    (tmp_path / "Containerfile").write_text("FROM busybox\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "shlax_front",
            "build",
            "--cache-dir",
            str(tmp_path / "cache"),
            *flags,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_json_gets_the_error_object_of_a_refused_flag(tmp_path):
    result = _build(tmp_path, "--json", "--lists-ttl", "soon")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["image"] is None and report["steps"] == []
    assert report["error"]["message"].startswith("--lists-ttl soon:") and report["error"]["exit_code"] == 2
    assert "Traceback" not in result.stderr


def test_rawjson_gets_an_error_event_and_nothing_else(tmp_path):
    result = _build(tmp_path, "--progress=rawjson", "--cache-from", "type=nowhere")
    assert result.returncode == 2
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events] == ["error"]
    assert "--cache-from" in events[0]["message"]
    assert result.stdout == ""
