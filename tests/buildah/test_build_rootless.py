"""Rootless builds: ``shlax-front build`` run by an ordinary user, for real (runuser, the user's own image store).

``tests/images/make_rootless_user.sh`` makes the user (subuid/subgid ranges, a venv with the dependencies, the
base images pulled into their store); each session puts a fresh copy of the package where the user can read
it. The example app is built with the user's default cache root (``~/.cache/shlax-front``): unchanged it is
reused step by step, with one more apt/pip/npm package it takes what it can from the host caches. The user's
home must hold nothing the user cannot delete (buildah's own store aside, which is buildah's business).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER = "shlax-rootless"
#: a user made without subordinate ids, for the error a rootless build must give there
NO_SUBID_USER = "shlax-nosubid"
WORK = Path("/var/tmp/shlax-front-rootless")
APP_TAG = "localhost/shlax-rootless-app:latest"
PROXIES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


@pytest.fixture(scope="module")
def rootless(base_images) -> dict:
    """The rootless user, ready to build: {"user", "home", "src"}."""
    if os.geteuid() != 0:
        pytest.fail("the rootless tests make an ordinary user: run them as root (CI does)")
    subprocess.run(["sh", str(ROOT / "tests" / "images" / "make_rootless_user.sh"), USER], check=True)
    src = WORK / "src"
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "shlax_front", src / "shlax_front", ignore=ignore)
    shutil.copytree(ROOT / "templates", src / "templates", ignore=ignore)
    subprocess.run(["chmod", "-R", "a+rX", str(WORK)], check=True)
    home = subprocess.run(["getent", "passwd", USER], capture_output=True, text=True, check=True)
    return {"user": USER, "home": home.stdout.split(":")[5], "src": str(src)}


@pytest.fixture
def user_tmp(rootless):
    """A fresh directory the rootless user owns (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="test-", dir=WORK))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_user(
    user: str, home: str, cwd: str | Path, *argv: str, src: str = str(WORK / "src")
) -> subprocess.CompletedProcess:
    """Run ARGV as USER with a login-like clean environment (no SUDO_*, no root leftovers)."""
    env = [f"{k}={os.environ[k]}" for k in PROXIES if os.environ.get(k)]
    command = [
        "runuser",
        "-u",
        user,
        "--",
        "env",
        "-i",
        f"--chdir={cwd}",
        f"HOME={home}",
        f"PATH={WORK}/venv/bin:/usr/local/bin:/usr/bin:/bin",
        f"PYTHONPATH={src}",
        "PYTHONDONTWRITEBYTECODE=1",
        "BUILDAH_ISOLATION=chroot",
        "LANG=C.UTF-8",
        *env,
        *argv,
    ]
    return subprocess.run(command, capture_output=True, text=True)


def shlax_as_user(rootless: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return as_user(rootless["user"], rootless["home"], cwd, "python", "-m", "shlax_front", *args)


def app_copy(rootless: dict, tmp_path: Path, variant: str | None = None) -> Path:
    """The example app in a directory the user owns (optionally with a variant's files over it)."""
    app = tmp_path / "app"
    if not app.exists():
        shutil.copytree(ROOT / "fixtures" / "app", app, ignore=shutil.ignore_patterns("variants"))
    if variant:
        for file in (ROOT / "fixtures" / "app" / "variants" / variant).iterdir():
            shutil.copy(file, app / file.name)
    subprocess.run(["chown", "-R", rootless["user"], str(tmp_path)], check=True)
    return app


def build_json(rootless: dict, app: Path, *extra: str) -> dict:
    result = shlax_as_user(rootless, app, "build", "--json", "-t", APP_TAG, *extra, ".")
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def statuses(report: dict) -> list[str]:
    return [step["status"] for step in report["steps"] if step["status"] in ("built", "cached")]


def not_owned_by(user: str, home: str) -> list[str]:
    """Files in HOME the user does not own (buildah's image store left out)."""
    store = os.path.join(home, ".local", "share", "containers")
    found = subprocess.run(
        ["find", home, "-path", store, "-prune", "-o", "!", "-user", user, "-print"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.split()


def test_rootless_example_app_reused_then_one_more_package(rootless, user_tmp):
    tmp_path = user_tmp
    user, home = rootless["user"], rootless["home"]
    app = app_copy(rootless, tmp_path)
    try:
        first = build_json(rootless, app)
        assert statuses(first), first  # every step built or reused (reused when an earlier run left them)
        second = build_json(rootless, app)
        assert set(statuses(second)) == {"cached"}, second["steps"]
        assert second["image"] == first["image"]
        assert (Path(home) / ".cache" / "shlax-front" / "layers" / "index.json").is_file()

        app_copy(rootless, tmp_path, "added")
        added = build_json(rootless, app)
        apt = next(s for s in added["steps"] if "apt-get install" in s["instruction"])
        # the new apt line either ran, taking the packages it had before from the host caches, or an earlier
        # run of this same test left its layer
        assert apt["status"] == "cached" or (apt["from_host_cache_bytes"] or 0) > 0, added["steps"]
        check = as_user(
            user,
            home,
            home,
            "sh",
            "-c",
            'c=$(buildah from "$1") && buildah run "$c" -- sh -c'
            ' "test -x /usr/bin/psql && /venv/bin/python -c \\"import pygments\\" && test -d /app/node_modules/dayjs";'
            ' s=$?; buildah rm "$c" >/dev/null; exit $s',
            "sh",
            APP_TAG,
        )
        assert check.returncode == 0, check.stderr
        assert not_owned_by(user, home) == []
    finally:
        as_user(user, home, home, "buildah", "rmi", APP_TAG)


def test_rootless_offline_cuts_the_network(rootless, user_tmp):
    tmp_path = user_tmp
    user, home = rootless["user"], rootless["home"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    # a host reachable from here (the Debian mirror the base images come from); loopback must stay up: a
    # connection to a closed local port is refused (with loopback down the network would be unreachable)
    (ctx / "Containerfile").write_text(
        "FROM debian:bookworm\n"
        "RUN (timeout 10 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80' && echo NET || echo CUT) > /net"
        " && ((bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>&1 || true) | grep -q refused && echo LO || echo NOLO) > /lo\n"
        'CMD ["cat", "/net"]\n'  # after the last RUN: an empty history entry, no layer, as bud (emptylayers)
    )
    subprocess.run(["chown", "-R", user, str(tmp_path)], check=True)
    tags = {
        "online": "localhost/shlax-rootless-online:latest",
        "offline": "localhost/shlax-rootless-offline:latest",
    }
    try:
        for mode, tag in tags.items():
            flags = ["--offline"] if mode == "offline" else []
            result = shlax_as_user(rootless, ctx, "build", "--no-cache", *flags, "-t", tag, ".")
            assert result.returncode == 0, result.stderr[-3000:]
        seen = {}
        for mode, tag in tags.items():
            read = as_user(
                user,
                home,
                home,
                "sh",
                "-c",
                'c=$(buildah from "$1") && buildah run "$c" -- cat /net /lo; buildah rm "$c" >/dev/null',
                "sh",
                tag,
            )
            seen[mode] = read.stdout.split()
        assert seen == {"online": ["NET", "LO"], "offline": ["CUT", "LO"]}
        inspected = as_user(user, home, home, "buildah", "inspect", "--type", "image", tags["online"])
        oci = json.loads(inspected.stdout)["OCIv1"]
        base = json.loads(as_user(user, home, home, "buildah", "inspect", "debian:bookworm").stdout)["OCIv1"]
        assert len(oci["rootfs"]["diff_ids"]) == len(base["rootfs"]["diff_ids"]) + 1  # the RUN's layer only
        assert oci["history"][-1].get("empty_layer") is True and "CMD" in oci["history"][-1]["created_by"]
        assert oci["config"]["Cmd"] == ["cat", "/net"]
    finally:
        for tag in tags.values():
            as_user(user, home, home, "buildah", "rmi", tag)


def test_user_without_subordinate_ids_gets_one_line(rootless, user_tmp):
    tmp_path = user_tmp
    if subprocess.run(["id", NO_SUBID_USER], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--create-home", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", NO_SUBID_USER],
            check=True,
        )
    for path in ("/etc/subuid", "/etc/subgid"):
        assert not any(line.startswith(f"{NO_SUBID_USER}:") for line in Path(path).read_text().splitlines())
    home = subprocess.run(["getent", "passwd", NO_SUBID_USER], capture_output=True, text=True, check=True)
    home = home.stdout.split(":")[5]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN true\n")
    ctx.chmod(0o755)
    result = as_user(NO_SUBID_USER, home, ctx, "python", "-m", "shlax_front", "build", ".")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"user {NO_SUBID_USER} has no subordinate ids in /etc/subuid and /etc/subgid" in lines[0]
    assert f'add the line "{NO_SUBID_USER}:' in lines[0] and "usermod --add-subuids" in lines[0]
