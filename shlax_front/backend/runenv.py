"""What every RUN is given from the host: its CA bundle and the proxy variables, as ``buildah bud`` passes them.

Apart from ``run_step`` so that a build whose steps are all reused (a no-op) reads these without importing how
a RUN runs (``run_step`` and the cache mounts, wheelhouse and network meter it needs).
"""

from __future__ import annotations

import os
from pathlib import Path

PROXY_ENV = ("http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy")


def default_ca_bundle() -> str | None:
    """The host's CA bundle, mounted into every RUN (builds behind a TLS-intercepting proxy need it)."""
    for path in (
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ):
        if Path(path).is_file():
            return path
    return None


def proxy_env() -> tuple[tuple[str, str], ...]:
    """Proxy variables from our environment, passed to every RUN like buildah bud does (never in the key)."""
    out = []
    for name in PROXY_ENV:
        for variant in (name, name.upper()):
            if os.environ.get(variant):
                out.append((variant, os.environ[variant]))
    return tuple(out)
