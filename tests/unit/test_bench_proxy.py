"""The benchmarks' counting proxy, over real loopback sockets: what it counts must be exactly what the origin sent.

The origin here is a raw socket server with canned responses, so every expected byte count is known exactly.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_proxy", Path(__file__).resolve().parents[1] / "bench" / "proxy.py"
)
bench_proxy = importlib.util.module_from_spec(_spec)
sys.modules["bench_proxy"] = bench_proxy
_spec.loader.exec_module(bench_proxy)
CountingProxy = bench_proxy.CountingProxy
TokenBucket = bench_proxy.TokenBucket


def _response(path: str) -> tuple[bytes, bool]:
    """Canned response for a path and whether the origin closes the connection after it."""
    kind, _, size = path.strip("/").partition("/")
    n = int(size or 0)
    body = bytes((i * 7) % 256 for i in range(n))
    if kind == "len":
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + body, False
    if kind == "chunked":
        half = n // 2
        chunks = b"".join(
            b"%x\r\n" % len(part) + part + b"\r\n" for part in (body[:half], body[half:]) if part
        )
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n", False
    if kind == "close":
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body, True
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False


class Origin:
    """A tiny HTTP/1.1 origin on loopback with keep-alive; remembers the request lines and connection count."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.request_lines: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                line = head.split(b"\r\n")[0].decode()
                self.request_lines.append(line)
                response, close = _response(line.split(" ")[1])
                conn.sendall(response)
                if close:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def proxy():
    with CountingProxy() as running:
        yield running


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _connect(proxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    return sock


def test_plain_get_counts_head_and_body_and_logs_the_url(origin, proxy):
    expected, _ = _response("/len/100000")
    url = f"http://127.0.0.1:{origin.port}/len/100000"
    with _connect(proxy) as sock:
        sock.sendall(
            f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Connection: keep-alive\r\n\r\n".encode()
        )
        assert _recv_exactly(sock, len(expected)) == expected
    time.sleep(0.05)
    counters = proxy.snapshot()
    assert counters.bytes_received == len(expected)
    assert counters.requests == 1
    assert counters.urls == [(url, 200, len(expected))]
    assert counters.per_host == {"127.0.0.1": len(expected)}
    # origin-form on the upstream side, proxy headers stripped
    assert origin.request_lines == ["GET /len/100000 HTTP/1.1"]


def test_keep_alive_and_pipelined_requests_share_one_upstream_connection(origin, proxy):
    paths = ["/len/1000", "/chunked/5000", "/len/0", "/chunked/1"]
    expected = b"".join(_response(p)[0] for p in paths)
    base = f"http://127.0.0.1:{origin.port}"
    pipelined = b"".join(f"GET {base}{p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths)
    with _connect(proxy) as sock:
        sock.sendall(pipelined)  # all at once, like apt's pipelining
        assert _recv_exactly(sock, len(expected)) == expected
    time.sleep(0.05)
    counters = proxy.snapshot()
    assert counters.bytes_received == len(expected)
    assert counters.requests == len(paths)
    assert origin.connections == 1


def test_close_delimited_body_is_relayed_to_eof_and_the_client_connection_closed(origin, proxy):
    expected, _ = _response("/close/70000")
    with _connect(proxy) as sock:
        sock.sendall(f"GET http://127.0.0.1:{origin.port}/close/70000 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _recv_all(sock) == expected
    time.sleep(0.05)
    assert proxy.snapshot().bytes_received == len(expected)


def test_connect_tunnel_counts_bytes_both_ways(origin, proxy):
    request = b"GET /len/123456 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    expected, _ = _response("/len/123456")
    with _connect(proxy) as sock:
        sock.sendall(
            f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: 127.0.0.1:{origin.port}\r\n\r\n".encode()
        )
        established = b"HTTP/1.1 200 Connection established\r\n\r\n"
        assert _recv_exactly(sock, len(established)) == established
        sock.sendall(request)
        assert _recv_exactly(sock, len(expected)) == expected
    time.sleep(0.05)
    counters = proxy.snapshot()
    assert counters.tunnels == 1
    assert counters.bytes_received == len(expected)
    assert counters.bytes_sent == len(request)
    assert counters.requests == 0


def test_reset_starts_a_new_measurement(origin, proxy):
    with _connect(proxy) as sock:
        sock.sendall(f"GET http://127.0.0.1:{origin.port}/len/10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        _recv_exactly(sock, len(_response("/len/10")[0]))
    time.sleep(0.05)
    assert proxy.reset().bytes_received == len(_response("/len/10")[0])
    assert proxy.snapshot().bytes_received == 0


def test_refusing_proxy_answers_502_and_counts_attempts_without_touching_the_origin(origin, proxy):
    proxy.refuse = True
    with _connect(proxy) as sock:
        sock.sendall(f"GET http://127.0.0.1:{origin.port}/len/10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _recv_all(sock).startswith(b"HTTP/1.1 502 ")
    with _connect(proxy) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\n\r\n".encode())
        assert _recv_all(sock).startswith(b"HTTP/1.1 502 ")
    time.sleep(0.05)
    counters = proxy.snapshot()
    assert counters.refused == 2
    assert counters.bytes_received == 0
    assert origin.connections == 0


def test_unreachable_upstream_is_a_502_and_counted_as_failed(proxy):
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there any more
    with _connect(proxy) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert _recv_all(sock).startswith(b"HTTP/1.1 502 ")
    time.sleep(0.05)
    assert proxy.snapshot().failed == 1


def test_non_proxy_request_is_a_400(proxy):
    with _connect(proxy) as sock:
        sock.sendall(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _recv_all(sock).startswith(b"HTTP/1.1 400 ")


def test_throttled_download_cannot_beat_the_rate(origin, proxy):
    """A lower bound only: the throttle must hold transfers back; noise can only make them slower."""
    size = 400_000
    proxy.set_rate(3.2)  # 400 000 bytes/s
    burst = proxy.bucket.burst
    expected, _ = _response(f"/len/{size}")
    with _connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(f"GET http://127.0.0.1:{origin.port}/len/{size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _recv_exactly(sock, len(expected)) == expected
        elapsed = time.monotonic() - started
    assert elapsed >= (len(expected) - burst) / 400_000 * 0.95


def test_token_bucket_arithmetic_with_a_fake_clock():
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=1000, burst=100, clock=lambda: now[0], sleep=fake_sleep)

    async def scenario() -> None:
        await bucket.take(100)  # the burst: free
        await bucket.take(500)  # 500 bytes of debt at 1000 B/s
        now[0] += 2.0  # idle: refills, but only up to the burst
        await bucket.take(300)  # 100 in the bucket, 200 owed

    asyncio.run(scenario())
    assert slept == [pytest.approx(0.5), pytest.approx(0.2)]


def test_token_bucket_rejects_a_zero_rate():
    with pytest.raises(ValueError):
        TokenBucket(rate=0)
