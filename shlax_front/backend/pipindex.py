"""A cold pip install that runs pip once: the RUN's own ``pip install`` reads PyPI through a pull-through index
on loopback, which keeps every distribution file it passes on in the host wheelhouse.

A cold install (``wheelhouse.cold_for``: the wheelhouse holds nothing it names) used to run pip twice: the
wheelhouse's ``pip download`` with the index, then the RUN's install offline from it. The second pip's start and
its resolution were most of what the step cost over ``buildah bud``'s single pip (the benchmark's app2: 0.8 s of
wall, 0.7 s of CPU on two cores). Through this index the RUN's command is the only pip: what it downloads crosses
the network once, reaches pip unchanged (the pages' file links point back here, nothing else in them changes) and
is written into the wheelhouse under a temporary name, renamed into place only once it is whole and has the
sha256 the index page gave for it (an interrupted build leaves no half file there). The index's answer is
recorded as the download's was, from the files the install took (``record``), so the next build finds the
wheelhouse as complete as after the download.

A warm or partly warm install (a package added, or the step run again because an earlier layer changed) ran pip
two or three times (the fetch of missing pins, an offline resolution to check the wheelhouse answers everything,
the install). Through this index it runs once too: the projects the wheelhouse may answer, by the rules the
download path applies (``wheelhouse.index_answers``: an exact pin with a file of its version, a dependency whose
file a recorded answer younger than ``--lists-ttl`` took), get a page listing the wheelhouse's files alone, and
every other page is read from PyPI - an added pin reads its own page and file, nothing else. A file a PyPI page
links that the wheelhouse already holds with that sha256 is passed on from there, not fetched again. The answer
recorded afterwards is as old as the oldest recorded answer it stood on, so writing it never makes the
wheelhouse's answers fresh. When the wheelhouse's answer does not fit (pip finds no distribution, nothing
installed), the step runs the download path after all (``run_step``).

It stands in for PyPI only where nothing else was asked for (``usable``): no index or proxy option, no pip
configuration file in the container, no ``PIP_*`` index or proxy variable, and the container on the host's network
(chroot isolation, so loopback is the host's). Anywhere else the download runs before the command, as before.

A proxy of the user's (``http_proxy``/``https_proxy``, passed to every RUN) is not a reason to do without it: the
index's own requests to PyPI go from the host through that proxy, as pip's would (``route``), and the RUN's pip
reaches the index on loopback directly (``loopback_env``: ``no_proxy`` names loopback for that run only; nothing
of it reaches the image, whose config buildah writes from the Containerfile alone). Where the proxy cannot be used
as pip would use it (it asks for credentials, it is not plain http, ``no_proxy`` sends PyPI around it) the
download runs before the command, as before.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import html
import http.client
import json
import os
import re
import ssl
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from shlax_front.backend.rootfs import inside
from shlax_front.backend.wheelhouse import (
    WHEELHOUSE_TARGET,
    canonical,
    file_version,
    record_resolution,
)

PYPI_INDEX = "https://pypi.org/simple/"
PYPI_FILES = "https://files.pythonhosted.org/"
CHUNK = 64 * 1024
#: what a distribution file kept in the wheelhouse is called (the index's metadata files are passed on only)
DISTRIBUTION = re.compile(r"\.(?:whl|tar\.gz|zip|tar\.bz2|tgz)$")
#: a temporary file of a distribution on its way into the wheelhouse: ``<prefix><pid>-<thread>-<file name>.part``
#: (a dot name with another suffix: neither pip's find-links nor the wheelhouse's listings take it for a file)
PART_PREFIX = ".shlax-front-part-"
HTML_HASH = re.compile(r"/([^/\"'#?\s]+)#sha256=([0-9a-f]{64})")
SUCCESS = re.compile(r"^Successfully installed (.+)$", re.M)
#: a file pip installed from the wheelhouse itself (its find-links)
PROCESSED = re.compile(rf"^Processing {re.escape(WHEELHOUSE_TARGET)}/(\S+)\s*$", re.M)
#: what pip says when its resolution could not be met (nothing installed yet)
UNRESOLVED = re.compile(
    r"^ERROR: (?:No matching distribution found for |Could not find a version that satisfies|"
    r"Cannot install |ResolutionImpossible)",
    re.M,
)

#: pip's settings that choose another index, or where they could be read from
INDEX_VARIABLES = frozenset(
    {
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_NO_INDEX",
        "PIP_INDEX",
        "PIP_CONFIG_FILE",
        "XDG_CONFIG_DIRS",
        "PIP_PROXY",  # pip sends every request through it, the index's on loopback too (no_proxy does not apply)
    }
)
#: the variables pip takes an https URL's proxy from, in the order it prefers them (lower case first, as urllib)
HTTPS_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
#: every proxy variable pip honours: when the RUN has one, its pip must be told to reach loopback directly
PROXY_VARIABLES = HTTPS_PROXY_VARIABLES + ("http_proxy", "HTTP_PROXY")
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
CONFIG_FILES = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "/root/.config/pip/pip.conf", "/root/.pip/pip.conf")


def usable(
    rootfs: str, env: Iterable[tuple[str, str]], image_env: Sequence[str], script: str, user: str | None
) -> bool:
    """Whether a cold install's pip may read PyPI through the pull-through index: it runs as root, its
    environment (``env`` given to the run, ``image_env`` the container's ``NAME=value`` entries) sets nothing of
    pip's index, no pip configuration file is in the container (its site file is ``pip.conf`` beside the
    ``bin`` of each PATH directory) and the RUN's script is the install alone, one simple command that names
    no index either: the index's address is in that command's environment, and a command beside it that kept
    its environment in the image (``env > file``) would keep another one than the download path gives."""
    if (user or "root").split(":")[0] not in ("root", "0"):
        return False
    if re.search(r"[;&|<>$`()\n\\]", script):
        return False
    names = {name for name, _ in env} | {entry.partition("=")[0] for entry in image_env}
    if names & INDEX_VARIABLES:
        return False
    if re.search(r"PIP_|pip\.conf|index|find-links|-i\b|proxy", script):
        return False
    path = next((e.partition("=")[2] for e in image_env if e.startswith("PATH=")), "")
    candidates = list(CONFIG_FILES) + [
        os.path.join(os.path.dirname(d.rstrip("/")), "pip.conf") for d in path.split(":") if d
    ]
    return not any(os.path.lexists(inside(rootfs, c)) for c in candidates)


@dataclass(frozen=True)
class Route:
    """How the index reaches PyPI: through the user's plain http proxy at ``proxy`` (host, port), https
    tunnelled with ``CONNECT`` as pip does, or directly when ``proxy`` is None."""

    proxy: tuple[str, int] | None = None


def route(
    proxy_env: Iterable[tuple[str, str]], index: str = PYPI_INDEX, files: str = PYPI_FILES
) -> Route | None:
    """How the index reaches PyPI given the proxy variables the RUN gets (``proxy_env``), as its pip would:
    the https proxy (``https_proxy``, else ``all_proxy``; lower case first), none set: directly. None when the
    index cannot stand in for PyPI the way pip would reach it, and the download runs before the command:

    - a proxy with credentials in its URL: they would be sent from the host by the index, on the user's behalf,
      and a proxy asking for another scheme of authentication is pip's to answer (with its prompts, keyring);
    - a proxy that is not plain ``http://`` (https, socks): pip reaches it through libraries the index lacks;
    - ``no_proxy`` naming PyPI's hosts: the user sends PyPI around the proxy on purpose; requests' matching
      (suffixes, ports, addresses) is pip's, and a guess that differs would send traffic where the user said
      not to."""
    values = {name: value for name, value in proxy_env if value}
    proxy = next((values[name] for name in HTTPS_PROXY_VARIABLES if name in values), None)
    if proxy is None:
        return Route()
    no_proxy = next((values[name] for name in NO_PROXY_VARIABLES if name in values), "")
    hosts = {urlsplit(index).hostname or "", urlsplit(files).hostname or ""}
    if any(_bypassed(host, no_proxy) for host in hosts):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or "@" in parts.netloc or not parts.hostname:
        return None
    return Route((parts.hostname, port))


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma separated: ``*``, names, ``.suffix``) could name ``host``; anything with a
    port, or a name ``host`` ends with, counts (when unsure, the index does not stand in)."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        name = entry.rsplit(":", 1)[0].lstrip("*").lstrip(".") if entry != "*" else "*"
        if name == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def loopback_env(env: Iterable[tuple[str, str]], image_env: Sequence[str]) -> list[tuple[str, str]]:
    """What the RUN's pip gets beside the index when it has a proxy (``env`` given to the run, ``image_env``
    the container's ``NAME=value`` entries): ``no_proxy`` with loopback added to the one it has, so it reaches
    the index directly; for this run only (``buildah run --env``), never in the image's config."""
    given = [(name, value) for name, value in env] + [
        (e.partition("=")[0], e.partition("=")[2]) for e in image_env
    ]
    if not any(name in PROXY_VARIABLES and value for name, value in given):
        return []
    runs = dict(env)  # the run's own setting wins over the image's, as buildah run --env does
    images = {e.partition("=")[0]: e.partition("=")[2] for e in image_env}
    theirs = next(
        (v for source in (runs, images) for name in NO_PROXY_VARIABLES if (v := source.get(name))), ""
    )
    value = ",".join([entry for entry in theirs.split(",") if entry.strip()] + list(LOOPBACK_NAMES))
    return [(name, value) for name in NO_PROXY_VARIABLES]


class PullThroughIndex:
    """PyPI's simple index served on 127.0.0.1 (a random port) for one RUN; ``env`` points pip at it.

    ``received`` counts what came from the network (bodies as they crossed it, compressed pages included, and
    the response heads); ``saved`` lists the distribution files written into ``wheelhouse``, in order."""

    def __init__(
        self,
        wheelhouse: Path,
        ca_bundle: str | None = None,
        index: str = PYPI_INDEX,
        files: str = PYPI_FILES,
        answers: Mapping[str, float | None] | None = None,
        upstream: Route | None = None,
    ):
        self.wheelhouse = wheelhouse
        self.index, self.files = index, files
        #: the user's proxy the requests to PyPI go through (``route``), or None: directly
        self.proxy = upstream.proxy if upstream is not None else None
        #: projects the wheelhouse answers (``wheelhouse.index_answers``), with the time their answer was given
        self.answers = dict(answers or {})
        self.received = 0
        self.saved: list[str] = []
        #: projects whose page was served from the wheelhouse, and those read from the index
        self.answered: set[str] = set()
        self.asked: set[str] = set()
        #: distribution files a PyPI page linked that were passed on from the wheelhouse (same sha256)
        self.passed: list[str] = []
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        # reading the CA bundle takes 70-150 ms (measured, 225 kB): done meanwhile, while pip starts in the
        # container, not before the RUN begins; the first connection to PyPI waits for it
        self._tls_context: list[ssl.SSLContext | OSError] = []
        self._tls_loaded = threading.Thread(
            target=self._load_tls,
            args=(ca_bundle if ca_bundle and os.path.isfile(ca_bundle) else None,),
            name="shlax-front-pipindex-tls",
            daemon=True,
        )
        self._tls_loaded.start()
        _remove_dead_parts(wheelhouse)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # each reply is a head and a body written apart: with Nagle's algorithm the body waits for pip's
            # delayed ACK of the head, 40 ms on Linux's loopback, twice a package (its page, its file): 1 s of
            # app2's cold pip step, which bud's pip reading PyPI itself never waits
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                owner._serve(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(  # polled often: closing waits for the poll, and the build for that
            target=self._server.serve_forever, args=(0.02,), name="shlax-front-pipindex", daemon=True
        )
        self._thread.start()

    @property
    def env(self) -> list[tuple[str, str]]:
        """What the RUN's pip gets: this index, and the wheelhouse as links (as the offline install had them)."""
        return [("PIP_INDEX_URL", f"{self.url}/simple/"), ("PIP_FIND_LINKS", WHEELHOUSE_TARGET)]

    def close(self) -> None:
        self._tls_loaded.join()  # not left reading the bundle while the interpreter exits (OpenSSL crashes)
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for connections in self._idle.values():
                for connection in connections:
                    connection.close()
            self._idle.clear()

    # -- serving --------------------------------------------------------------------------------------------
    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        try:
            project = canonical(unquote(path[len("/simple/") :].split("?", 1)[0].strip("/")))
            if path.startswith("/simple/") and project in self.answers:
                self._wheelhouse_page(request, project)
            elif path.startswith("/simple/"):
                if project:
                    with self._lock:
                        self.asked.add(project)
                self._page(request, self.index + path[len("/simple/") :])
            elif path.startswith("/files/"):
                self._file(request, self.files + path[len("/files/") :])
            else:
                _reply(request, 404, {}, b"")
        except (OSError, http.client.HTTPException, ValueError, EOFError, zlib.error):
            # the network or pip went away: pip sees the connection end and retries or fails, as with PyPI
            request.close_connection = True

    def _page(self, request: BaseHTTPRequestHandler, url: str) -> None:
        headers = {"Accept": request.headers.get("Accept", "text/html"), "Accept-Encoding": "gzip, deflate"}
        with self._upstream(url, headers) as response:
            raw = response.read()
            self._count(response, len(raw))
        body = _decoded(raw, response.getheader("Content-Encoding"))
        content_type = response.getheader("Content-Type") or "text/html"
        if response.status == 200:
            self._learn_hashes(body, content_type)
        body = self._rewritten(body)
        out = {"Content-Type": content_type}
        location = response.getheader("Location")
        if location:
            out["Location"] = self._rewritten(location.encode("latin-1")).decode("latin-1")
        _reply(request, response.status, out, body)

    def _wheelhouse_page(self, request: BaseHTTPRequestHandler, project: str) -> None:
        """The project's page from the wheelhouse alone: its files there, with their sha256, linked where the
        RUN sees them (pip's find-links list the same files; pip takes the page's link of a version both
        have, and a ``file:`` link is read in place, as the offline install read it)."""
        with self._lock:
            self.answered.add(project)
        links = []
        for name in sorted(os.listdir(self.wheelhouse)):
            if name.startswith(".") or not DISTRIBUTION.search(name) or _project(name) != project:
                continue
            with contextlib.suppress(OSError):
                sha = _sha256(self.wheelhouse / name)
                href = f"file://{WHEELHOUSE_TARGET}/{quote(name)}#sha256={sha}"
                links.append(f'<a href="{href}">{html.escape(name)}</a><br/>')
        body = (
            '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
            f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>\n"
            + "\n".join(links)
            + "\n</body></html>\n"
        ).encode()
        _reply(request, 200, {"Content-Type": "text/html"}, body)

    def _wheelhouse_file(self, request: BaseHTTPRequestHandler, name: str) -> None:
        body = (self.wheelhouse / name).read_bytes()
        with self._lock:
            self.passed.append(name)
        _reply(request, 200, {"Content-Type": "application/octet-stream"}, body)

    def _file(self, request: BaseHTTPRequestHandler, url: str) -> None:
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        if self._held(
            name
        ):  # pip prefers the page's link to find-links' file of one version: not fetched again
            self._wheelhouse_file(request, name)
            return
        with self._upstream(url, {"Accept-Encoding": "identity"}) as response:
            length = response.getheader("Content-Length")
            expected = self._hashes.get(name)
            keep = response.status == 200 and expected is not None and DISTRIBUTION.search(name) is not None
            request.send_response(response.status)
            request.send_header(
                "Content-Type", response.getheader("Content-Type") or "application/octet-stream"
            )
            if length is None:  # pass it on whole: the client needs a length to keep its connection
                body = response.read()
                self._count(response, len(body))
                request.send_header("Content-Length", str(len(body)))
                request.end_headers()
                if keep and expected is not None:  # kept before pip has it, as below
                    self._keep(name, [body], expected)
                request.wfile.write(body)
                return
            request.send_header("Content-Length", length)
            request.end_headers()
            total = int(length)
            part = self._part(name) if keep else None
            digest = hashlib.sha256()
            received = 0
            try:
                with open(part, "wb") if part is not None else contextlib.nullcontext() as out:  # noqa: SIM115
                    while received < total and (chunk := response.read(min(CHUNK, total - received))):
                        received += len(chunk)
                        if out is not None:
                            out.write(chunk)
                            digest.update(chunk)
                            if received == total and part is not None:  # in place (and counted) before pip
                                out.close()  # has its last byte: once pip is done, the file is kept
                                self._kept(part, name, digest.hexdigest() == expected)
                        if received == total:
                            self._count(response, received)
                        request.wfile.write(chunk)
            finally:
                if received < total:
                    self._count(response, received)
                if part is not None:
                    part.unlink(missing_ok=True)

    def _held(self, name: str) -> bool:
        """Whether the wheelhouse holds ``name`` with the sha256 the index page gave for it."""
        expected = self._hashes.get(name)
        path = self.wheelhouse / name
        if expected is None or "/" in name or name.startswith(".") or not DISTRIBUTION.search(name):
            return False
        try:
            return path.is_file() and _sha256(path) == expected
        except OSError:
            return False

    def _part(self, name: str) -> Path:
        """Where ``name`` is written on its way in: this process's and thread's own (stages built side by side
        may fetch one file at once)."""
        return self.wheelhouse / f"{PART_PREFIX}{os.getpid()}-{threading.get_ident()}-{name}.part"

    def _kept(self, part: Path, name: str, whole: bool) -> None:
        if whole:
            os.replace(part, self.wheelhouse / name)
            with self._lock:
                self.saved.append(name)

    def _keep(self, name: str, chunks: list[bytes], expected: str) -> None:
        data = b"".join(chunks)
        if hashlib.sha256(data).hexdigest() != expected:
            return
        part = self._part(name)
        try:
            part.write_bytes(data)
            self._kept(part, name, True)
        finally:
            part.unlink(missing_ok=True)

    # -- the pages ------------------------------------------------------------------------------------------
    def _rewritten(self, body: bytes) -> bytes:
        """File links and the index's own absolute links pointed back here; nothing else changes."""
        return body.replace(self.files.encode(), f"{self.url}/files/".encode()).replace(
            self.index.encode(), f"{self.url}/simple/".encode()
        )

    def _learn_hashes(self, body: bytes, content_type: str) -> None:
        """The sha256 the page gives each file (a file is kept only when it has it)."""
        found: dict[str, str] = {}
        if "json" in content_type:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                for entry in json.loads(body).get("files", []):
                    sha = (entry.get("hashes") or {}).get("sha256")
                    if isinstance(sha, str) and isinstance(entry.get("filename"), str):
                        found[entry["filename"]] = sha
        else:
            text = body.decode("utf-8", errors="replace")
            found = {name: sha for name, sha in HTML_HASH.findall(text)}
        with self._lock:
            self._hashes.update(found)

    # -- upstream -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _upstream(self, url: str, headers: Mapping[str, str]):
        """The upstream response to a GET of ``url`` on a kept-alive connection (one is opened again when
        the kept one was closed meanwhile); the connection is kept for the next request once read whole."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response = None
        connection: http.client.HTTPConnection | None = None
        for attempt in range(2):
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            fresh = connection is None
            if connection is None:
                connection = self._connection(parts.scheme, parts.hostname or "", parts.port)
            try:
                through = self.proxy is not None and parts.scheme != "https"  # plain http: absolute form
                connection.request(
                    "GET", url if through else target, headers={**headers, "Host": parts.netloc}
                )
                response = connection.getresponse()
                break
            except (OSError, http.client.HTTPException):
                connection.close()
                if fresh or attempt:
                    raise
        assert response is not None and connection is not None
        try:
            yield response
        except BaseException:
            connection.close()
            raise
        if response.isclosed() and not response.will_close:
            with self._lock:
                self._idle.setdefault(key, []).append(connection)
        else:
            connection.close()

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        """A new connection to ``host``: directly, or through the user's proxy (https tunnelled by ``CONNECT``,
        its TLS checked against the host's CA bundle end to end, as pip's is)."""
        if self.proxy is None:
            if scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=60, context=self._tls())
            return http.client.HTTPConnection(host, port, timeout=60)
        proxy_host, proxy_port = self.proxy
        if scheme == "https":
            connection = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=60, context=self._tls())
            connection.set_tunnel(host, port or 443)
            return connection
        return http.client.HTTPConnection(proxy_host, proxy_port, timeout=60)

    def _load_tls(self, cafile: str | None) -> None:
        try:
            self._tls_context.append(ssl.create_default_context(cafile=cafile))
        except (
            OSError
        ) as error:  # a bundle that does not parse or read: each connection to PyPI fails with it
            self._tls_context.append(error)

    def _tls(self) -> ssl.SSLContext:
        """The TLS context of connections to PyPI, once the CA bundle is read (``__init__``)."""
        self._tls_loaded.join()
        context = self._tls_context[0]
        if isinstance(context, OSError):
            raise context
        return context

    def _count(self, response: http.client.HTTPResponse, body: int) -> None:
        head = sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 17
        with self._lock:
            self.received += head + body

    # -- afterwards -----------------------------------------------------------------------------------------
    def summary(self) -> str:
        """Which project pages pip read from PyPI and which the wheelhouse answered (``--verbose`` shows it)."""
        with self._lock:
            asked, answered = sorted(self.asked), sorted(self.answered)
        return (
            f"shlax-front: pip's index pages read from PyPI: {', '.join(asked) or 'none'};"
            f" answered by the wheelhouse: {', '.join(answered) or 'none'}"
        )

    def record(
        self, ok: bool, output: str, history: Path, record_argv: Sequence[str], lines: Sequence[str]
    ) -> bool:
        """Record the index's answer as the download did (``wheelhouse.record_resolution``) when the install
        (``ok``, printing ``output``) read at least one page from PyPI and every distribution it installed came
        from one file it names (passed on by this index, or "Processing" from the wheelhouse) of the version it
        installed; returns whether it did. The record is as old as its oldest answer: a project the wheelhouse
        answered keeps the time of the answer it stood on (an exact pin needs none), so the wheelhouse's
        answers never outlive ``--lists-ttl`` by being written again. Otherwise nothing is recorded: the next
        build asks the index."""
        if not ok or not (self.asked or self.saved):
            return False
        installed = installed_versions(output)
        if installed is None:
            return False
        taken = list(dict.fromkeys([*self.saved, *self.passed, *PROCESSED.findall(output)]))
        if any(_project(name) not in installed for name in self.saved):
            return False  # a file passed on for a distribution not installed: which resolution took it?
        files: dict[str, str] = {}
        for project, version in installed.items():
            matching = [
                n for n in taken if _project(n) == project and _same_version(file_version(n), version)
            ]
            if len(matching) != 1:
                return False
            files[project] = matching[0]
        times = [when for project in files if (when := self.answers.get(project)) is not None]
        saved = "".join(f"Saved {WHEELHOUSE_TARGET}/{name}\n" for name in files.values())
        record_resolution(history, record_argv, lines, saved, min(times) if times else None)
        return True


class _QuietServer(ThreadingHTTPServer):
    """Its request threads end with the build; what went wrong in one is pip's to report, not a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass


def installed_names(output: str) -> set[str] | None:
    """The canonical names of pip's last "Successfully installed NAME-VERSION ..." line, or None."""
    versions = installed_versions(output)
    return None if versions is None else set(versions)


def installed_versions(output: str) -> dict[str, str] | None:
    """{canonical name: version} of pip's last "Successfully installed NAME-VERSION ..." line, or None."""
    found = SUCCESS.findall(output)
    if not found:
        return None
    return {canonical(item.rsplit("-", 1)[0]): item.rsplit("-", 1)[-1] for item in found[-1].split()}


def unresolved(output: str) -> bool:
    """Whether pip stopped at its resolution (no distribution fits), before installing anything."""
    return UNRESOLVED.search(output) is not None and "Installing collected packages" not in output


def _project(filename: str) -> str:
    """The canonical project name of a distribution file's name."""
    if filename.endswith(".whl"):
        return canonical(filename.split("-", 1)[0])
    return canonical(filename.rsplit("-", 1)[0])


def _same_version(found: str | None, version: str) -> bool:
    return found is not None and found.lower().replace("_", "-") == version.lower().replace("_", "-")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _decoded(raw: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    return raw


def _reply(request: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], body: bytes) -> None:
    request.send_response(status)
    for name, value in headers.items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


def _remove_dead_parts(wheelhouse: Path) -> None:
    """Temporary files a killed build left (its process is gone): never a wheelhouse entry, removed."""
    with contextlib.suppress(OSError):
        for path in wheelhouse.glob(f"{PART_PREFIX}*"):
            pid = path.name[len(PART_PREFIX) :].split("-", 1)[0]
            if not pid.isdigit() or not _alive(int(pid)):
                path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
