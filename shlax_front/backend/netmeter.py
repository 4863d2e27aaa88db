"""Counting what the host wheelhouse's ``pip download`` runs receive from the network.

pip prints the size of the files it downloads but not of the index pages it reads, and for an unpinned
requirement the pages are most of the traffic (a 25 kB wheel behind 3.6 MB of pages was measured). The
summary's "downloaded" must count every byte, so those runs go through a forward proxy on loopback that
counts what comes back: for https (``CONNECT``) the tunnel's bytes, TLS included - what crossed the wire.

It is used only where the container shares the host's network (chroot isolation: loopback is the host's)
and no proxy of the user's is set (that one must keep carrying the traffic); elsewhere the count falls back
to the wheelhouse's growth, as before. (The loopback index of ``pipindex`` counts what it reads itself, and
goes through the user's proxy when there is one.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024


class NetMeter:
    """A forward proxy on 127.0.0.1 (a random port) that counts the bytes it relays to its clients."""

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="shlax-front-netmeter", daemon=True)
        self._thread.start()

    @property
    def env(self) -> list[tuple[str, str]]:
        """The environment that sends a run's http(s) traffic through the meter."""
        url = f"http://127.0.0.1:{self.port}"
        return [(name, url) for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")]

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()

    # -- the proxy ------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            head = _read_head(client)
            if head is None:
                return
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = (request_line.decode("latin-1").split(" ") + ["", ""])[:3]
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = socket.create_connection((host, int(port or 443)), timeout=60)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # plain http: one request per connection, sent on in origin form
                url = urlsplit(target)
                upstream = socket.create_connection((url.hostname or "", url.port or 80), timeout=60)
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                headers = [h for h in rest.split(b"\r\n") if h and not h.lower().startswith(b"proxy-")]
                headers = [h for h in headers if not h.lower().startswith(b"connection:")]
                upstream.sendall(
                    f"{method} {path} {version}\r\n".encode("latin-1")
                    + b"".join(h + b"\r\n" for h in headers)
                    + b"Connection: close\r\n\r\n"
                )
            sending = threading.Thread(target=_pipe, args=(client, upstream, None), daemon=True)
            sending.start()
            _pipe(upstream, client, self._count)
            sending.join(timeout=5)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _count(self, n: int) -> None:
        with self._lock:
            self.received += n


def _read_head(sock: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > HEAD_LIMIT:
            return None
        data += chunk
    head, _, extra = data.partition(b"\r\n\r\n")
    if extra:  # a client that does not wait for the tunnel: not ours (pip waits)
        return None
    return head


def _pipe(source: socket.socket, sink: socket.socket, count) -> None:
    """Copy ``source`` to ``sink`` until either side ends; ``count`` hears each chunk's size."""
    try:
        while True:
            chunk = source.recv(CHUNK)
            if not chunk:
                break
            if count is not None:  # before it is passed on: a reader that has the bytes sees them counted
                count(len(chunk))
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def metered(wanted: bool) -> Iterator[NetMeter | None]:
    """A running ``NetMeter`` for the block when ``wanted``, else None."""
    if not wanted:
        yield None
        return
    meter = NetMeter()
    try:
        yield meter
    finally:
        meter.close()


def usable(isolation: str | None, proxy_env, offline: bool) -> bool:
    """Whether the wheelhouse's runs can go through the meter: they share the host's network (chroot
    isolation), the user set no proxy of their own, and the build may use the network at all."""
    return isolation == "chroot" and not proxy_env and not offline
