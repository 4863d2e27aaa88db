"""The rewrite verbs as users run them: a real ``shlax-front`` subprocess on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "fixtures" / "optimize" / "apt" / "classic.txt"
SOURCE, EXPECTED = CASE.read_text().split("# output\n", 1)


def cli(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=stdin,
    )


@pytest.fixture
def containerfile(tmp_path: Path) -> Path:
    path = tmp_path / "Containerfile"
    path.write_text(SOURCE)
    return path


def test_optimize_stdout(containerfile: Path):
    r = cli("optimize", "-f", str(containerfile))
    assert r.returncode == 0, r.stderr
    assert r.stdout == EXPECTED


def test_optimize_output_file_and_check(containerfile: Path, tmp_path: Path):
    out = tmp_path / "Containerfile.opt"
    assert cli("optimize", "-f", str(containerfile), "-o", str(out)).returncode == 0
    assert out.read_text() == EXPECTED
    check = cli("optimize", "--check", "-f", str(containerfile))
    assert check.returncode == 1 and "would be optimised" in check.stderr
    assert cli("optimize", "--check", "-f", str(out)).returncode == 0


def test_optimize_diff_and_in_place(containerfile: Path):
    r = cli("optimize", "--diff", "-f", str(containerfile))
    assert r.returncode == 0
    assert "-    && rm -rf /var/lib/apt/lists/*" in r.stdout and "+RUN --mount=type=cache" in r.stdout
    r = cli("optimize", "-i", str(containerfile))
    assert r.returncode == 0, r.stderr
    assert containerfile.read_text() == EXPECTED


def test_in_place_keeps_the_files_mode_and_symlink(containerfile: Path, tmp_path: Path):
    containerfile.chmod(0o640)
    link = tmp_path / "Dockerfile"
    link.symlink_to(containerfile.name)
    r = cli("optimize", "-i", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and containerfile.read_text() == EXPECTED
    assert containerfile.stat().st_mode & 0o777 == 0o640


def test_optimize_stdin_and_default_file(containerfile: Path):
    assert cli("optimize", "-f", "-", stdin=SOURCE).stdout == EXPECTED
    assert cli("optimize", cwd=containerfile.parent).stdout == EXPECTED


def test_bad_input_is_one_located_line(tmp_path: Path):
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM debian\nCOPY onlyone\n")
    for verb in ("optimize", "explain", "migrate"):
        r = cli(verb, "-f", str(bad))
        assert r.returncode == 2, (verb, r.stderr)
        assert r.stderr.startswith(f"{bad}:2: "), (verb, r.stderr)
        assert "Traceback" not in r.stderr


def test_explain_text_and_json(containerfile: Path):
    r = cli("explain", "-f", str(containerfile))
    assert r.returncode == 0
    assert f"{containerfile}:2: RUN apt-get update" in r.stdout and "rewritten" in r.stdout
    data = json.loads(cli("explain", "--json", "-f", str(containerfile)).stdout)
    run = data["instructions"][1]
    assert run["status"] == "rewritten" and run["installs"][0]["packages"] == ["curl", "ca-certificates"]


def test_migrate_writes_importable_recipe(containerfile: Path, tmp_path: Path):
    out = tmp_path / "shlaxfile.py"
    r = cli("migrate", "-f", str(containerfile), "-o", str(out), "-t", "app")
    assert r.returncode == 0, r.stderr
    code = (
        f"from shlax_front.recipe import load; c = load({str(out)!r}); "
        "print(c.commit, c.stages[0].actions[0].packages)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert run.stdout.strip() == "app ('curl', 'ca-certificates')", run.stderr


def test_pre_commit_hooks_file_names_real_commands():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "entry: shlax-front optimize --check" in text
    assert "entry: shlax-front optimize --in-place" in text


@pytest.mark.parametrize("verb", ["optimize", "migrate"])
def test_unwritable_output_is_one_line_error_and_leaves_nothing(
    verb: str, containerfile: Path, tmp_path: Path
):
    out = tmp_path / "missing-dir" / "result"
    r = cli(verb, "-f", str(containerfile), "-o", str(out))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and str(out) in r.stderr
    assert not (tmp_path / "missing-dir").exists()
