"""What ``ADD http://...`` reads, for the layer key: the digest of the remote file's content.

buildah downloads an ``ADD`` URL at every build, so a changed file is a changed layer; keying the URL's text
alone kept the old layer. The key is the content's sha256, fetched here; to avoid fetching an unchanged file
again, the server's validators (``ETag``, ``Last-Modified``) are kept with the digest under
``<cache root>/remote/`` and sent back (``If-None-Match``, ``If-Modified-Since``): a ``304 Not Modified`` keeps
the recorded digest. A server that gives no validator is read in full each time (as buildah does anyway).
``--offline`` uses the recorded digest without asking.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from shlax_front.backend.store import set_aside, write_atomic

if TYPE_CHECKING:
    import urllib.request

#: seconds without an answer before a fetch is given up
TIMEOUT = 60
USER_AGENT = "shlax-front (layer key of ADD)"


class RemoteError(Exception):
    """The remote file cannot be read (no such host, HTTP error, timeout...): ``str()`` says why, in a line."""


def remote_digest(root: Path, url: str, offline: bool = False) -> str:
    """``sha256:<hex>`` of the content at ``url`` now, asking the server only whether it changed when it told
    us how to ask (its ``ETag`` / ``Last-Modified``) last time."""
    path = root / "remote" / (hashlib.sha256(url.encode()).hexdigest() + ".json")
    known = _read(path)
    if offline:
        if known is None:
            raise RemoteError(f"{url}: --offline and never fetched before")
        return known["digest"]
    import urllib.error  # only a build with ADD <url> pays for loading http, ssl and email
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if known is not None and known.get("etag"):
        request.add_header("If-None-Match", known["etag"])
    if known is not None and known.get("last_modified"):
        request.add_header("If-Modified-Since", known["last_modified"])
    try:
        with _opener(url).open(request, timeout=TIMEOUT) as response:
            h = hashlib.sha256()
            for chunk in iter(lambda: response.read(1 << 20), b""):
                h.update(chunk)
            headers = response.headers
    except urllib.error.HTTPError as err:
        if err.code == 304 and known is not None:
            return known["digest"]
        raise RemoteError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise RemoteError(f"{url}: cannot fetch it ({reason})") from None
    record = {
        "url": url,
        "digest": "sha256:" + h.hexdigest(),
        "etag": headers.get("ETag"),
        "last_modified": headers.get("Last-Modified"),
    }
    write_atomic(path, json.dumps(record, sort_keys=True) + "\n")
    return record["digest"]


def _opener(url: str) -> urllib.request.OpenerDirector:
    """The proxy variables apply as buildah (Go) applies them: never to the loopback host."""
    import urllib.parse
    import urllib.request

    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except OSError:
        return None
    except ValueError:  # not JSON, not UTF-8
        record = None
    if not (isinstance(record, dict) and isinstance(record.get("digest"), str)):
        set_aside(path, "not a remote file record (damaged)")
        return None
    return record
