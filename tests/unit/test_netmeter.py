"""The wheelhouse's network meter: a loopback forward proxy that counts what it relays back (plain http here;
https goes through CONNECT tunnels the same way, counted in tests/buildah/test_build_packages.py)."""

from __future__ import annotations

import http.server
import threading
import urllib.request

from shlax_front.backend import netmeter

BODY = b"x" * 50_000


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


def test_meter_counts_what_it_relays():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with netmeter.metered(True) as meter:
            assert meter is not None
            proxy = dict(meter.env)["http_proxy"]
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
            for _ in range(2):
                assert opener.open(f"http://127.0.0.1:{server.server_port}/simple/six/").read() == BODY
            assert 2 * len(BODY) < meter.received < 2 * len(BODY) + 2000  # bodies and response heads
    finally:
        server.shutdown()


def test_meter_only_where_the_run_shares_the_host_network():
    assert netmeter.usable("chroot", (), offline=False)
    assert not netmeter.usable("oci", (), offline=False)
    assert not netmeter.usable("chroot", (("https_proxy", "http://proxy:3128"),), offline=False)
    assert not netmeter.usable("chroot", (), offline=True)
    with netmeter.metered(False) as meter:
        assert meter is None
