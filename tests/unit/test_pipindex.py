"""The pull-through index a cold pip install reads PyPI through (``pipindex``): pages passed on with their file
links pointing back at it, files passed on unchanged and kept in the wheelhouse only whole and with the sha256
the page gave, the index's answer recorded from what the install took, and where it must not stand in."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shlax_front.backend import pipindex
from shlax_front.backend.hostcache import records_directory
from shlax_front.backend.wheelhouse import WHEELHOUSE_TARGET

WHEEL = b"PK-not-really-a-wheel" * 1000
NAME = "demo-1.0-py3-none-any.whl"


class Upstream:
    """A stand-in for PyPI over plain http: ``/simple/demo/`` (JSON, gzipped) and ``/up-files/...``; a
    ``short`` file announces more bytes than it sends, a ``bad`` one has another sha256 than its page says."""

    def __init__(self):
        owner = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                owner.requests.append(self.path)
                base = f"http://127.0.0.1:{owner.port}"
                if self.path == "/simple/demo/":
                    files = [
                        {"filename": n, "url": f"{base}/up-files/packages/ab/{n}", "hashes": {"sha256": sha}}
                        for n, sha in (
                            (NAME, hashlib.sha256(WHEEL).hexdigest()),
                            ("short-1.0-py3-none-any.whl", hashlib.sha256(WHEEL).hexdigest()),
                            ("bad-1.0-py3-none-any.whl", "0" * 64),
                        )
                    ]
                    body = gzip.compress(json.dumps({"files": files}).encode())
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path.startswith("/up-files/"):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(WHEEL) + (10 if "short" in self.path else 0)))
                    self.end_headers()
                    self.wfile.write(WHEEL)
                    if "short" in self.path:
                        self.close_connection = True
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path):
    upstream = Upstream()
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    base = f"http://127.0.0.1:{upstream.port}"
    index = pipindex.PullThroughIndex(wheelhouse, None, index=f"{base}/simple/", files=f"{base}/up-files/")
    yield index, wheelhouse, upstream
    index.close()
    upstream.close()


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_a_page_points_back_here_and_a_file_is_kept_whole(served):
    index, wheelhouse, upstream = served
    assert dict(index.env) == {"PIP_INDEX_URL": f"{index.url}/simple/", "PIP_FIND_LINKS": WHEELHOUSE_TARGET}
    status, page = _get(f"{index.url}/simple/demo/")
    files = json.loads(page)["files"]
    assert status == 200 and files[0]["url"] == f"{index.url}/files/packages/ab/{NAME}"
    assert f"127.0.0.1:{upstream.port}" not in page.decode()
    assert _get(files[0]["url"]) == (200, WHEEL)
    assert (wheelhouse / NAME).read_bytes() == WHEEL and index.saved == [NAME]
    assert index.received > len(WHEEL)  # the file and the page, as they crossed the network
    assert sorted(os.listdir(wheelhouse)) == [NAME]


def test_its_connections_send_each_reply_at_once(served):
    """TCP_NODELAY on the connections pip opens: a reply's body, written after its head, is not held back
    until pip's delayed ACK of the head (40 ms a reply on loopback, pip reads two a package)."""
    index, _, _ = served
    accepted = []
    get_request = index._server.get_request

    def recording():
        connection, address = get_request()
        accepted.append(connection)
        return connection, address

    index._server.get_request = recording
    client = http.client.HTTPConnection("127.0.0.1", int(index.url.rsplit(":", 1)[1]), timeout=10)
    try:  # kept alive, as pip keeps it: the index's end is open while it is looked at
        client.request("GET", "/simple/demo/")
        response = client.getresponse()
        assert response.status == 200 and response.read()
        assert len(accepted) == 1
        assert accepted[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.close()


def test_the_ca_bundle_read_beside_serves_every_connection_or_fails_each(tmp_path):
    """The CA bundle is read while pip starts (not before the RUN): the context PyPI's connections take is the
    bundle's; a bundle that does not parse fails each connection to PyPI with its error (pip sees the
    connection end), as it failed the index's start before."""
    good = pipindex.PullThroughIndex(tmp_path, None)
    bad_bundle = tmp_path / "bad.pem"
    bad_bundle.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    bad = pipindex.PullThroughIndex(tmp_path, str(bad_bundle))
    try:
        context = good._tls()
        assert context is good._tls() and context.verify_mode == ssl.CERT_REQUIRED
        with pytest.raises(ssl.SSLError):
            bad._connection("https", "pypi.org", None)
    finally:
        good.close()
        bad.close()


def test_a_file_is_not_kept_when_cut_short_or_not_the_one_the_page_named(served):
    index, wheelhouse, _ = served
    files = {f["filename"]: f["url"] for f in json.loads(_get(f"{index.url}/simple/demo/")[1])["files"]}
    assert _get(files["bad-1.0-py3-none-any.whl"]) == (200, WHEEL)  # passed on: pip checks it and says so
    with pytest.raises(Exception):  # noqa: B017 (the client sees the connection end early, however it says it)
        _get(files["short-1.0-py3-none-any.whl"])
    assert os.listdir(wheelhouse) == [] and index.saved == []


def test_a_file_no_page_named_is_passed_on_and_not_kept(served):
    index, wheelhouse, _ = served
    assert _get(f"{index.url}/files/packages/ab/{NAME}") == (200, WHEEL)
    assert os.listdir(wheelhouse) == []


def test_a_dead_builds_part_file_goes_a_live_ones_stays(tmp_path):
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    dead, live = (
        wheelhouse / f"{pipindex.PART_PREFIX}{pid}-7-{NAME}.part" for pid in (2**22 + 1, os.getpid())
    )
    for path in (dead, live):
        path.write_bytes(b"half")
    pipindex.PullThroughIndex(wheelhouse).close()
    assert not dead.exists() and live.exists()


def test_the_answer_is_recorded_from_what_the_install_took(tmp_path):
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    history = records_directory(wheelhouse)
    index = pipindex.PullThroughIndex(wheelhouse)
    index.close()
    index.saved = [NAME, "Other_Dist-2.0.tar.gz"]
    argv, lines = ["pip", "download"], ["demo==1.0", "other-dist"]
    assert not index.record(False, "Successfully installed demo-1.0 Other-Dist-2.0", history, argv, lines)
    assert not index.record(True, "Successfully installed demo-1.0", history, argv, lines)  # other-dist?
    assert not history.exists()
    assert index.record(True, "x\nSuccessfully installed demo-1.0 Other-Dist-2.0\n", history, argv, lines)
    (record,) = [json.loads(p.read_text()) for p in history.iterdir()]
    assert record["files"] == {"demo": NAME, "other-dist": "Other_Dist-2.0.tar.gz"}
    assert record["lines"] == sorted(lines) and record["argv"] == argv
    index.saved = [NAME, "demo-1.1-py3-none-any.whl"]  # two versions passed: the installed one is the answer
    assert index.record(True, "Successfully installed demo-1.1", history, argv, ["demo"])
    assert {"demo": "demo-1.1-py3-none-any.whl"} in [
        json.loads(p.read_text())["files"] for p in history.iterdir()
    ]
    index.saved = ["demo-1.1-py3-none-any.whl", "demo-1.1.tar.gz"]  # two files of that version: which one?
    assert not index.record(True, "Successfully installed demo-1.1", history, argv, ["demo", "x"])
    assert len(list(history.iterdir())) == 2


@pytest.fixture
def warm(tmp_path):
    """The index with the wheelhouse answering ``demo`` (it holds demo 1.0) and PyPI (the stand-in) the rest."""
    upstream = Upstream()
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / NAME).write_bytes(WHEEL)
    (wheelhouse / "demo-0.9.tar.gz").write_bytes(b"old")
    (wheelhouse / "demodemo-1.0-py3-none-any.whl").write_bytes(b"another project")
    (wheelhouse / f"{pipindex.PART_PREFIX}{os.getpid()}-1-demo-1.1-py3-none-any.whl.part").write_bytes(
        b"half"
    )
    base = f"http://127.0.0.1:{upstream.port}"
    index = pipindex.PullThroughIndex(
        wheelhouse, None, index=f"{base}/simple/", files=f"{base}/up-files/", answers={"demo": 1000.0}
    )
    yield index, wheelhouse, upstream
    index.close()
    upstream.close()


def test_a_project_the_wheelhouse_answers_is_served_from_it_without_pypi(warm):
    index, wheelhouse, upstream = warm
    status, page = _get(f"{index.url}/simple/Demo/")
    links = re.findall(r'href="([^"]+)"', page.decode())
    sha = hashlib.sha256(WHEEL).hexdigest()
    old = hashlib.sha256(b"old").hexdigest()
    where = f"file://{WHEELHOUSE_TARGET}"
    assert status == 200 and links == [
        f"{where}/demo-0.9.tar.gz#sha256={old}",
        f"{where}/{NAME}#sha256={sha}",
    ]
    assert upstream.requests == [] and index.received == 0  # nothing from the network
    assert index.answered == {"demo"} and index.asked == set() and index.saved == []


def test_a_file_the_wheelhouse_holds_whole_is_passed_on_from_it(served):
    index, wheelhouse, upstream = served
    (wheelhouse / NAME).write_bytes(WHEEL)
    (wheelhouse / "bad-1.0-py3-none-any.whl").write_bytes(WHEEL)  # not the sha256 the page gives
    files = {f["filename"]: f["url"] for f in json.loads(_get(f"{index.url}/simple/demo/")[1])["files"]}
    assert _get(files[NAME]) == (200, WHEEL) and index.passed == [NAME] and index.saved == []
    assert upstream.requests == ["/simple/demo/"]  # the page only: the file was not fetched again
    assert _get(files["bad-1.0-py3-none-any.whl"]) == (200, WHEEL)
    assert upstream.requests[-1].endswith("/bad-1.0-py3-none-any.whl")


def test_a_project_it_does_not_answer_is_read_from_pypi(warm):
    index, _, upstream = warm
    index.answers = {}
    status, page = _get(f"{index.url}/simple/demo/")
    assert status == 200 and upstream.requests == ["/simple/demo/"] and index.asked == {"demo"}
    assert json.loads(page)["files"][0]["url"].startswith(f"{index.url}/files/")


def test_a_warm_answer_is_recorded_as_old_as_the_answer_it_stood_on(warm, tmp_path):
    index, wheelhouse, _ = warm
    history = records_directory(wheelhouse)
    argv, lines = ["pip", "download"], ["demo", "new==2.0"]
    new = "new-2.0-py3-none-any.whl"
    (wheelhouse / new).write_bytes(b"new")
    output = f"Processing {WHEELHOUSE_TARGET}/{NAME}\nSuccessfully installed demo-1.0 new-2.0\n"
    assert not index.record(True, output, history, argv, lines)  # nothing read from PyPI: nothing new learnt
    index.asked, index.saved = (
        {"new"},
        [new],
    )  # the pin's page and file read from PyPI, demo from the wheelhouse
    assert index.record(True, output, history, argv, lines)
    (path,) = history.iterdir()
    assert json.loads(path.read_text())["files"] == {"demo": NAME, "new": new}
    assert path.stat().st_mtime == 1000.0  # demo's answer is as old as before: not made fresh by writing it
    index.answers = {"new": None}  # an exact pin needs no time: all the rest was read now
    index.asked = {"new", "demo"}
    assert index.record(True, output.replace("Processing", "Seen"), history, argv, lines) is False
    index.saved = [new, NAME]
    assert index.record(True, output, history, argv, lines)
    assert time.time() - path.stat().st_mtime < 60


def test_unresolved_is_a_resolution_that_installed_nothing():
    assert pipindex.unresolved("ERROR: No matching distribution found for six==1.16.0\n")
    assert pipindex.unresolved(
        "ERROR: Cannot install a and b because these package versions have conflicting"
    )
    assert not pipindex.unresolved(
        "Installing collected packages: six\nERROR: No matching distribution found"
    )
    assert not pipindex.unresolved("ERROR: Could not install packages due to an OSError")


def _rootfs(tmp_path, *files):
    root = tmp_path / "root"
    for name in files:
        (root / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / name.lstrip("/")).write_text("[global]\n")
    root.mkdir(exist_ok=True)
    return str(root)


PATH = ["PATH=/venv/bin:/usr/bin:/bin"]


def test_it_stands_in_for_pypi_only_where_nothing_else_is_asked_for(tmp_path):
    root = _rootfs(tmp_path)
    script = "pip install --no-cache-dir -r requirements.txt"
    assert pipindex.usable(root, [("PIP_CERT", "/x")], PATH, script, None)
    assert not pipindex.usable(root, [], PATH, script, "app")  # another user: its rights decide
    assert not pipindex.usable(root, [("PIP_INDEX_URL", "http://mirror/")], PATH, script, "root")
    assert not pipindex.usable(root, [], [*PATH, "PIP_EXTRA_INDEX_URL=http://x/"], script, "0")
    for other in (
        "pip install -i http://mirror/simple flask",
        "pip install --index-url=http://mirror/simple flask",
        "PIP_INDEX_URL=http://mirror/ pip install flask",
        "pip install flask && env > /env",
        "pip install flask; true",
        "pip install $PACKAGES",
    ):
        assert not pipindex.usable(root, [], PATH, other, None), other
    for config in ("/etc/pip.conf", "/venv/pip.conf", "/root/.config/pip/pip.conf", "/etc/xdg/pip/pip.conf"):
        assert not pipindex.usable(
            _rootfs(tmp_path / config.replace("/", "_"), config), [], PATH, script, None
        )
