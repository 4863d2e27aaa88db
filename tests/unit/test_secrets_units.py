"""``--secret`` flags, ``--checksum``/``--exclude`` checks and the image listing, with the fake runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from buildah_tools import (
    ROOT,
)

BUSYBOX = "docker.io/library/busybox:latest"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("id=x,src=/nonexistent/shlax-secret", "/nonexistent/shlax-secret: no such file"),
        ("src=somefile", "expected --secret id=ID"),
        ("id=x,colour=blue", "expected --secret id=ID"),
        ("id=x,type=socket", "expected --secret id=ID"),
    ],
)
def test_bad_secret_flag_is_one_line_exit_2(tmp_path, flag, message):
    (tmp_path / "Containerfile").write_text(f"FROM {BUSYBOX}\nRUN true\n")
    result = subprocess.run(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(tmp_path / "c"), "--secret", flag,
         str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_secret_flag_parsing(tmp_path, monkeypatch):
    from shlax_front.backend.secrets import parse_secret_flag, read_secret_mount
    from shlax_front.errors import ShlaxError

    (tmp_path / "tok").write_text("file value")
    monkeypatch.chdir(tmp_path)
    assert parse_secret_flag("id=tok").content() == b"file value"  # src defaults to the id, like bud
    assert parse_secret_flag("id=a,src=tok").path == str(tmp_path / "tok")
    assert parse_secret_flag("id=a,env=V", {"V": "from env"}).content() == b"from env"
    assert parse_secret_flag("id=a,type=env,src=V", {"V": "x"}).content() == b"x"
    assert parse_secret_flag("id=a,env=UNSET", {}).content() == b""  # bud: an unset variable is empty
    # docker's id=NAME alone: the variable NAME when no file NAME is there; bud's file when it is
    assert parse_secret_flag("id=API_TOKEN", {"API_TOKEN": "t0k"}).content() == b"t0k"
    assert parse_secret_flag("id=tok", {"tok": "env value"}).content() == b"file value"
    with pytest.raises(ShlaxError, match="API_TOKEN: no such file"):
        parse_secret_flag("id=API_TOKEN", {})
    with pytest.raises(ShlaxError, match="no such file"):
        parse_secret_flag("id=API_TOKEN,type=file", {"API_TOKEN": "t0k"})  # a file asked for: a file
    mount = read_secret_mount((("id", "a"),))
    assert (mount.target, mount.mode, mount.uid, mount.gid, mount.required) == (
        "/run/secrets/a",
        0o400,
        0,
        0,
        False,
    )
    mount = read_secret_mount((("target", "/etc/x/key"), ("required", ""), ("mode", "0440"), ("uid", "7")))
    assert (mount.id, mount.target, mount.required, mount.mode, mount.uid) == (
        "key",
        "/etc/x/key",
        True,
        0o440,
        7,
    )
    assert read_secret_mount((("src", "b"), ("required", "false"))).id == "b"
    assert read_secret_mount((("id", "a"), ("target", "rel/p"))).target == "/rel/p"  # from /, as bud 1.28
    with pytest.raises(ValueError):
        read_secret_mount((("id", "a"), ("required", "maybe")))


def test_exclude_patterns_are_anchored_at_each_source_directory(tmp_path):
    from shlax_front.backend.context import BuildContext
    from shlax_front.backend.copyopts import exclusion_lines

    _write(tmp_path, {"app/a.txt": "", "app/sub/b.txt": "", "lit[1]/c.txt": "", "top.txt": ""})
    assert exclusion_lines(str(tmp_path), "app/", ("*.txt", "!keep.txt")) == ["app/*.txt", "!app/keep.txt"]
    assert exclusion_lines(str(tmp_path), "/app/a.txt", ("*.txt",)) == ["app/*.txt"]  # a file: its directory
    assert exclusion_lines(str(tmp_path), "a*/sub", ("x",)) == ["a*/x"]  # a glob's directory stays a pattern
    # a source with glob characters is a glob (as for buildah): its patterns are relative to its directory
    assert exclusion_lines(str(tmp_path), "lit[1]", ("*.txt",)) == ["*.txt"]
    assert exclusion_lines(str(tmp_path), "top.txt", ("/cache/",)) == ["cache/"]
    context = BuildContext(str(tmp_path))
    rules = context.rules_for("app", ("*.txt",))
    assert rules.ignored("app/a.txt") and not rules.ignored("app/sub/b.txt") and not rules.ignored("top.txt")
    # the digest follows the exclusions: an excluded file's edit does not change it, a copied one's does
    before = context.digest(("app",), ("*.txt",))
    (tmp_path / "app" / "a.txt").write_text("edited")
    assert BuildContext(str(tmp_path)).digest(("app",), ("*.txt",)) == before
    (tmp_path / "app" / "sub" / "b.txt").write_text("edited")
    assert BuildContext(str(tmp_path)).digest(("app",), ("*.txt",)) != before


def test_checksum_flag_checks():
    from shlax_front.backend.copyopts import checksum_problem, copy_flags_problem

    url, sha = "https://example.invalid/f", "sha256:" + "a" * 64
    assert copy_flags_problem((url,), (), False, (), sha) is None
    assert copy_flags_problem((url,), (), False, (), "sha512:" + "b" * 128) is None
    assert "invalid --checksum" in copy_flags_problem((url,), (), False, (), "sha256:ABC")
    assert "invalid --checksum" in copy_flags_problem((url,), (), False, (), "sha1:" + "a" * 40)
    assert "URL" in copy_flags_problem(("local",), (), False, (), sha)
    assert "exactly one" in copy_flags_problem((url, url), (), False, (), sha)
    assert "--from" in copy_flags_problem(("a",), (), True, ("*.txt",), None)
    assert checksum_problem("/nonexistent/file", sha).startswith("cannot verify")


def test_image_listing_is_asked_again_when_a_concurrent_removal_breaks_it(monkeypatch):
    """``buildah images`` fails as a whole when another build removes an image meanwhile (seen here while the
    key tests above ran next to other builds): taken as "no images", every cached step looked removed."""
    from shlax_front.backend import buildah as buildah_module
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.runner import Result

    answers = [
        Result([], 125, "", 'Error: locating image with ID "ab12": image not known\n'),
        Result([], 125, "", 'Error: locating image with ID "cd34": image not known\n'),
        Result([], 0, "sha256:aaa\nbbb\n", ""),
    ]
    calls = []

    class Runner:
        def run(self, argv, **kw):
            calls.append(argv)
            return answers.pop(0)

    monkeypatch.setattr(buildah_module.time, "sleep", lambda s: None)
    assert Buildah(Runner()).image_ids() == {"aaa", "bbb"}
    assert len(calls) == 3 and all(c[1:3] == ["images", "--all"] for c in calls)


def test_a_layer_missing_from_the_listing_is_confirmed_before_it_counts_as_removed():
    from shlax_front.backend.executor import Executor

    class Index:
        def lookup(self, key):
            return {"k1": "aaa", "k2": "gone"}.get(key)

    class Store:
        def image_names(self):
            return {}  # a listing that lost the race with another build's removal

        def inspect_image(self, ref):
            return {"FromImageID": ref} if ref == "aaa" else None

    executor = Executor.__new__(Executor)
    executor.index, executor.buildah, executor._image_ids = Index(), Store(), None
    executor.reached = {}
    assert executor._lookup("k1") == "aaa"
    assert executor._lookup("k2") is None
    assert executor._lookup("unknown") is None
