"""The one registry question buildah cannot answer: which tags a repository has (``GET /v2/NAME/tags/list``).

Two runners exporting package files at once each push their own ``REPO:packages-<id>``; the tag list is how an
importer (and the next exporter) finds one the shared ``REPO:packages`` does not include. The request is made
with buildah's own settings, read the way buildah reads them: ``registries.conf`` (``$CONTAINERS_REGISTRIES_CONF``
or ``/etc/containers/registries.conf``: ``insecure = true`` allows plain HTTP or an unverified certificate),
``certs.d`` CAs, and the auth file (``--authfile``/``--creds``, ``$REGISTRY_AUTH_FILE``, the runtime directory's
``containers/auth.json``, ``~/.docker/config.json``), with basic or token authentication. Credentials travel in
request headers only; none is logged.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import json
import os
import re
import ssl
import tomllib
import urllib.error
import urllib.parse
import urllib.request

from shlax_front.backend.cachetransfer.registryauth import RegistryAuth

TIMEOUT = 30
CERTS_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")
#: pages of the tag list read at most (a registry answers 100 or more tags a page)
MAX_PAGES = 50


class TagListFailed(Exception):
    """The tag list could not be read (the reason, without any credential)."""


def split_reference(repository: str) -> tuple[str, str]:
    """(host, repository path) of ``HOST/PATH``."""
    host, _, path = repository.partition("/")
    return host, path


def insecure(host: str) -> bool:
    """Whether registries.conf marks ``host`` insecure (v2 ``[[registry]]`` tables or v1's list)."""
    path = os.environ.get("CONTAINERS_REGISTRIES_CONF") or "/etc/containers/registries.conf"
    files = [path]
    if "CONTAINERS_REGISTRIES_CONF" not in os.environ:
        files += sorted(glob.glob("/etc/containers/registries.conf.d/*.conf"))
    found = False
    for name in files:
        try:
            with open(name, "rb") as f:
                conf = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for entry in conf.get("registry", []) or []:
            if isinstance(entry, dict) and host in (entry.get("location"), entry.get("prefix")):
                found = bool(entry.get("insecure", found))
        v1 = (conf.get("registries") or {}).get("insecure") or {}
        if isinstance(v1, dict) and host in (v1.get("registries") or []):
            found = True
    return found


def credentials(host: str, auth: RegistryAuth) -> str | None:
    """The ``auth`` value (base64 ``user:password``) for ``host`` from the auth file buildah would use."""
    candidates: list[str | None] = [auth.authfile]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates += [
        os.environ.get("REGISTRY_AUTH_FILE"),
        os.path.join(runtime, "containers", "auth.json")
        if runtime
        else f"/run/containers/{os.getuid()}/auth.json",
        os.path.expanduser("~/.docker/config.json"),
    ]
    for path in candidates:
        if not path:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                auths = json.load(f).get("auths", {})
        except (OSError, ValueError, AttributeError):
            continue
        for key, value in auths.items() if isinstance(auths, dict) else ():
            name = re.sub(r"^https?://", "", key).split("/", 1)[0]
            if name == host and isinstance(value, dict) and isinstance(value.get("auth"), str):
                return value["auth"]
    return None


def _tls_context(host: str, verify: bool) -> ssl.SSLContext:
    """Verifies as buildah does: Python 3.13's default strict mode refuses certificates Go's TLS accepts (a
    server certificate without an authority key identifier, as ``openssl x509 -req`` makes one), and then the
    tag list buildah itself can read would be missed."""
    context = ssl.create_default_context()
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    for base in CERTS_DIRS:
        for cert in sorted(glob.glob(os.path.join(base, host, "*.crt"))):
            with contextlib.suppress(OSError, ssl.SSLError):
                context.load_verify_locations(cert)
    return context


def _open(request: urllib.request.Request, context: ssl.SSLContext | None):
    """``urlopen`` with the proxy rule buildah's Go client has: the ``*_proxy`` variables, except for loopback
    hosts, which are always reached directly (a registry on 127.0.0.1 is not behind the build's proxy)."""
    host = urllib.parse.urlsplit(request.full_url).hostname or ""
    proxies = urllib.request.ProxyHandler({} if _loopback(host) else None)
    opener = urllib.request.build_opener(proxies, urllib.request.HTTPSHandler(context=context))
    return opener.open(request, timeout=TIMEOUT)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token(challenge: str, basic: str | None, context: ssl.SSLContext | None) -> str:
    """A bearer token from the realm a ``WWW-Authenticate: Bearer ...`` challenge names."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", "")
    if not realm.startswith(("https://", "http://")):
        raise TagListFailed("the registry asks for a token from an unusable realm")
    request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(fields)}")
    if basic:
        request.add_header("Authorization", f"Basic {basic}")
    try:
        with _open(request, context) as answer:
            data = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise TagListFailed(f"no token from the registry's realm ({type(err).__name__})") from None
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str):
        raise TagListFailed("the registry's realm gave no token")
    return token


def _get(url: str, basic: str | None, context: ssl.SSLContext | None) -> tuple[dict, str]:
    """The JSON body and Link header of one GET, authenticating as the registry's challenge asks."""
    headers: dict[str, str] = {"Accept": "application/json"}
    for _ in range(2):
        request = urllib.request.Request(url, headers=headers)
        try:
            with _open(request, context) as answer:
                return json.load(answer), answer.headers.get("Link", "")
        except urllib.error.HTTPError as err:
            challenge = err.headers.get("WWW-Authenticate", "") if err.code == 401 else ""
            if not challenge or "Authorization" in headers:
                if err.code == 404:
                    return {"tags": []}, ""
                raise TagListFailed(f"HTTP {err.code}") from None
            if challenge.lower().startswith("bearer"):
                headers["Authorization"] = f"Bearer {_token(challenge, basic, context)}"
            elif basic:
                headers["Authorization"] = f"Basic {basic}"
            else:
                raise TagListFailed("the registry wants a login and none is configured") from None
        except ValueError:
            raise TagListFailed("the registry's answer is not JSON") from None
    raise TagListFailed("authentication refused")


def list_tags(repository: str, auth: RegistryAuth) -> list[str]:
    """Every tag of ``HOST/PATH``; raises ``TagListFailed`` when the registry cannot be asked."""
    host, path = split_reference(repository)
    basic = credentials(host, auth)
    schemes: list[tuple[str, ssl.SSLContext | None]] = [
        ("https", _tls_context(host, verify=not insecure(host)))
    ]
    if insecure(host):
        schemes.append(("http", None))
    failure = "unreachable"
    for scheme, context in schemes:
        url = f"{scheme}://{host}/v2/{path}/tags/list?n=1000"
        tags: list[str] = []
        try:
            for _ in range(MAX_PAGES):
                data, link = _get(url, basic, context)
                tags += [t for t in data.get("tags") or [] if isinstance(t, str)]
                following = re.match(r"\s*<([^>]+)>", link or "")
                if not following:
                    return tags
                url = urllib.parse.urljoin(url, following.group(1))
            return tags
        except (urllib.error.URLError, OSError) as err:
            failure = type(err).__name__
            continue
    raise TagListFailed(failure)
