"""Hardening against real buildah: nothing a Containerfile says reaches the host outside the context and the
tool's cache root, and a layer is rebuilt when what it read outside the context (an image by name, a URL)
changed."""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from buildah_tools import ROOT, forget_layers, mounted_image, shlax

BUSYBOX = "docker.io/library/busybox:latest"


def _containerfile(context: Path, text: str) -> Path:
    context.mkdir(parents=True, exist_ok=True)
    path = context / "Containerfile"
    path.write_text(textwrap.dedent(text))
    return path


def _read(ref: str, path: str) -> str | None:
    with mounted_image(ref) as root:
        host = os.path.join(root, path.lstrip("/"))
        if not os.path.exists(host):
            return None
        with open(host) as f:
            return f.read()


def test_cache_mount_id_cannot_leave_the_cache_root(base_images, buildah_cleanup, tmp_path):
    """``id=../../..`` names a cache, not a host path: the RUN's writes land under the tool's cache root, the
    cache is still shared between builds under the same id, and the mount point is left as bud leaves it."""
    outside = tmp_path / "pwn"
    climb = "../" * 12 + str(outside).lstrip("/")
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(
        context,
        f"""\
        FROM {BUSYBOX}
        RUN --mount=type=cache,id={climb},target=/x,sharing=locked touch /x/marker
        """,
    )
    second = tmp_path / "ctx2"
    _containerfile(
        second,
        f"""\
        FROM {BUSYBOX}
        RUN --mount=type=cache,id={climb},target=/x,uid=7,gid=8,mode=0700 ls -ln /x > /seen
        """,
    )
    try:
        shlax("build", str(context), cache_dir=cache)
        assert not outside.exists(), "a cache id wrote outside the cache root"
        markers = list((cache / "mounts").rglob("marker"))
        assert len(markers) == 1, markers
        ours = buildah_cleanup.tag("shlax-hard")
        shlax("build", "-t", ours, str(second), cache_dir=cache)
        assert "marker" in (_read(ours, "/seen") or "")  # same id, same cache
        assert _read(ours, "/x") is None  # bud removes a mount point it made outside /var/
    finally:
        forget_layers(cache)
    assert not outside.exists()


def test_bind_source_symlink_leaving_the_context_is_refused(base_images, buildah_cleanup, tmp_path):
    """``source=`` naming a symlink to the host's /etc is refused like ``source=../../etc``, with one located
    line; a symlink that stays inside the context is mounted as before."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    (context / "sub").mkdir(parents=True)
    (context / "sub" / "f.txt").write_text("inside\n")
    os.symlink("/etc", context / "dlink")
    os.symlink("sub", context / "inlink")
    _containerfile(
        context,
        f"""\
        FROM {BUSYBOX}
        RUN --mount=type=bind,source=dlink,target=/m cat /m/hostname > /leak; true
        """,
    )
    try:
        result = shlax("build", str(context), cache_dir=cache, check=False)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        error = result.stderr.strip().splitlines()[-1]  # after the progress lines
        assert "Containerfile:2: dlink: outside the build context" in error, result.stderr

        _containerfile(
            context,
            f"""\
            FROM {BUSYBOX}
            RUN --mount=type=bind,source=inlink,target=/m cat /m/f.txt > /seen
            """,
        )
        ours = buildah_cleanup.tag("shlax-hard")
        shlax("build", "-t", ours, str(context), cache_dir=cache)
        assert _read(ours, "/seen") == "inside\n"
    finally:
        forget_layers(cache)


def _image_with(tag: str, tmp_path: Path, content: str, cleanup) -> None:
    """Commit a busybox image holding /v = ``content`` under ``tag`` (replacing whatever it named)."""
    ctr = cleanup.working_container(BUSYBOX)
    source = tmp_path / "v"
    source.write_text(content)
    subprocess.run(["buildah", "copy", ctr, str(source), "/v"], capture_output=True, check=True)
    image = subprocess.run(
        ["buildah", "commit", "--quiet", ctr], capture_output=True, text=True, check=True
    ).stdout.strip()
    cleanup.layers([image])
    subprocess.run(["buildah", "tag", image, tag], capture_output=True, check=True)


def test_bind_from_image_follows_a_retag(base_images, buildah_cleanup, tmp_path):
    """``RUN --mount=type=bind,from=NAME``: the layer is keyed by the image NAME points at, so re-tagging NAME
    to another image rebuilds it (bud mounts the new image)."""
    name = buildah_cleanup.tag("shlax-hard-src")
    _image_with(name, tmp_path, "one\n", buildah_cleanup)
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(
        context,
        f"""\
        FROM {BUSYBOX}
        RUN --mount=type=bind,from={name},target=/m cat /m/v > /seen
        """,
    )
    try:
        shlax("build", str(context), cache_dir=cache)
        _image_with(name, tmp_path, "two\n", buildah_cleanup)
        ours = buildah_cleanup.tag("shlax-hard")
        shlax("build", "-t", ours, str(context), cache_dir=cache)
        assert _read(ours, "/seen") == "two\n"
    finally:
        forget_layers(cache)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path):
    """An HTTP server for ``directory`` on 127.0.0.1 (Last-Modified, 304 on If-Modified-Since); its URL and
    the list of (method, path, status) it answered."""
    answered: list[tuple[str, str, int]] = []

    class Handler(_QuietHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=str(directory), **kw)

        def log_request(self, code="-", size="-"):
            answered.append((self.command, self.path, int(code)))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answered
    finally:
        server.shutdown()
        server.server_close()


def test_add_url_rebuilds_when_the_remote_file_changes(base_images, buildah_cleanup, tmp_path):
    """``ADD http://...``: an unchanged file keeps the layer (the server's 304 is believed: no download), a
    changed one rebuilds it with the new content, as bud downloads it again."""
    served = tmp_path / "www"
    served.mkdir()
    (served / "f.txt").write_text("one\n")
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    with _serve(served) as (url, answered):
        _containerfile(
            context,
            f"""\
            FROM {BUSYBOX}
            ADD {url}/f.txt /f.txt
            RUN cat /f.txt > /seen
            """,
        )
        try:
            shlax("build", str(context), cache_dir=cache, env=env)
            answered.clear()
            again = shlax("build", str(context), cache_dir=cache, env=env)
            assert " 0 built," in again.stderr, again.stderr
            assert [a for a in answered if a[2] == 200] == [], answered

            (served / "f.txt").write_text("two, longer\n")
            os.utime(served / "f.txt", (os.stat(served / "f.txt").st_mtime + 5,) * 2)
            ours = buildah_cleanup.tag("shlax-hard")
            shlax("build", "-t", ours, str(context), cache_dir=cache, env=env)
            assert _read(ours, "/seen") == "two, longer\n"
        finally:
            forget_layers(cache)


def test_build_arg_values_are_not_stored_in_the_layer_index(base_images, buildah_cleanup, tmp_path):
    """The index keeps a digest of each build arg's value: equal values still hit, a changed one misses and is
    named, and the value itself is nowhere under the cache directory, not even where an ENV expanded it (the
    image's config holds it: that is the Containerfile's choice, not the cache's)."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(
        context,
        f"""\
        FROM {BUSYBOX}
        ARG TOKEN
        RUN test -n "$TOKEN" && echo built > /done
        ENV SEEN=$TOKEN
        """,
    )
    try:
        shlax("build", "--build-arg", "TOKEN=s3cr3t-first", str(context), cache_dir=cache)
        same = shlax("build", "--build-arg", "TOKEN=s3cr3t-first", str(context), cache_dir=cache)
        assert " 0 built," in same.stderr, same.stderr
        other = shlax(
            "build", "--explain", "--build-arg", "TOKEN=s3cr3t-second", str(context), cache_dir=cache
        )
        assert "build args/env changed: TOKEN" in other.stderr, other.stderr
        for path in cache.rglob("*"):
            if path.is_file():
                assert b"s3cr3t" not in path.read_bytes(), path
    finally:
        forget_layers(cache)


def test_a_damaged_layer_index_is_set_aside_and_rebuilt(base_images, buildah_cleanup, tmp_path):
    """Valid JSON of the wrong shape in the index: one warning line, the build goes on and the index is whole
    again (the next build reuses the layer)."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(context, f"FROM {BUSYBOX}\nRUN echo hi > /hi\n")
    (cache / "layers").mkdir(parents=True)
    (cache / "layers" / "index.json").write_text('{"entries": [], "slots": null}')
    try:
        first = shlax("build", str(context), cache_dir=cache)
        warnings = [line for line in first.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "index.json.corrupt" in warnings[0], first.stderr
        again = shlax("build", str(context), cache_dir=cache)
        assert " 0 built," in again.stderr and "warning" not in again.stderr, again.stderr
    finally:
        forget_layers(cache)


def test_a_read_only_cache_directory_fails_in_one_line_before_building(base_images, tmp_path):
    """The cache directory is a read-only mount (EROFS): one line naming it, no traceback, nothing built: it is
    a bad ``--cache-dir``, refused (exit 2) before the first step."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    cache.mkdir()
    _containerfile(context, f"FROM {BUSYBOX}\nRUN echo hi > /hi\n")
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(cache)]
        + [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), str(context)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(cache) in lines[0] and "read-only" in lines[0], result.stderr


def test_a_build_waiting_for_a_lock_says_what_it_waits_for(base_images, buildah_cleanup, tmp_path):
    """Another build holds the layer index: this one says so in one line, waits, then builds."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(context, f"FROM {BUSYBOX}\nRUN echo hi > /hi\n")
    lock = cache / "layers" / "index.lock"
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        build = subprocess.Popen(
            [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), str(context)],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert build.stderr is not None
        first = build.stderr.readline()
        assert first.startswith("shlax-front: waiting for the layer index"), first
        assert build.poll() is None  # still waiting
        fcntl.flock(fd, fcntl.LOCK_UN)
        _, rest = build.communicate(timeout=300)
        assert build.returncode == 0, rest
    finally:
        os.close(fd)
        forget_layers(cache)


def test_add_url_changing_during_the_build_is_not_recorded_under_the_old_content(base_images, tmp_path):
    """The key reads the URL once, buildah downloads it again: a server giving other bytes the second time
    fails the step (no layer recorded under the first content's key) with one located line."""
    count = {"n": 0}

    class Changing(_QuietHandler):
        def do_GET(self):
            count["n"] += 1
            body = f"answer {count['n']}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Changing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    url = f"http://127.0.0.1:{server.server_address[1]}/f.txt"
    _containerfile(context, f"FROM {BUSYBOX}\nADD {url} /f.txt\n")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    try:
        result = shlax("build", str(context), cache_dir=cache, env=env, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"Containerfile:2: ADD {url} /f.txt: {url} changed during the build" in result.stderr
        assert count["n"] == 2
    finally:
        server.shutdown()
        server.server_close()
        forget_layers(cache)


PIP = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv
COPY requirements.txt /
RUN /venv/bin/pip install --no-cache-dir -r /requirements.txt
"""


def test_a_wheel_damaged_in_the_host_cache_is_fetched_again(base_images, tmp_path):
    """A same-size damaged wheel in the wheelhouse failed every later install; it is removed with a warning and
    downloaded again."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(context, PIP)
    (context / "requirements.txt").write_text("six==1.16.0\n")
    try:
        shlax("build", str(context), cache_dir=cache)
        wheel = cache / "caches" / "pip-wheelhouse" / "six-1.16.0-py2.py3-none-any.whl"
        data = bytearray(wheel.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)  # same size, other bytes
        wheel.write_bytes(bytes(data))
        (context / "requirements.txt").write_text("six==1.16.0\n# again\n")
        again = shlax("build", "--verbose", str(context), cache_dir=cache)
        assert "Successfully installed six-1.16.0" in again.stderr, again.stderr
        warnings = [line for line in again.stderr.splitlines() if line.startswith("shlax-front: warning")]
        assert (
            len(warnings) == 1 and "six-1.16.0-py2.py3-none-any.whl: damaged in the host cache" in warnings[0]
        )
    finally:
        forget_layers(cache)


def test_a_deb_damaged_in_the_host_cache_is_fetched_again(base_images, tmp_path):
    """apt takes a cached .deb of the right size as downloaded: a damaged one failed every later install in
    dpkg. It is removed with a warning and downloaded again."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    install = "RUN apt-get update && apt-get install -y --no-install-recommends hello"
    _containerfile(context, f"FROM debian:bookworm\n{install}\n")
    try:
        shlax("build", str(context), cache_dir=cache)
        (deb,) = (cache / "caches" / "apt-cache").glob("*/archives/hello_*.deb")
        data = bytearray(deb.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)  # same size, other bytes
        deb.write_bytes(bytes(data))
        _containerfile(context, f"FROM debian:bookworm\n{install} && hello\n")
        again = shlax("build", "--verbose", str(context), cache_dir=cache)
        assert "Hello, world!" in again.stderr, again.stderr
        warnings = [line for line in again.stderr.splitlines() if line.startswith("shlax-front: warning")]
        assert len(warnings) == 1 and f"{deb.name}: damaged in the host cache" in warnings[0], warnings
    finally:
        forget_layers(cache)


def _processes(argv: list[str]) -> list[int]:
    """Pids of the processes running exactly ``argv``."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read() == wanted:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _containers_of(pid: int) -> list[str]:
    listed = subprocess.run(["buildah", "containers", "--json"], capture_output=True, text=True, check=True)
    names = [c["containername"] for c in json.loads(listed.stdout or "[]") or []]
    return [n for n in names if n.startswith(f"shlax-front-{pid}.")]


def test_what_a_build_killed_outright_left_is_removed_by_the_next(base_images, tmp_path):
    """``kill -9`` of a build mid-RUN: its container, the command still running in it and its run directory
    stay. The next build removes them before making its own first container."""
    sleep = ["sleep", str(6000 + os.getpid() % 1000)]
    first, second = tmp_path / "first", tmp_path / "second"
    cache = tmp_path / "cache"
    _containerfile(first, f"FROM {BUSYBOX}\nRUN {' '.join(sleep)}\n")
    _containerfile(second, f"FROM {BUSYBOX}\nRUN echo fine > /fine\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    build = subprocess.Popen(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(cache), str(first)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        for _ in range(600):
            if _processes(sleep):
                break
            time.sleep(0.1)
        assert _processes(sleep), "the RUN never started"
        build.kill()
        build.wait()
        left = _containers_of(build.pid)
        runs = list(Path(tempfile.gettempdir()).glob(f"shlax-front-run-{build.pid}.*"))
        assert left and runs and _processes(sleep)  # what kill -9 leaves
        shlax("build", str(second), cache_dir=cache)
        assert _containers_of(build.pid) == []
        assert not any(path.exists() for path in runs)
        for _ in range(50):
            if not _processes(sleep):
                break
            time.sleep(0.1)
        assert _processes(sleep) == []
    finally:
        for pid in _processes(sleep):
            os.kill(pid, signal.SIGKILL)
        for name in _containers_of(build.pid):
            subprocess.run(["buildah", "rm", name], capture_output=True)
        forget_layers(cache)


def test_a_symlink_in_a_from_image_resolves_inside_that_image(base_images, buildah_cleanup, tmp_path):
    """``RUN --mount=type=bind,from=STAGE,source=LINK`` where LINK is ``/etc`` in the stage: the stage's /etc is
    mounted (BuildKit resolves inside the image), never the host's, which buildah's own join gave. A single file
    from the image is bound too (buildah 1.39 refuses ``from=IMAGE`` with a file source), read-only unless ``rw``."""
    context = tmp_path / "ctx"
    cache = tmp_path / "cache"
    _containerfile(
        context,
        f"""\
        FROM {BUSYBOX} AS a
        RUN ln -s /etc /dlink && echo from-a > /etc/marker-a && mkdir /real && ln -s ../real /rel
        FROM {BUSYBOX}
        RUN --mount=type=bind,from=a,source=dlink,target=/m ls /m > /listed
        RUN --mount=type=bind,from=a,source=/rel/../dlink/marker-a,target=/f cat /f > /read
        RUN --mount=type=bind,from=a,source=/etc/marker-a,target=/f,rw echo written > /f && cat /f > /wrote
        COPY --from=a /etc/marker-a /copied
        """,
    )
    try:
        ours = buildah_cleanup.tag("shlax-hard")
        shlax("build", "-t", ours, str(context), cache_dir=cache)
        listed = (_read(ours, "/listed") or "").split()
        assert "marker-a" in listed and "apt" not in listed, listed
        assert _read(ours, "/read") == "from-a\n"
        # a writable bind of one file sees its writes during the RUN; they never reach the stage
        assert _read(ours, "/wrote") == "written\n"
        assert _read(ours, "/copied") == "from-a\n"
    finally:
        forget_layers(cache)
