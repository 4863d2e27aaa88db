"""Unit tests of the hardening rules (no buildah): context paths stay in the context, cache ids stay in the
cache root, damaged cache records are set aside, the front end never raises on odd input."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import http.server
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from shlax_front.backend import distcheck, stale, store
from shlax_front.backend.cachemounts import CacheMount, CacheMountError, CacheMounts, safe_name
from shlax_front.backend.context import BuildContext, ContextError, OutsideContext
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.remote import RemoteError, remote_digest
from shlax_front.backend.run_step import RunExecutor
from shlax_front.backend.steps import RunMount
from shlax_front.backend.store import HANDOVER_SUFFIX, CacheDirError, LayerIndex
from shlax_front.backend.wheelhouse import record_resolution, settled
from shlax_front.errors import RefusedError
from shlax_front.optimizer import optimize

ROOT = Path(__file__).resolve().parents[2]


def test_a_bind_source_symlink_leading_out_of_the_context_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_text("x")
    os.symlink("/etc", tmp_path / "dlink")
    os.symlink("sub", tmp_path / "inlink")
    os.symlink("../..", tmp_path / "sub" / "up")
    context = BuildContext(str(tmp_path))
    for source in ("dlink", "dlink/shadow", "sub/up", "/dlink"):
        with pytest.raises(ContextError, match="outside the build context"):
            context.mounted_digest((source,))
    assert context.mounted_digest(("inlink",)) == BuildContext(str(tmp_path)).mounted_digest(("inlink",))


def test_a_cache_id_is_a_name_never_a_path(tmp_path):
    for cache_id in ("../../../tmp/pwn", "/etc", "..", "", "a/b", "x" * 300):
        name = safe_name(cache_id)
        assert "/" not in name and name not in (".", "..") and not name.startswith(".") and len(name) < 80
    assert safe_name("a/b") != safe_name("a_b")
    mounts = CacheMounts(tmp_path)
    arg = mounts.prepare(RunMount("cache", (("id", "../../../pwn"), ("target", "/x"))))
    source = dict(p.split("=", 1) for p in arg.split(",") if "=" in p)["source"]
    assert os.path.dirname(source) == str(tmp_path / "mounts") and arg.endswith(",rw")
    assert not (tmp_path.parent / "pwn").exists()


def test_a_new_cache_gets_the_mounts_owner_and_mode_an_existing_one_is_kept(tmp_path):
    mounts = CacheMounts(tmp_path)
    first = RunMount("cache", (("target", "/x"), ("uid", "7"), ("gid", "8"), ("mode", "0700"), ("ro", "")))
    arg = mounts.prepare(first)
    assert arg.endswith(",ro") and ",rw" not in arg
    assert mounts.prepare(RunMount("cache", (("target", "/x"), ("rw", "")))).count("rw") == 1
    directory = mounts.directory(CacheMount.read(first))
    st = os.stat(directory)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (7, 8, 0o700)
    mounts.prepare(RunMount("cache", (("target", "/x"), ("uid", "9"))))  # same id (the target): kept
    assert os.stat(directory).st_uid == 7


def test_cache_mount_options_buildah_refuses_are_refused(tmp_path):
    for options in (
        (("target", "/x"), ("sharing", "bogus")),
        (("target", "/x"), ("mode", "rwx")),
        (("target", "/x"), ("uid", "root")),
        (("id", "x"),),
        (("target", "/x"), ("size", "10")),
    ):
        with pytest.raises(CacheMountError):
            CacheMount.read(RunMount("cache", options))


def test_locked_and_private_caches_are_held_for_the_run(tmp_path):
    mounts = CacheMounts(tmp_path)
    locked = RunMount("cache", (("target", "/x"), ("sharing", "locked")))
    private = RunMount("cache", (("target", "/y"), ("sharing", "private")))
    shared = RunMount("cache", (("target", "/z"),))
    with mounts.held([locked, private, shared, RunMount("cache", (("target", "/w"), ("from", "0")))]):
        held = sorted(p.name for p in (tmp_path / "locks").iterdir())
        for path in held:
            fd = os.open(tmp_path / "locks" / path, os.O_RDWR)
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.close(fd)
    assert held == sorted(f"mount-{safe_name(i)}.lock" for i in ("/x", "/y"))


KEYWORD_CONTINUED = {
    "alone before": "FROM debian:bookworm\n\\\nRUN apt-get update && apt-get install -y curl\n",
    "right after": "FROM debian:bookworm\nRUN\\\n apt-get update && apt-get install -y curl\n",
    "escape directive": "# escape=`\nFROM debian:bookworm\n  `\nRUN apt-get install -y curl\n",
}


@pytest.mark.parametrize("text", KEYWORD_CONTINUED.values(), ids=KEYWORD_CONTINUED.keys())
def test_a_continuation_joined_to_the_run_keyword_leaves_the_run_alone(text, tmp_path):
    """The RUN's text does not start with ``RUN `` (where the mount flags go): optimize keeps the file as it is
    and explain says why, through the real CLI (both raised a ValueError)."""
    result = optimize(text)
    assert result.text == text and not result.changed
    (reason,) = result.skipped.values()
    assert "line continuation" in reason
    path = tmp_path / "Containerfile"
    path.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for verb in ("optimize", "explain"):
        run = subprocess.run(
            [sys.executable, "-m", "shlax_front", verb, "-f", str(path)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert run.stdout.count("optimize leaves the RUN alone") == 1, run.stdout


DAMAGED_INDEXES = {
    "list": b"[]",
    "entries a list": b'{"entries": []}',
    "slots null": b'{"slots": null}',
    "entry not an object": b'{"entries": {"k": "image"}}',
    "superseded a list": b'{"superseded": []}',
    "not utf-8": b'{"entries": {"\xff\xfe": {}}}',
    "truncated": b'{"entries": {',
}


@pytest.mark.parametrize("raw", DAMAGED_INDEXES.values(), ids=DAMAGED_INDEXES.keys())
def test_a_damaged_layer_index_is_set_aside_with_a_warning_and_rebuilt(raw, tmp_path, caplog):
    path = tmp_path / "layers" / "index.json"
    path.parent.mkdir()
    path.write_bytes(raw)
    index = LayerIndex(tmp_path).load()
    assert index.entries == {} and index.slots == {} and index.superseded == {}
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "index.json.corrupt" in warning[0], warning
    caplog.clear()
    assert (tmp_path / "layers" / "index.json.corrupt").read_bytes() == raw
    index.record("key", "image", "RUN x", "slot", {"parent": "p"})
    assert LayerIndex(tmp_path).load().lookup("key") == "image"
    assert caplog.records == []


@pytest.mark.parametrize("raw", [b"[]", b'{"argv": ["pip"], "lines": null}', b'{"argv": ["pip"]}', b"\xff"])
def test_a_damaged_pip_record_is_set_aside(raw, tmp_path, caplog):
    (tmp_path / "damaged").write_bytes(raw)
    index_said = "Saved /w/a-1-py3-none-any.whl\nSaved /w/b-2-py3-none-any.whl\n"
    record_resolution(tmp_path, ["pip"], ["a==1", "b"], index_said)
    output = index_said + "Saved /w/c-3-py3-none-any.whl\n"
    assert settled(tmp_path, ["pip"], ["a==1", "b", "c==3"], output, ttl=-1)  # the good record still counts
    assert "damaged.corrupt" in caplog.text
    assert (tmp_path / "damaged.corrupt").read_bytes() == raw


def test_a_full_disk_while_writing_the_index_is_one_line(tmp_path, monkeypatch):
    def full(**kw):  # the temporary file lands on a device that is always full
        return os.open("/dev/full", os.O_WRONLY), str(tmp_path / "layers" / "never-made")

    monkeypatch.setattr(store.tempfile, "mkstemp", full)
    index = LayerIndex(tmp_path).load()
    with pytest.raises(CacheDirError, match="no space left"):
        index.record("key", "image", "RUN x", None, {})


def test_a_read_only_cache_directory_is_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(store.os, "open", read_only)
    with pytest.raises(CacheDirError, match="read-only .*--cache-dir"):
        LayerIndex(tmp_path).load()


def test_a_lock_held_by_another_build_is_named_before_the_wait(tmp_path):
    lock = tmp_path / "layers" / "index.lock"
    heard: list[str] = []
    with store.file_lock(lock):
        # flock conflicts between two open files even in one process: a thread stands for the other build
        waiter = threading.Thread(target=lambda: store.file_lock(lock, waiting=heard.append).__enter__())
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()
    waiter.join(5)
    assert heard == [
        f"shlax-front: waiting for the layer index {tmp_path / 'layers' / 'index.json'} (in use by another build)"
    ]


@pytest.fixture
def web(tmp_path):
    """A directory served on 127.0.0.1 (Last-Modified, 304 on If-Modified-Since): (dir, URL, statuses sent)."""
    served = tmp_path / "www"
    served.mkdir()
    statuses: list[int] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=str(served), **kw)

        def log_request(self, code="-", size="-"):
            statuses.append(int(code))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}", statuses
    server.shutdown()
    server.server_close()


def test_a_remote_file_is_keyed_by_its_content_asking_only_whether_it_changed(web, tmp_path, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    served, url, statuses = web
    (served / "f").write_text("one")
    cache = tmp_path / "cache"
    first = remote_digest(cache, f"{url}/f")
    assert first == "sha256:" + hashlib.sha256(b"one").hexdigest()
    assert remote_digest(cache, f"{url}/f") == first and statuses == [200, 304]
    (served / "f").write_text("two")
    os.utime(served / "f", (os.stat(served / "f").st_mtime + 5,) * 2)
    assert remote_digest(cache, f"{url}/f") == "sha256:" + hashlib.sha256(b"two").hexdigest()
    assert remote_digest(cache, f"{url}/f", offline=True) == "sha256:" + hashlib.sha256(b"two").hexdigest()
    with pytest.raises(RemoteError, match="HTTP 404"):
        remote_digest(cache, f"{url}/missing")
    with pytest.raises(RemoteError, match="never fetched"):
        remote_digest(cache, f"{url}/other", offline=True)


def test_the_bind_source_buildah_gets_is_resolved_inside_the_context(tmp_path):
    """What is mounted is checked as it is mounted too: a symlink swapped after the key was taken is refused."""
    (tmp_path / "sub").mkdir()
    os.symlink("sub", tmp_path / "inlink")
    os.symlink("/etc", tmp_path / "dlink")
    runs = RunExecutor(None, HostCaches(tmp_path / "cache"), str(tmp_path), None, None, None)  # type: ignore[arg-type]
    bind = runs._mount_arg(RunMount("bind", (("source", "inlink"), ("target", "/m"))), {})
    assert bind == f"type=bind,source={tmp_path / 'sub'},target=/m"
    with pytest.raises(OutsideContext):
        runs._mount_arg(RunMount("bind", (("source", "dlink"), ("target", "/m"))), {})


def test_cache_mount_directories_are_listed_and_pruned(tmp_path):
    """``cache ls`` / ``du`` / ``prune`` cover the Containerfiles' own cache mounts under the cache root."""
    cache = tmp_path / "cache"
    mounts = CacheMounts(cache)
    mounts.prepare(RunMount("cache", (("id", "go-build"), ("target", "/root/.cache/go-build"))))
    directory = mounts.directory(CacheMount.read(RunMount("cache", (("id", "go-build"), ("target", "/x")))))
    (directory / "obj").write_text("x" * 10)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cache_cli(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "shlax_front", "cache", *args, "--cache-dir", str(cache)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    listed = json.loads(cache_cli("ls", "--json"))
    assert [c["name"] for c in listed["caches"]] == [f"mounts/{directory.name}"]
    assert json.loads(cache_cli("du", "--json")) == [
        {"name": f"mounts/{directory.name}", "bytes": 10, "files": 1}
    ]
    cache_cli("prune")
    assert not directory.exists()


def test_a_cache_directory_others_can_write_is_refused(tmp_path):
    root = tmp_path / "cache"
    (root / "caches" / "pip-wheelhouse").mkdir(parents=True)
    LayerIndex(root).load()  # ours, 0755: used
    for path, change, why in (
        (root, lambda p: os.chmod(p, 0o777), "writable by anyone"),
        (root, lambda p: os.chown(p, 4242, -1), "owned by uid 4242"),
        (root, lambda p: (os.chown(p, -1, 4242), os.chmod(p, 0o775)), "writable by group 4242"),
        (root / "caches" / "pip-wheelhouse", lambda p: os.chmod(p, 0o1777), "writable by anyone"),
    ):
        before = os.stat(path)
        change(path)
        with pytest.raises(RefusedError, match=f"{path}: the cache directory is {why}"):
            LayerIndex(root).load()
        os.chown(path, before.st_uid, before.st_gid)
        os.chmod(path, before.st_mode & 0o7777)
    os.chmod(root, 0o775)  # group-writable for the user's own group (umask 002): used
    LayerIndex(root).load()


def test_a_cache_directory_handed_over_by_a_killed_build_is_still_ours(tmp_path):
    """A build killed while a RUN's non-root user held ``caches/pip-wheelhouse`` leaves it owned by that uid and
    its hand-over marker beside it: the next build uses the root (and gives the tree back when it mounts it).
    Without the marker, or with one someone else wrote, the uid is refused as before."""
    root = tmp_path / "cache"
    wheelhouse = root / "caches" / "pip-wheelhouse"
    wheelhouse.mkdir(parents=True)
    os.chmod(root, 0o755)
    os.chown(wheelhouse, 1234, 1234)
    with pytest.raises(RefusedError, match=f"{wheelhouse}: the cache directory is owned by uid 1234"):
        LayerIndex(root).load()
    marker = wheelhouse.with_name(wheelhouse.name + HANDOVER_SUFFIX)
    marker.write_text("handed over\n")
    LayerIndex(root).load()
    os.chown(marker, 1234, 1234)  # not written by a build of ours
    with pytest.raises(RefusedError, match="owned by uid 1234"):
        LayerIndex(root).load()
    os.chmod(wheelhouse, 0o777)  # a marker never excuses a mode anyone can write through
    os.chown(marker, 0, 0)
    with pytest.raises(RefusedError, match="writable by anyone"):
        LayerIndex(root).load()


def test_a_cache_mount_for_another_uid_leaves_the_cache_root_usable(tmp_path):
    """``RUN --mount=type=cache,uid=1000`` makes its directory owned by uid 1000, as buildah does; the next build
    with the same cache root refused the whole root ('owned by uid 1000'). ``mounts`` is now closed to other host
    users, so the directory is used; reachable again by others, it is refused as before."""
    root = tmp_path / "cache"
    LayerIndex(root).load()
    mounts = CacheMounts(root)
    npm = RunMount("cache", (("id", "npm"), ("target", "/home/node/.npm"), ("uid", "1000"), ("gid", "1000")))
    mounts.prepare(npm)
    directory = mounts.directory(CacheMount.read(npm))
    assert (os.stat(directory).st_uid, os.stat(root / "mounts").st_mode & 0o777) == (1000, 0o700)
    LayerIndex(root).load()
    os.chmod(root / "mounts", 0o755)
    with pytest.raises(RefusedError, match=f"{directory}: the cache directory is owned by uid 1000"):
        LayerIndex(root).load()


def test_build_refuses_a_world_writable_cache_directory_in_one_line(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o777)
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    run = subprocess.run(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        f"{cache}: the cache directory is writable by anyone (mode 0777): refusing to use it "
        "(make it yours and not writable by others, or give another --cache-dir)"
    ], run.stderr


def _wheel(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pkg/__init__.py", "x = 1\n" * 2000)
        archive.writestr("pkg-1.dist-info/RECORD", "pkg/__init__.py,,\n")


def test_a_damaged_wheel_is_dropped_and_a_sound_one_read_only_once(tmp_path, monkeypatch, caplog):
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    _wheel(wheelhouse / "good-1-py3-none-any.whl")
    for name, offset in (("crc-1-py3-none-any.whl", 40), ("zlib-1-py3-none-any.whl", 48)):
        _wheel(wheelhouse / name)
        data = bytearray((wheelhouse / name).read_bytes())
        data[offset : offset + 8] = b"\xff" * 8  # inside the compressed member: same size, other bytes
        (wheelhouse / name).write_bytes(bytes(data))
    assert distcheck.damage(wheelhouse / "good-1-py3-none-any.whl") is None
    assert "CRC" in (distcheck.damage(wheelhouse / "crc-1-py3-none-any.whl") or "")
    assert distcheck.damage(wheelhouse / "zlib-1-py3-none-any.whl")  # the decompressor's own error
    dropped = ["crc-1-py3-none-any.whl", "zlib-1-py3-none-any.whl"]
    assert distcheck.drop_damaged_packages("pip-wheelhouse", wheelhouse) == dropped
    assert [p.name for p in wheelhouse.iterdir()] == ["good-1-py3-none-any.whl"]
    assert caplog.text.count("damaged in the host cache") == 2
    read: list[Path] = []
    monkeypatch.setattr(distcheck, "damage", lambda path: read.append(path))
    assert (
        distcheck.drop_damaged_packages("pip-wheelhouse", wheelhouse) == [] and read == []
    )  # not read again


def _deb(path: Path) -> None:
    """A small .deb: ar of debian-binary, control.tar.gz and data.tar.xz."""

    def tar(mode: str, name: str, body: bytes) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode=mode) as archive:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        return out.getvalue()

    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", tar("w:gz", "./control", b"Package: x\n")),
        ("data.tar.xz", tar("w:xz", "./usr/share/x", os.urandom(4096))),
    ]
    with open(path, "wb") as f:
        f.write(b"!<arch>\n")
        for name, body in members:
            f.write(f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode())
            f.write(body + (b"\n" if len(body) % 2 else b""))


def test_a_damaged_deb_in_the_apt_cache_is_dropped(tmp_path, capsys):
    archives = tmp_path / "apt-cache" / "debian-12-amd64" / "archives"
    archives.mkdir(parents=True)
    _deb(archives / "good_1_amd64.deb")
    assert distcheck.damage(archives / "good_1_amd64.deb") is None
    _deb(archives / "bad_1_amd64.deb")
    data = bytearray((archives / "bad_1_amd64.deb").read_bytes())
    data[-2000:-1900] = bytes(100)  # inside data.tar.xz: same size, other bytes
    (archives / "bad_1_amd64.deb").write_bytes(bytes(data))
    (archives / "lock").write_text("")  # not a package: left alone
    assert distcheck.drop_damaged_packages("apt-cache", archives.parent) == ["bad_1_amd64.deb"]
    assert sorted(p.name for p in archives.iterdir()) == ["good_1_amd64.deb", "lock"]
    assert (tmp_path / "apt-cache" / "debian-12-amd64.state" / distcheck.CHECKED).is_file()
    assert distcheck.drop_damaged_packages("npm", tmp_path) == []


def test_only_what_dead_builds_made_is_swept(tmp_path, monkeypatch):
    mine = f"shlax-front-{stale.owner()}-0123456789ab"
    reused = f"shlax-front-{os.getpid()}.1-0123456789ab"  # this pid, another start time: a dead build
    dead = "shlax-front-999999999.5-0123456789ab"
    foreign = ["shlax-front-0123456789ab", "busybox-working-container", "shlax-frontx-1.2-ab"]
    assert not stale.dead_owner(mine) and stale.dead_owner(reused) and stale.dead_owner(dead)
    assert not any(stale.dead_owner(name) for name in foreign)

    class Store:
        removed: list[str] = []

        def container_names(self):
            return [mine, reused, dead, *foreign]

        def inspect_container(self, name):
            return {"MountPoint": str(tmp_path / "nowhere" / "merged")}

        def umount(self, name):
            pass

        def rm(self, name):
            self.removed.append(name)

    monkeypatch.setattr(stale.tempfile, "gettempdir", lambda: str(tmp_path))
    for name in (
        "shlax-front-run-999999999.5-abc_1",
        f"shlax-front-run-{stale.owner()}-abc_2",
        "shlax-front-x",
    ):
        (tmp_path / name).mkdir()
    store = Store()
    assert stale.sweep(store) == [reused, dead] == store.removed  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("shlax")) == [
        f"shlax-front-run-{stale.owner()}-abc_2",
        "shlax-front-x",
    ]
