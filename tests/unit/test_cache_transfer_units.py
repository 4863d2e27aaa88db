"""The cache directory format and option values of --cache-to/--cache-from, without buildah."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest

from shlax_front.backend.cachetransfer.localcache import LocalCache, file_digest
from shlax_front.backend.cachetransfer.packages import carried_files, export_files, import_files, local_path
from shlax_front.backend.cachetransfer.refs import CacheRef, parse_cache_ref
from shlax_front.backend.cachetransfer.registryauth import RegistryAuth
from shlax_front.errors import ShlaxError


def test_cache_refs_read_as_buildkit_spells_them():
    assert parse_cache_ref("type=local,dest=/c", "--cache-to") == CacheRef("local", "/c")
    assert parse_cache_ref("type=local,src=/c", "--cache-from") == CacheRef("local", "/c")
    assert parse_cache_ref("type=registry,ref=h:5000/app,mode=max", "--cache-to") == CacheRef(
        "registry", "h:5000/app"
    )
    assert parse_cache_ref("h:5000/app", "--cache-from") == CacheRef("registry", "h:5000/app")
    for bad in ("type=gha", "type=local", "type=registry,ref=h/app:tag", "type=local,,dest=x"):
        with pytest.raises(ShlaxError, match="^--cache-to "):
            parse_cache_ref(bad, "--cache-to")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SUDO_UID", raising=False)
    return tmp_path / "home"


def _fill(root):
    archives = root / "caches" / "apt-cache" / "debian-12-amd64" / "archives"
    (archives / "partial").mkdir(parents=True)
    (archives / "hello_1_amd64.deb").write_bytes(b"deb" * 100)
    (archives / "lock").write_text("")
    (archives / "partial" / "half.deb").write_bytes(b"half")
    (root / "caches" / "apt-cache" / "debian-12-amd64" / "pkgcache.bin").write_bytes(b"bin")
    (root / "caches" / "pip-wheelhouse").mkdir(parents=True)
    (root / "caches" / "pip-wheelhouse" / "a-1.whl").write_bytes(b"wheel")
    (root / "caches" / "pip-wheelhouse" / "b.whl.corrupt").write_bytes(b"bad")
    (root / "locks").mkdir()
    (root / "locks" / "apt.lock").write_text("")


def test_only_package_files_travel_and_a_second_export_copies_nothing(tmp_path, home):
    root = tmp_path / "root"
    _fill(root)
    (home / ".npm" / "_cacache").mkdir(parents=True)
    (home / ".npm" / "_cacache" / "x").write_bytes(b"npm")
    names = sorted(name for name, _ in carried_files(root))
    assert names == [
        "caches/apt-cache/debian-12-amd64/archives/hello_1_amd64.deb",
        "caches/pip-wheelhouse/a-1.whl",
        "npm/_cacache/x",
    ]
    cache = LocalCache(tmp_path / "out")
    files, moved = export_files(cache, root, {})
    assert moved.files == 3
    again, moved = export_files(cache, root, files)
    assert again == files and moved.files == 0 and moved.bytes == 0


def test_import_checks_each_blob_and_puts_files_back_with_their_mtime(tmp_path, home, caplog):
    root = tmp_path / "root"
    _fill(root)
    cache = LocalCache(tmp_path / "out")
    files, _ = export_files(cache, root, {})
    wheel = files["caches/pip-wheelhouse/a-1.whl"]
    cache.blob_path(wheel["digest"]).write_bytes(b"WHEEL")  # damaged: same size, other bytes
    fresh = tmp_path / "fresh"
    with caplog.at_level(logging.WARNING):
        moved = import_files(LocalCache(tmp_path / "out"), files, fresh)
    assert moved.files == 1 and "damaged cache blob" in caplog.text
    deb = fresh / "caches" / "apt-cache" / "debian-12-amd64" / "archives" / "hello_1_amd64.deb"
    assert deb.read_bytes() == b"deb" * 100
    assert (
        int(deb.stat().st_mtime)
        == files["caches/apt-cache/debian-12-amd64/archives/hello_1_amd64.deb"]["mtime"]
    )
    assert not (fresh / "caches" / "pip-wheelhouse" / "a-1.whl").exists()


def test_an_imported_name_never_lands_outside_the_caches(tmp_path, home):
    root = tmp_path / "root"
    for name in ("../x", "caches/../../x", "/etc/passwd", "locks/apt.lock", "caches", "layers/index.json"):
        assert local_path(name, root) is None, name
    assert local_path("npm/_cacache/x", root) == home / ".npm" / "_cacache" / "x"


def test_the_index_is_merged_by_concurrent_exporters_and_versions_are_checked(tmp_path, caplog):
    cache = LocalCache(tmp_path / "c")

    def add(i):
        cache.merge_index(lambda data: data["layers"].update({f"k{i}": {"manifest": f"sha256:{i:064x}"}}))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(cache.read_index()["layers"]) == [f"k{i}" for i in range(8)]
    assert not [n for n in os.listdir(tmp_path / "c" / "index") if n.endswith(".tmp")]
    (tmp_path / "c" / "index" / "v1.json").rename(tmp_path / "c" / "index" / "v2.json")
    with caplog.at_level(logging.WARNING):
        assert cache.read_index()["layers"] == {}
    assert "format version 2 is not known" in caplog.text


def test_a_blob_is_stored_under_its_digest_once(tmp_path):
    source = tmp_path / "f"
    source.write_bytes(b"content")
    cache = LocalCache(tmp_path / "c")
    digest, copied = cache.put_file(source)
    assert digest == file_digest(source) and copied == 7
    assert cache.put_file(source) == (digest, 0)
    assert [p.name for p in cache.blobs.iterdir()] == [digest.removeprefix("sha256:")]


def test_creds_go_to_a_private_auth_file_not_to_buildah_argv(tmp_path, monkeypatch):
    auth = RegistryAuth.create(None, "me:s3cret", ["127.0.0.1:5000"])
    try:
        flags = auth.flags()
        assert flags[0] == "--authfile" and "s3cret" not in " ".join(flags)
        assert os.stat(flags[1]).st_mode & 0o077 == 0
        assert "127.0.0.1:5000" in json.loads(open(flags[1]).read())["auths"]
    finally:
        auth.close()
    assert not os.path.exists(flags[1])
    monkeypatch.setenv("REGISTRY_PASSWORD", "pw")
    auth = RegistryAuth.create(None, "me", ["h"])
    auth.close()
    monkeypatch.delenv("REGISTRY_PASSWORD")
    with pytest.raises(ShlaxError, match="--creds"):
        RegistryAuth.create(None, "me", ["h"])


class _Runner:
    """Answers ``buildah pull`` as a registry that cannot be reached would; counts the calls."""

    def __init__(self, stderr: str) -> None:
        self.stderr = stderr
        self.calls: list[list[str]] = []

    def run(self, argv, check=True, **kw):
        from shlax_front.backend.runner import Result

        self.calls.append(list(argv))
        return Result(list(argv), 1, "", self.stderr)


def test_an_unreachable_registry_is_asked_once_a_missing_tag_is_a_plain_miss(tmp_path, caplog):
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.cachetransfer.transfer import CacheTransfer

    down = _Runner("Error: pinging container registry 127.0.0.1:9: connection refused")
    transfer = CacheTransfer(Buildah(down), tmp_path, (CacheRef("registry", "127.0.0.1:9/c"),))
    with caplog.at_level(logging.WARNING):
        assert transfer.layer("a" * 64) is None and transfer.layer("b" * 64) is None
        transfer.packages_ready()  # a step to build: the package import does not ask the registry either
    assert len(down.calls) == 1 and "not asked again" in caplog.text
    missing = _Runner(
        "Error: reading manifest layer-x in 127.0.0.1:5000/c: manifest unknown: manifest unknown"
    )
    transfer = CacheTransfer(Buildah(missing), tmp_path, (CacheRef("registry", "127.0.0.1:5000/c"),))
    assert transfer.layer("a" * 64) is None and transfer.layer("b" * 64) is None
    transfer.packages_ready()
    asked = sorted(call[-1].rsplit(":", 1)[-1] for call in missing.calls)
    assert asked == ["layer-" + "a" * 64, "layer-" + "b" * 64, "packages"]


def test_a_cache_directory_others_can_write_is_ignored(tmp_path, caplog):
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.cachetransfer.transfer import CacheTransfer

    shared = tmp_path / "shared"
    LocalCache(shared).merge_index(lambda d: d["layers"].update({"k": {"manifest": "sha256:" + "0" * 64}}))
    os.chmod(shared, 0o777)
    transfer = CacheTransfer(Buildah(_Runner("")), tmp_path, (CacheRef("local", str(shared)),))
    with caplog.at_level(logging.WARNING):
        assert transfer.layer("k") is None
    assert "writable by anyone" in caplog.text


def test_push_without_a_name_is_one_line(tmp_path):
    from types import SimpleNamespace

    from shlax_front.backend.api import BuildRequest
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.cachetransfer.transfer import attach

    executor = SimpleNamespace(options=SimpleNamespace(tags=()))
    with pytest.raises(ShlaxError, match="^--push: name the image with -t"):
        attach(BuildRequest(push=True), Buildah(_Runner("")), tmp_path, executor)


def test_the_tag_list_follows_a_token_challenge_and_pages(tmp_path, monkeypatch):
    """``registryapi.list_tags`` against a registry stand-in on plain HTTP (marked insecure in registries.conf)
    that wants a bearer token got with the auth file's login, and answers in two pages."""
    import base64
    import http.server
    import threading

    from shlax_front.backend.cachetransfer import registryapi
    from shlax_front.backend.cachetransfer.registryauth import RegistryAuth

    login = base64.b64encode(b"ci:pw").decode()
    seen: list[str] = []

    class Registry(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, code, body, headers=()):
            self.send_response(code)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def do_GET(self):
            seen.append(self.path)
            auth = self.headers.get("Authorization", "")
            if self.path.startswith("/token"):
                ok = auth == f"Basic {login}" and "scope=repository%3Ateam%2Fcache%3Apull" in self.path
                return self._json(200 if ok else 401, {"token": "t0k"} if ok else {})
            if auth != "Bearer t0k":
                realm = f"http://127.0.0.1:{port}/token"
                challenge = f'Bearer realm="{realm}",service="reg",scope="repository:team/cache:pull"'
                return self._json(401, {}, [("WWW-Authenticate", challenge)])
            if "last=" not in self.path:
                link = '</v2/team/cache/tags/list?n=1000&last=packages>; rel="next"'
                return self._json(200, {"tags": ["layer-a", "packages"]}, [("Link", link)])
            return self._json(200, {"tags": ["packages-0123456789abcdef"]})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conf = tmp_path / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "127.0.0.1:{port}"\ninsecure = true\n')
        monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
        authfile = tmp_path / "auth.json"
        authfile.write_text(json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": login}}}))
        tags = registryapi.list_tags(f"127.0.0.1:{port}/team/cache", RegistryAuth(str(authfile)))
        assert tags == ["layer-a", "packages", "packages-0123456789abcdef"]
        with pytest.raises(registryapi.TagListFailed, match="no token"):
            monkeypatch.setenv("HOME", str(tmp_path))
            monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
            monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
            registryapi.list_tags(f"127.0.0.1:{port}/team/cache", RegistryAuth())
    finally:
        server.shutdown()
    assert not registryapi.insecure("elsewhere.example:5000")


def test_incremental_records_travel_only_with_their_layers(tmp_path):
    from shlax_front.backend.cachetransfer import increments

    ours = tmp_path / "ours"
    (ours / "layers").mkdir(parents=True)
    records = {
        "t-apt": {"key": "k-apt", "packages": ["tini"], "lists": "ab"},
        "t-gone": {"key": "k-gone", "packages": ["less"]},
    }
    (ours / "layers" / "incremental.json").write_text(json.dumps(records))
    assert increments.carried_records(ours, {"k-apt", "k-other"}) == {"t-apt": records["t-apt"]}

    fresh = tmp_path / "fresh"
    (fresh / "layers").mkdir(parents=True)
    own = {"t-apt": {"key": "k-local", "packages": ["tini"]}, "t-future": {"key": "k", "shape": "unknown"}}
    (fresh / "layers" / "incremental.json").write_text(json.dumps(own))
    offered = {
        **records,
        "t-pip": {"key": "k-pip", "packages": ["six"]},
        "t-bad": {"key": 3, "packages": "six"},
    }
    adopted = increments.adopt_records(fresh, offered, lambda key: key != "k-gone")
    merged = json.loads((fresh / "layers" / "incremental.json").read_text())
    # the runner's own record wins, one of a shape not known here is kept, a layer nobody has is not adopted
    assert adopted == 1 and merged == {**own, "t-pip": offered["t-pip"]}
    assert increments.adopt_records(fresh, "not a dict", lambda key: True) == 0


def test_what_an_exporter_killed_outright_was_writing_goes_once_stale(tmp_path):
    """A ``kill -9`` during an export leaves its blob or index being written (``.put-*.tmp``, ``.v1.json.*.tmp``)
    beside the complete ones; the next export or import deletes them once a day old, never a fresh one (another
    exporter may be writing it) nor a blob."""
    cache = LocalCache(tmp_path / "c")
    cache.blobs.mkdir(parents=True)
    cache.index_path.parent.mkdir(parents=True)
    old = time.time() - 2 * 86400
    dead_blob, dead_index = cache.blobs / ".put-abc.tmp", cache.index_path.parent / ".v1.json.1.2-x.tmp"
    live, blob = cache.blobs / ".put-def.tmp", cache.blobs / ("a" * 64)
    for path in (dead_blob, dead_index, live, blob):
        path.write_bytes(b"x")
    for path in (dead_blob, dead_index, blob):
        os.utime(path, (old, old))
    with cache.workdir():
        pass
    assert not dead_blob.exists() and not dead_index.exists()
    assert live.exists() and blob.exists()
