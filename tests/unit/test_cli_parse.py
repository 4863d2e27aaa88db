"""``shlax-front parse`` and ``shlax-front emit`` run for real, as subprocesses (``python -m shlax_front``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "buildkit" / "parser" / "testfiles"


def run(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", *args],
        cwd=cwd or ROOT,
        input=stdin,
        capture_output=True,
        env=env,
    )


def test_parse_dump_matches_buildkit_result():
    case = CONFORMANCE / "env"
    result = run("parse", "-f", str(case / "Dockerfile"), "--dump")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (case / "result").read_text()


def test_parse_dump_is_parser_level_only():
    case = (
        CONFORMANCE / "flags"
    )  # COPY --user=me: BuildKit's parser accepts it, the instruction level does not
    assert (
        run("parse", "-f", str(case / "Dockerfile"), "--dump").stdout.decode()
        == (case / "result").read_text()
    )
    strict = run("parse", "-f", str(case / "Dockerfile"))
    assert strict.returncode == 2
    assert b"Dockerfile:3: unknown flag: --user for COPY" in strict.stderr


def test_parse_stdin_and_json(tmp_path):
    text = b"FROM alpine AS base\nRUN --mount=type=cache,target=/root/.cache pip install x\nFROM base\nCOPY --from=base a b\n"
    result = run("parse", "-f", "-", "--json", stdin=text)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["path"] == "<stdin>"
    items = data.get("instructions") or data.get("nodes") or data.get("stages")
    assert items, data
    flat = json.dumps(data)
    assert "pip install x" in flat and "/root/.cache" in flat


def test_parse_default_file_in_cwd(tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM busybox\nCMD ["sh"]\n')
    result = run("parse", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'(from "busybox")\n(cmd "sh")\n'
    (tmp_path / "Containerfile").write_text("FROM alpine\n")
    assert run("parse", cwd=tmp_path).stdout == b'(from "alpine")\n'


def test_parse_error_is_one_line_exit_2_no_traceback(tmp_path):
    path = tmp_path / "Containerfile"
    path.write_text("FROM alpine\n\nRUNN echo hi\n")
    result = run("parse", "-f", str(path))
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}:3: unknown instruction: RUNN")
    assert b"Traceback" not in result.stderr


def test_parse_unterminated_heredoc_from_stdin():
    result = run("parse", "-f", "-", stdin=b"FROM a\nRUN <<EOF\necho\n")
    assert result.returncode == 2
    assert result.stderr.decode().startswith("<stdin>:2: unterminated heredoc")


def test_parse_missing_file(tmp_path):
    # An error about the whole file names the file and no line (never a made-up line 0).
    result = run("parse", "-f", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.decode() == f"{tmp_path / 'nope'}: no such file or directory\n"
    result = run("emit", "-f", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.decode() == f"{tmp_path}: is a directory\n"


def test_parse_without_a_file_in_the_directory(tmp_path):
    result = run("parse", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode() == (
        "Containerfile: no Containerfile or Dockerfile in the current directory (use -f FILE)\n"
    )


def test_emit_is_byte_identical(tmp_path):
    data = b"\xef\xbb\xbf# escape=`\r\nFROM alpine\r\nRUN echo `\r\n  hi\r\nCOPY <<EOF /x\r\nbody \xff\r\nEOF\r\n# tail"
    src = tmp_path / "Containerfile"
    src.write_bytes(data)
    result = run("emit", "-f", str(src))
    assert result.returncode == 0, result.stderr
    assert result.stdout == data
    out = tmp_path / "out" / "Containerfile"
    out.parent.mkdir()
    assert run("emit", "-f", str(src), "-o", str(out)).returncode == 0
    assert out.read_bytes() == data
    assert run("emit", "-f", "-", stdin=data).stdout == data


def test_emit_rejects_invalid_input(tmp_path):
    src = tmp_path / "Containerfile"
    src.write_text("FROM a\nCOPY x\n")
    result = run("emit", "-f", str(src))
    assert result.returncode == 2
    assert result.stderr.decode().strip().startswith(f"{src}:2: COPY requires at least two arguments")


def test_parse_reports_stage_errors(tmp_path):
    path = tmp_path / "Containerfile"
    path.write_text("FROM alpine AS app\nRUN true\nFROM debian AS app\n")
    result = run("parse", "-f", str(path))
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"{path}:3: duplicate stage name")
    assert run("parse", "-f", str(path), "--dump").returncode == 0
