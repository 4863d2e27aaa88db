"""A FROM image with ONBUILD triggers, as bud builds FROM it: the triggers run once, as steps of the child build.

``buildah from`` (the CLI, ``cmd/buildah/from.go``'s ``onBuild()``, 1.28 and 1.39) runs the triggers of the
image it makes a working container of, itself: a ``COPY`` reads from buildah's working directory (the build fails:
"checking on sources under /"), a ``RUN`` is split on spaces and run without a shell. bud makes its containers
with buildah's library, which runs none of them there: bud runs each trigger as a step of the child build, as the
executor does (``Executor._from``, ``plan.Planner.onbuild_steps``). So a FROM image whose config has triggers is
not given to ``buildah from`` as it is: the working containers are made from a copy whose config says
``"OnBuild": []`` (nothing to run; the empty list bud's child image also has, and the CLI's own
``ClearOnBuild`` leaves), stored as ``emptylayers`` stores an edited image: its manifest and config in a ``dir:``
without layer blobs, ``buildah pull dir:`` (every layer is in the store already: tens of milliseconds). Only the
Docker config carries triggers: buildah drops them from an OCI-format image (it warns), so there is nothing to
copy then.

The copy is made only when a working container of the FROM image is needed (a no-op, whose trigger steps are
all cached, makes none), keeps the original's layers, history and every other field, and the FROM's cache key
stays the original image's: the copy is a detail of how containers are made. Its id is the digest of its config,
a function of the original's: however often it is made, there is never more than one copy per original image.

After the build (failed, interrupted or not) the copy is removed (``WorkingContainers.cleanup``, after the
containers), so no unnamed image is left in the store by it. ``buildah rmi`` also removes the removed image's
parent, in libimage's sense, when nothing names it and no other image descends from it; the copy's parent is the
original image's own parent (same layers, same history), which has the original as a child while it exists, so
it is never removed with the copy (measured on 1.28: an unnamed original, an unnamed layer under an original of
empty history entries, and a child image committed from the copy all stay). ``rmi`` without ``--force`` leaves an
image a container still uses (another build's): that build removes it at its own end.
"""

from __future__ import annotations

import hashlib
import json


def triggers(info: dict | None) -> list[str]:
    """The ONBUILD triggers of an image (``buildah inspect``): its Docker config's ``OnBuild``."""
    if not info:
        return []
    docker = info.get("Docker") or {}
    config = docker.get("config") or {}
    return list(config.get("OnBuild") or [])


def without_triggers(config: str, manifest: str) -> tuple[bytes, bytes] | None:
    """The image config and manifest of an image (``buildah inspect``'s ``Config`` and ``Manifest``, as stored)
    with an empty ``OnBuild``, the manifest naming the new config. None when the config has no triggers or
    either does not read as expected."""
    try:
        image, described = json.loads(config), json.loads(manifest)
        inner = image["config"]
        if not (isinstance(inner, dict) and inner.get("OnBuild")) or not isinstance(
            described["config"], dict
        ):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    inner["OnBuild"] = []
    blob = json.dumps(image, separators=(",", ":")).encode()
    described["config"] = {
        **described["config"],
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }
    return blob, json.dumps(described, separators=(",", ":")).encode()
