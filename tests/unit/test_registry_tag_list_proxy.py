"""The registry's tag list is read as buildah reaches a registry: through the ``*_proxy`` variables, except a
registry on a loopback address, which is reached directly (a build's proxy is for the package registries)."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
import urllib.request

from shlax_front.backend.cachetransfer import registryapi


class _Tags(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"name": "app", "tags": ["packages"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_loopback_registry_is_reached_without_the_proxy(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Tags)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dead_proxy = f"http://127.0.0.1:{_closed_port()}"
        monkeypatch.setenv("http_proxy", dead_proxy)
        monkeypatch.setenv("https_proxy", dead_proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        url = f"http://127.0.0.1:{server.server_port}/v2/app/tags/list"
        data, _ = registryapi._get(url, None, None)
        assert data["tags"] == ["packages"]
    finally:
        server.shutdown()


def test_other_hosts_go_through_the_proxy(monkeypatch):
    seen = []
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setattr(
        urllib.request.OpenerDirector, "open", lambda self, req, timeout=None: seen.append(self)
    )
    registryapi._open(urllib.request.Request("https://registry.example/v2/"), ssl.create_default_context())
    handlers = [h for h in seen[0].handlers if isinstance(h, urllib.request.ProxyHandler)]
    assert handlers and handlers[0].proxies.get("https") == "http://proxy.example:3128"


def test_strict_certificate_checks_are_off_as_in_buildah():
    context = registryapi._tls_context("registry.example", verify=True)
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT
    assert context.verify_mode == ssl.CERT_REQUIRED
