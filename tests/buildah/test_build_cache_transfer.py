"""--cache-to / --cache-from on a "fresh runner": a new image store holding only the base image, an empty
--cache-dir and an empty HOME, as a CI runner starts. What the first runner exported must make the second one
rebuild as if warm: every step reused, the same image, and the package files already there."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.buildah_tools import forget_layers, shlax
from tests.conftest import BUSYBOX, DEBIAN

APT_APP = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*
RUN hello > /greeting
"""

MOUNT_APP = """\
FROM busybox
RUN --mount=type=cache,target=/var/cache/app sh -c 'echo kept > /var/cache/app/file; echo a > /a'
COPY app.txt /app/
"""


def _fresh_runner(root: Path, base: str) -> dict[str, str]:
    """The environment of a runner with its own image store (only ``base`` copied in, with its id) and HOME."""
    graph, run = root / "store" / "graph", root / "store" / "run"
    graph.mkdir(parents=True)
    run.mkdir(parents=True)
    conf = root / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{graph}"\nrunroot = "{run}"\n')
    subprocess.run(
        ["buildah", "push", "--quiet", base, f"containers-storage:[overlay@{graph}+{run}]{base}"],
        check=True,
        capture_output=True,
    )
    (root / "home").mkdir()
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf), "HOME": str(root / "home")}


@pytest.fixture(autouse=True)
def _forget_layers_left_in_the_store(tmp_path):
    """After each test, the layers its builds left in the machine's image store (every cache index under
    tmp_path names them) are removed, those of a build that failed at its export included."""
    yield
    for index in tmp_path.rglob("layers/index.json"):
        forget_layers(index.parent.parent)


def _drop_runner(env: dict[str, str], root: Path) -> None:
    subprocess.run(["buildah", "rm", "--all"], env=env, capture_output=True)
    subprocess.run(["buildah", "rmi", "--all", "--force"], env=env, capture_output=True)
    shutil.rmtree(root / "store", ignore_errors=True)


def _build(ctx: Path, cache: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    result = shlax("build", "--json", *args, str(ctx), cache_dir=cache, env=env or os.environ)
    return json.loads(result.stdout), result.stderr


def _statuses(report: dict) -> list[str]:
    return [s["status"] for s in report["steps"] if s["status"] not in ("from", "config")]


def test_a_fresh_runner_rebuilds_from_a_local_cache_directory(tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(APT_APP)
    exported = tmp_path / "ci-cache"
    tag = buildah_cleanup.tag()
    home = tmp_path / "home1"
    home.mkdir()
    first, err = _build(
        ctx,
        tmp_path / "cache1",
        "-t",
        tag,
        "--incremental",
        "--cache-to",
        f"type=local,dest={exported}",
        env={**os.environ, "HOME": str(home)},
    )
    assert _statuses(first) == ["built", "built"], err
    assert (exported / "index" / "v1.json").is_file() and "exported" in err
    # the second step's image is pushed by buildah; the first one's layers are among its layers, so its
    # manifest is written from the blobs that push made (the fresh runner below reuses it: it imports)
    assert "2 layers (1 pushed by buildah" in err, err
    index = json.loads((exported / "index" / "v1.json").read_text())
    assert any(name.endswith(".deb") and "/archives/hello_" in name for name in index["files"])
    assert any(name.endswith(".state/stamp") for name in index["files"])  # the lists' freshness record

    runner = tmp_path / "runner2"
    runner.mkdir()
    env = _fresh_runner(runner, DEBIAN)
    try:
        again, err = _build(
            ctx, runner / "cache", "--offline", "--cache-from", f"type=local,src={exported}", env=env
        )
        assert _statuses(again) == ["cached", "cached"], err
        assert again["image"] == first["image"]
        assert not list((runner / "cache" / "caches").rglob("hello_*.deb")), "no step built: none imported"
        # the package caches alone: rebuilt offline, apt finds its lists fresh and the .deb in the cache
        rebuilt, err = _build(
            ctx,
            runner / "cache",
            "--offline",
            "--no-cache",
            "--cache-from",
            f"type=local,src={exported}",
            env=env,
        )
        assert _statuses(rebuilt) == ["built", "built"], err
        assert list((runner / "cache" / "caches").rglob("hello_*.deb")), "the package files were imported"
        assert sum(s.get("fetched") or 0 for s in rebuilt["steps"]) == 0
        # a third runner adds a package: the incremental record came with the layer, so the install starts
        # from the first runner's layer and installs only the added package
        (ctx / "Containerfile").write_text(APT_APP.replace(" hello ", " hello tini "))
        third = tmp_path / "runner3"
        third.mkdir()
        env3 = _fresh_runner(third, DEBIAN)
        try:
            added = shlax(
                "build", "--incremental", "--explain", "--cache-from", f"type=local,src={exported}", str(ctx),
                cache_dir=third / "cache", env=env3,
            )  # fmt: skip
            assert "built incrementally: added tini to the layer with hello" in added.stderr, added.stderr
        finally:
            _drop_runner(env3, third)
    finally:
        _drop_runner(env, runner)


def test_a_damaged_or_unknown_cache_is_a_miss_not_a_wrong_layer(tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo one > /one\n")
    exported = tmp_path / "ci-cache"
    tag = buildah_cleanup.tag()
    first, _ = _build(ctx, tmp_path / "cache1", "-t", tag, "--cache-to", f"type=local,dest={exported}")
    for blob in (exported / "blobs" / "sha256").iterdir():
        if blob.stat().st_size > 1000:  # the layers (the manifest and config are small)
            blob.write_bytes(b"x" * blob.stat().st_size)
    runner = tmp_path / "runner2"
    runner.mkdir()
    env = _fresh_runner(runner, BUSYBOX)
    try:
        again, err = _build(ctx, runner / "cache", "--cache-from", f"type=local,src={exported}", env=env)
        assert _statuses(again) == ["built"] and "damaged cache blob" in err
        (exported / "index" / "v1.json").rename(exported / "index" / "v9.json")
        later, err = _build(ctx, runner / "cache2", "--cache-from", f"type=local,src={exported}", env=env)
        assert "format version 9 is not known" in err
    finally:
        _drop_runner(env, runner)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(config: Path, port: int):
    """``docker-registry serve CONFIG`` until the block ends; ready once the port accepts connections."""
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry on 127.0.0.1 over plain HTTP, and a registries.conf that marks it insecure."""
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'registry-data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    host = f"127.0.0.1:{port}"
    registries = tmp_path / "registries.conf"
    registries.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    with _serve(config, port):
        yield host, str(registries)


@pytest.fixture
def tls_registry(tmp_path):
    """The registry over TLS with a certificate from a CA made here (trusted through certs.d, as buildah
    users do) and htpasswd authentication: (host, user, password)."""
    port = _free_port()
    host = f"127.0.0.1:{port}"
    pki = tmp_path / "pki"
    pki.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl = ["openssl", "req", *ec, "-days", "1"]
    subprocess.run(
        [*openssl, "-x509", "-subj", "/CN=test CA", "-keyout", pki / "ca.key", "-out", pki / "ca.crt"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*openssl, "-subj", "/CN=127.0.0.1", "-keyout", pki / "server.key", "-out", pki / "server.csr"],
        check=True,
        capture_output=True,
    )
    (pki / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            pki / "server.csr",
            "-CA",
            pki / "ca.crt",
            "-CAkey",
            pki / "ca.key",
        ]
        + ["-CAcreateserial", "-days", "1", "-extfile", pki / "san.ext", "-out", pki / "server.crt"],
        check=True,
        capture_output=True,
    )
    password = secrets.token_hex(12)
    hashed = subprocess.run(["htpasswd", "-nbB", "ci", password], check=True, capture_output=True, text=True)
    (pki / "htpasswd").write_text(hashed.stdout.strip() + "\n")
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'registry-data'}\n"
        f"auth:\n  htpasswd:\n    realm: test\n    path: {pki / 'htpasswd'}\n"
        f"http:\n  addr: {host}\n  tls:\n    certificate: {pki / 'server.crt'}\n    key: {pki / 'server.key'}\n"
    )
    certs = Path("/etc/containers/certs.d") / host
    certs.mkdir(parents=True)
    shutil.copy(pki / "ca.crt", certs / "ca.crt")
    try:
        with _serve(config, port):
            yield host, "ci", password
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def test_a_fresh_runner_rebuilds_from_a_registry(tmp_path, base_images, buildah_cleanup, registry):
    host, registries = registry
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(MOUNT_APP)
    (ctx / "app.txt").write_text("hello\n")
    ref = f"type=registry,ref={host}/app-cache"
    tag = buildah_cleanup.tag()
    env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": registries}
    output = f"{host}/app:0"  # -o type=registry (buildx's spelling of --push) pushes the image as well
    first, err = _build(
        ctx, tmp_path / "cache1", "-t", tag, "--cache-to", ref, "-o", f"type=registry,name={output}", env=env
    )
    assert _statuses(first) == ["built", "built"], err
    runner = tmp_path / "runner2"
    runner.mkdir()
    fresh = {**_fresh_runner(runner, BUSYBOX), "CONTAINERS_REGISTRIES_CONF": registries}
    try:
        pushed = f"{host}/app:1"
        again, err = _build(ctx, runner / "cache", "--cache-from", ref, "-t", pushed, "--push", env=fresh)
        assert _statuses(again) == ["cached", "cached"], err
        assert again["image"] == first["image"]
        assert "package files imported" not in err  # every step reused: no package file is needed
        rebuilt, err = _build(ctx, runner / "cache", "--cache-from", ref, "--no-cache", env=fresh)
        assert _statuses(rebuilt) == ["built", "built"] and "package files imported" in err, err
        kept = list((runner / "cache" / "mounts").rglob("file"))
        assert kept and kept[0].read_text() == "kept\n"  # the cache mount's files came before the RUN ran
        for name in (pushed, output):
            listed = subprocess.run(
                ["buildah", "pull", "--quiet", f"docker://{name}"], env=fresh, capture_output=True, text=True
            )
            assert listed.returncode == 0, listed.stderr
            assert listed.stdout.strip().removeprefix("sha256:") == first["image"]
    finally:
        _drop_runner(fresh, runner)


def test_a_registry_with_tls_and_a_login(tmp_path, base_images, buildah_cleanup, tls_registry):
    """TLS through certs.d and htpasswd: the password reaches buildah only in a private auth file (given here
    through $REGISTRY_PASSWORD, so it is on no command line at all) and shows in no output."""
    host, user, password = tls_registry
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo secured > /s\n")
    ref = f"type=registry,ref={host}/secured-cache"
    env = {**os.environ, "REGISTRY_PASSWORD": password}
    denied = shlax("build", "--cache-to", ref, str(ctx), cache_dir=tmp_path / "c0", check=False)
    assert denied.returncode != 0 and password not in denied.stderr
    first, err = _build(
        ctx, tmp_path / "cache1", "-t", buildah_cleanup.tag(), "--creds", user, "--cache-to", ref, env=env
    )
    assert _statuses(first) == ["built"] and password not in err
    assert "tag list cannot be read" not in err  # asked over TLS with the login, as buildah does
    runner = tmp_path / "runner2"
    runner.mkdir()
    fresh = {**_fresh_runner(runner, BUSYBOX), "REGISTRY_PASSWORD": password}
    try:
        again, err = _build(ctx, runner / "cache", "--creds", user, "--cache-from", ref, env=fresh)
        assert _statuses(again) == ["cached"] and again["image"] == first["image"], err
        assert password not in err
    finally:
        _drop_runner(fresh, runner)


def test_two_runners_exporting_package_files_at_once_lose_nothing(tmp_path, monkeypatch, registry):
    """Two exports that both start from the same shared ``REPO:packages`` (held at a barrier until both read
    it), each with its own package file: the last push wins the shared tag, and an import still gets both."""
    import threading

    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.cachetransfer import registrypackages
    from shlax_front.backend.cachetransfer.localcache import LocalCache
    from shlax_front.backend.cachetransfer.registryauth import RegistryAuth
    from shlax_front.backend.runner import SubprocessRunner

    host, registries = registry
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", registries)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    repository = f"{host}/raced-cache"
    both_read = threading.Barrier(2, timeout=120)

    class HeldAfterReading(SubprocessRunner):
        def run(self, argv, **kwargs):
            result = super().run(argv, **kwargs)
            if argv[1] == "pull" and argv[-1].endswith(":packages"):
                both_read.wait()
            return result

    roots = {}
    for name in ("one", "two"):
        roots[name] = tmp_path / name
        (roots[name] / "caches" / "pip-wheels").mkdir(parents=True)
        (roots[name] / "caches" / "pip-wheels" / f"{name}.whl").write_text(f"wheel {name}\n")
    failures: list[BaseException] = []

    def export(name: str) -> None:
        try:
            registrypackages.export_packages(
                Buildah(HeldAfterReading()), RegistryAuth(), repository, roots[name]
            )
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            failures.append(err)

    threads = [threading.Thread(target=export, args=(name,)) for name in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    fresh = tmp_path / "fresh"
    moved = registrypackages.import_packages(Buildah(SubprocessRunner()), RegistryAuth(), repository, fresh)
    wheels = sorted(p.name for p in (fresh / "caches" / "pip-wheels").iterdir())
    assert wheels == ["one.whl", "two.whl"] and moved.files == 2
    # the next export (here of a runner with no files of its own) folds the lost one back into the shared tag
    third = tmp_path / "third"
    third.mkdir()
    registrypackages.export_packages(Buildah(SubprocessRunner()), RegistryAuth(), repository, third)
    with registrypackages._mounted(
        Buildah(SubprocessRunner()), RegistryAuth(), repository, create=False
    ) as head:
        assert head is not None
        shared = LocalCache(head[1]).read_index()["files"]
    assert {"caches/pip-wheels/one.whl", "caches/pip-wheels/two.whl"} <= set(shared)
