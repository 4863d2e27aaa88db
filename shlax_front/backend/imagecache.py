"""What ``buildah inspect`` said of a FROM image, remembered by image id so that a rebuild need not ask again.

A no-op rebuild is a handful of buildah calls, each a process that locks the image store; the inspect of the
base image is one of them. An image id is the digest of the image's config, so the same id gives the same
answer. What a *name* stands for changes (a pull, a tag), so the name is resolved on every build from the one
image listing the build makes anyway (``Buildah.image_names``): a remembered answer counts only when the listing
shows exactly one image with a name the reference can stand for (``debian:bookworm``: a listed name ending in
``/debian:bookworm``) and that image is the remembered one. Anything else (a digest or an id as reference, two
candidates, a name not listed, a damaged file) is asked of buildah as before.

Under the cache root: ``images/<sha256 of the reference>.json``, written whole (temporary file and rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from shlax_front.backend.store import CacheDirError, write_atomic

#: ``buildah images`` as every reader of the listing asks it: one ``<id> <name>:<tag>`` line an image and name
IMAGE_LISTING = ("images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Name}}:{{.Tag}}")


def image_names(listing: str) -> dict[str, set[str]]:
    """Image id -> its names, read from the output of ``IMAGE_LISTING`` (a nameless image: an empty set)."""
    names: dict[str, set[str]] = {}
    for line in listing.splitlines():
        image, _, name = line.strip().partition(" ")
        if image:
            listed = names.setdefault(image.removeprefix("sha256:"), set())
            if name.strip() and name.strip() != "<none>:<none>":
                listed.add(name.strip())
    return names


def listed_image(ref: str, names: dict[str, set[str]]) -> str | None:
    """The id of the one listed image ``ref`` can name, or None (not listed, ambiguous, not a plain name)."""
    if "@" in ref or not ref or ref != ref.strip():
        return None
    last = ref.rsplit("/", 1)[-1]
    full = ref if ":" in last else ref + ":latest"
    first = full.split("/", 1)[0]
    qualified = "/" in full and ("." in first or ":" in first or first == "localhost")
    matches = {
        image
        for image, listed in names.items()
        if any(name == full or (not qualified and name.endswith("/" + full)) for name in listed)
    }
    return matches.pop() if len(matches) == 1 else None


class InspectCache:
    """``buildah inspect`` answers of named images, kept under ``directory`` and checked against ``names``
    (image id -> names, this build's listing)."""

    def __init__(self, directory: Path, names: dict[str, set[str]]):
        self.directory = directory
        self.names = names

    def _path(self, ref: str) -> Path:
        return self.directory / (hashlib.sha256(ref.encode()).hexdigest()[:32] + ".json")

    def get(self, ref: str) -> dict | None:
        """The remembered answer for ``ref`` when the listing says it still names that image, else None."""
        image = listed_image(ref, self.names)
        if image is None:
            return None
        try:
            record = json.loads(self._path(ref).read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("ref") != ref or record.get("image") != image:
            return None
        info = record.get("inspect")
        if not isinstance(info, dict) or str(info.get("FromImageID", "")).removeprefix("sha256:") != image:
            return None
        return info

    def put(self, ref: str, info: dict | None) -> None:
        """Remember what buildah answered for ``ref``, when the listing names the same image (a cache directory
        that cannot be written costs the next build one inspect, never this build)."""
        if info is None:
            return
        image = str(info.get("FromImageID", "")).removeprefix("sha256:")
        if not image or listed_image(ref, self.names) != image:
            return
        record = {"ref": ref, "image": image, "inspect": info}
        with contextlib.suppress(OSError, CacheDirError):
            write_atomic(self._path(ref), json.dumps(record, separators=(",", ":")))
