"""A counting HTTP/HTTPS forward proxy on loopback: the benchmarks' network meter, throttle and cut-off switch.

WHY a proxy rather than the interface counters: the machine is shared, so the NIC counts everybody's traffic.
Every package manager the benchmark drives (apt over http, pip and npm over https) honours ``http_proxy`` /
``https_proxy``, and buildah passes those variables into RUN, so routing a build through this proxy counts exactly
the bytes *that build* received from the network:

- plain http (apt): requests are forwarded with keep-alive and pipelining intact; response heads and bodies are
  counted, and each URL is logged with its size;
- https (pip, npm): ``CONNECT`` tunnels; the encrypted bytes flowing back through the tunnel are counted (that is
  what crosses the wire, TLS overhead included).

Two switches, changeable between runs while the proxy keeps listening:

- ``rate_mbit``: a token bucket shared by all connections limits the bytes flowing *to* clients, so a fast mirror
  looks like an ordinary link (20 Mbit/s in the benchmark);
- ``refuse``: every request gets ``502 Bad Gateway`` -- the network is cut for anything that goes through the
  proxy, and the number of refused attempts is counted (honest "offline": a tool that still tries the network fails
  or degrades visibly instead of silently using a direct route).

Usable as a library (``with CountingProxy(rate_mbit=20) as proxy: ... proxy.snapshot()``) and as a command:
``python3 tests/bench/proxy.py --port 3128 --rate-mbit 20`` prints the counters on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CHUNK = 64 * 1024
HEAD_LIMIT = 256 * 1024
TUNNEL_LINGER = 10.0  # seconds a tunnel stays open after one side has finished


class TokenBucket:
    """Shared byte budget: ``rate`` bytes per second, bursts up to ``burst`` bytes.

    Callers may overdraw (a whole chunk is taken at once) and then sleep off the debt, so concurrent connections
    queue up behind each other and their *sum* stays at the rate. ``clock`` and ``sleep`` are injectable so the
    arithmetic can be tested without waiting.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(CHUNK, rate / 20)
        self.tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()

    async def take(self, n: int) -> None:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self.tokens -= n
        if self.tokens < 0:
            await self._sleep(-self.tokens / self.rate)


@dataclass
class Counters:
    """What went through the proxy since the last ``reset``."""

    #: from upstream servers: response heads and bodies, tunnel bytes towards the client
    bytes_received: int = 0
    #: to upstream servers: request heads and bodies, tunnel bytes towards the server
    bytes_sent: int = 0
    requests: int = 0  # plain-http requests forwarded
    tunnels: int = 0  # CONNECT tunnels opened
    refused: int = 0  # requests and CONNECTs answered 502 because the proxy was refusing
    failed: int = 0  # upstream connections that could not be made
    per_host: dict[str, int] = field(default_factory=dict)  # bytes received per upstream host
    #: plain http only: (url, status, bytes received)
    urls: list[tuple[str, int, int]] = field(default_factory=list)

    def copy(self) -> Counters:
        return Counters(
            self.bytes_received,
            self.bytes_sent,
            self.requests,
            self.tunnels,
            self.refused,
            self.failed,
            dict(self.per_host),
            list(self.urls),
        )


class ProxyError(Exception):
    """A client request the proxy cannot forward (answered with 400/502)."""


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProxyError(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _has_token(headers: list[tuple[str, str]], name: str, token: str) -> bool:
    value = _header(headers, name) or ""
    return token in (part.strip().lower() for part in value.split(","))


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """One message head up to and including the blank line; None on a clean EOF before any byte."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ProxyError("connection closed inside a message head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise ProxyError("message head too long") from exc


class CountingProxy:
    """The proxy server, running its own event loop in a daemon thread (the benchmark itself is synchronous)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, rate_mbit: float | None = None, refuse: bool = False
    ):
        self.host = host
        self.port = port
        self.refuse = refuse
        self.bucket: TokenBucket | None = None
        self.set_rate(rate_mbit)
        self._counters = Counters()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- control (from any thread) -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_rate(self, rate_mbit: float | None) -> None:
        """Limit bytes towards clients to ``rate_mbit`` megabits per second (None: unlimited)."""
        self.rate_mbit = rate_mbit
        self.bucket = TokenBucket(rate_mbit * 1_000_000 / 8) if rate_mbit else None

    def reset(self) -> Counters:
        """Start a new measurement; returns the counters of the one that ends."""
        with self._lock:
            old, self._counters = self._counters, Counters()
        return old

    def snapshot(self) -> Counters:
        with self._lock:
            return self._counters.copy()

    def start(self) -> CountingProxy:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, self.host, self.port, limit=HEAD_LIMIT)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to start()'s caller
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="counting-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- counting ----------------------------------------------------------------------------------------------

    def _count_in(self, host: str, n: int) -> None:
        with self._lock:
            self._counters.bytes_received += n
            self._counters.per_host[host] = self._counters.per_host.get(host, 0) + n

    def _count_out(self, n: int) -> None:
        with self._lock:
            self._counters.bytes_sent += n

    def _bump(self, name: str) -> None:
        with self._lock:
            setattr(self._counters, name, getattr(self._counters, name) + 1)

    async def _deliver(self, host: str, data: bytes, writer: asyncio.StreamWriter) -> None:
        """Bytes from upstream towards the client: counted, throttled, written."""
        self._count_in(host, len(data))
        bucket = self.bucket
        if bucket is not None:
            await bucket.take(len(data))
        writer.write(data)
        await writer.drain()

    # -- serving -----------------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            while True:
                head = await _read_head(reader)
                if head is None:
                    break
                request_line, headers = _parse_head(head)
                method, _, rest = request_line.partition(" ")
                target, _, version = rest.partition(" ")
                if self.refuse:
                    self._bump("refused")
                    await self._answer(writer, 502, "proxy refusing: network cut for this benchmark run")
                    break
                if method.upper() == "CONNECT":
                    await self._tunnel(target, reader, writer)
                    break
                if not await self._forward(method, target, version, headers, reader, writer, upstream):
                    break
        except ProxyError as exc:
            with contextlib.suppress(ConnectionError):
                await self._answer(writer, 400, str(exc))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, OSError):
            pass
        finally:
            for _, up_writer in upstream.values():
                up_writer.close()
            writer.close()
            self._tasks.discard(task)

    async def _answer(self, writer: asyncio.StreamWriter, status: int, text: str) -> None:
        reason = {400: "Bad Request", 502: "Bad Gateway"}[status]
        body = (text + "\n").encode()
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection(host, port, limit=HEAD_LIMIT)
        except OSError:
            self._bump("failed")
            return None

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit():
            raise ProxyError(f"CONNECT target must be host:port, got {target!r}")
        host = host.strip("[]")
        conn = await self._open(host, int(port))
        if conn is None:
            await self._answer(writer, 502, f"cannot connect to {target}")
            return
        self._bump("tunnels")
        up_reader, up_writer = conn
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def client_to_server() -> None:
            while data := await reader.read(CHUNK):
                self._count_out(len(data))
                up_writer.write(data)
                await up_writer.drain()
            if up_writer.can_write_eof():
                up_writer.write_eof()

        async def server_to_client() -> None:
            while data := await up_reader.read(CHUNK):
                await self._deliver(host, data, writer)
            if writer.can_write_eof():
                writer.write_eof()

        # When one side is done, give the other a moment to finish (a server answering a half-closed client,
        # or the client reading the last bytes), then close: a peer that never hangs up must not leak a task.
        pumps = [asyncio.ensure_future(client_to_server()), asyncio.ensure_future(server_to_client())]
        try:
            done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=TUNNEL_LINGER)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            up_writer.close()

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> bool:
        """Forward one plain-http request and its response; True when the client connection stays usable."""
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise ProxyError(f"a forward proxy needs an absolute http:// URL, got {target!r}")
        host, port = url.hostname, url.port or 80
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        client_close = (
            _has_token(headers, "connection", "close")
            or _has_token(headers, "proxy-connection", "close")
            or (version == "HTTP/1.0" and not _has_token(headers, "proxy-connection", "keep-alive"))
        )
        out_headers = [(k, v) for k, v in headers if not k.lower().startswith("proxy-")]
        if _header(out_headers, "host") is None:
            out_headers.insert(0, ("Host", url.netloc))
        request = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out_headers) + "\r\n"

        key = f"{host}:{port}"
        conn = upstream.get(key)
        if conn is None or conn[0].at_eof():
            conn = await self._open(host, port)
            if conn is None:
                await self._answer(writer, 502, f"cannot connect to {key}")
                return False
            upstream[key] = conn
        up_reader, up_writer = conn
        self._bump("requests")
        up_writer.write(request.encode("latin-1"))
        self._count_out(len(request))
        await self._relay_body(headers, reader, up_writer)
        await up_writer.drain()

        received = 0
        while True:
            head = await _read_head(up_reader)
            if head is None:
                upstream.pop(key, None)
                await self._answer(writer, 502, f"{key} closed the connection without answering")
                return False
            status_line, resp_headers = _parse_head(head)
            status = int(status_line.split(" ")[1])
            await self._deliver(host, head, writer)
            received += len(head)
            if not (100 <= status < 200) or status == 101:
                break
        body_received = await self._relay_response_body(method, status, resp_headers, up_reader, host, writer)
        received += abs(body_received)
        with self._lock:
            self._counters.urls.append((target, status, received))
        close = body_received < 0 or client_close or _has_token(resp_headers, "connection", "close")
        if close:
            up_writer.close()
            upstream.pop(key, None)
        return not close

    async def _relay_body(
        self, headers: list[tuple[str, str]], reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter
    ) -> None:
        """Request body, client to server (GETs have none; kept for completeness)."""
        length = _header(headers, "content-length")
        if _has_token(headers, "transfer-encoding", "chunked"):
            while True:
                size_line = await reader.readuntil(b"\r\n")
                up_writer.write(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                        up_writer.write(line)
                    up_writer.write(b"\r\n")
                    return
                up_writer.write(await reader.readexactly(size + 2))
        elif length:
            remaining = int(length)
            while remaining:
                data = await reader.readexactly(min(CHUNK, remaining))
                self._count_out(len(data))
                up_writer.write(data)
                remaining -= len(data)

    async def _relay_response_body(
        self,
        method: str,
        status: int,
        headers: list[tuple[str, str]],
        up_reader: asyncio.StreamReader,
        host: str,
        writer: asyncio.StreamWriter,
    ) -> int:
        """Response body, server to client. Returns the byte count, negated when the body ended at EOF."""
        if method.upper() == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return 0
        total = 0
        if _has_token(headers, "transfer-encoding", "chunked"):
            while True:
                size_line = await up_reader.readuntil(b"\r\n")
                await self._deliver(host, size_line, writer)
                total += len(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        line = await up_reader.readuntil(b"\r\n")
                        await self._deliver(host, line, writer)
                        total += len(line)
                        if line == b"\r\n":
                            return total
                remaining = size + 2
                while remaining:
                    data = await up_reader.readexactly(min(CHUNK, remaining))
                    await self._deliver(host, data, writer)
                    total += len(data)
                    remaining -= len(data)
        length = _header(headers, "content-length")
        if length is not None:
            remaining = int(length)
            while remaining:
                data = await up_reader.read(min(CHUNK, remaining))
                if not data:
                    raise ConnectionError("upstream closed inside a response body")
                await self._deliver(host, data, writer)
                total += len(data)
                remaining -= len(data)
            return total
        while data := await up_reader.read(CHUNK):
            await self._deliver(host, data, writer)
            total += len(data)
        return -total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3128)
    parser.add_argument("--rate-mbit", type=float, default=None, help="limit bytes towards clients (Mbit/s)")
    parser.add_argument("--refuse", action="store_true", help="answer every request with 502 (network cut)")
    args = parser.parse_args()
    proxy = CountingProxy(args.host, args.port, args.rate_mbit, args.refuse).start()
    print(
        f"proxy on {proxy.url}; export http_proxy={proxy.url} https_proxy={proxy.url}; Ctrl-C or SIGTERM prints counters"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    counters = proxy.snapshot()
    proxy.stop()
    print(
        f"received {counters.bytes_received} B, sent {counters.bytes_sent} B, {counters.requests} requests, "
        f"{counters.tunnels} tunnels, {counters.refused} refused, {counters.failed} failed"
    )
    for host, n in sorted(counters.per_host.items(), key=lambda item: -item[1]):
        print(f"  {n:>12} B  {host}")


if __name__ == "__main__":
    main()
