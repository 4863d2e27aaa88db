"""Config steps after a stage's last layer as bud commits them: one empty history entry each, no layer.

bud commits each config-only instruction (``USER``, ``EXPOSE``, ``CMD``...) with the Go API's
``CommitOptions.EmptyLayer``: the image keeps its parent's layers and gains a history entry with
``empty_layer: true``. A Containerfile ending ``RUN ...`` then ``USER``/``EXPOSE``/``CMD`` has, in bud's image, the
RUN's layer last, then one empty entry per config instruction.

The buildah CLI cannot commit that way (buildah 1.28.2 and 1.39.x, read in their source):

- ``buildah commit`` always adds the container's read-write layer: ``image.go`` skips it only for
  ``EmptyLayer``, which no flag sets; a container with no changes gives an empty tar (``EMPTY_LAYER``, 1024
  bytes) and a history entry that is not empty. That was the extra layer shlax-front's image had.
- History entries after the committed layer are the Builder's ``AppendedEmptyLayers``: Go API only, no CLI verb
  adds one. ``buildah config --add-history`` (and ``run``/``copy``'s) adds *prepended* entries, before the layer's
  own: the wrong order, and the layer is still added.
- ``commit --omit-history`` drops the whole history; 1.39's ``commit --change``/``--config`` set config only.
- Folding the config into the RUN's own commit (as a last COPY's is, ``executor._folded``) adds no layer, but the
  RUN's key then covers the config (a changed ``CMD`` alone runs the RUN again) and still has no entries after
  the layer. Committing the RUN's container a second time, with the config, re-reads the whole layer (a cost in
  its size), has no way either to put entries after it, and after a ``CMD``-only change no container holds the
  RUN's files any more.

What is done instead (``without_empty_layer``): the config steps are committed as before (a container of the
last layer's image, their ``buildah config`` options, ``buildah commit``: buildah writes the config, its
``--timestamp``, labels and annotations), then that image is written again without its empty layer, its last
history entry replaced by one empty entry per config step (``created_by`` as bud writes it, the commit's time
and comment), and ``buildah pull dir:`` stores it. Every layer it names is already in the store: the storage
destination finds each by its digest and its parent and reuses it, so nothing is read or written but the two
small JSON files (the pull takes tens of milliseconds, whatever the layers' size). The committed image is then
removed (``buildah rmi``), while the container it was committed from still exists: ``rmi`` also removes the
removed image's parent when nothing names, uses or descends from it, and that parent is the RUN's image, cached
under its own key (the new image descends from it in layers, not in libimage's sense: it has more than one
history entry more). The cost: four buildah calls more than the commit alone (inspect, pull, rmi, and ``rm`` of
the container instead of ``commit --rm``), the same for a 300 MB layer as for a 6 KB one, only when the config
steps are built (a no-op finds the result in the layer index). The image is unnamed (``buildah pull dir:`` names
nothing on 1.28 and 1.39): the executor tags it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

#: the digest of an empty tar (two 512-byte zero blocks): what ``buildah commit`` of an unchanged container adds
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
#: what a ``dir:`` directory says it is (containers/image's directory transport)
DIR_VERSION = "Directory Transport Version: 1.1\n"


def without_empty_layer(config: str, manifest: str, entries: Sequence[str]) -> tuple[bytes, bytes] | None:
    """The image config and manifest of a committed image (``buildah inspect``'s ``Config`` and ``Manifest``,
    as stored) without their last layer, the history's last entry replaced by an empty entry per line of
    ``entries``. None when the last layer is not the empty one or the two disagree: the committed image is kept
    (its files and config are right, with one layer more than bud's)."""
    if not entries:
        return None
    try:
        image, described = json.loads(config), json.loads(manifest)
        diff_ids, layers, history = image["rootfs"]["diff_ids"], described["layers"], image["history"]
    except (ValueError, KeyError, TypeError):
        return None
    if not (diff_ids and layers and history) or diff_ids[-1] != EMPTY_LAYER:
        return None
    if (
        layers[-1].get("digest") != EMPTY_LAYER
        or len(diff_ids) != len(layers)
        or history[-1].get("empty_layer")
    ):
        return None
    last = history.pop()
    diff_ids.pop()
    layers.pop()
    for line in entries:
        entry = {key: last[key] for key in ("created", "author") if key in last}
        entry["created_by"] = line
        if last.get("comment"):
            entry["comment"] = last["comment"]
        entry["empty_layer"] = True
        history.append(entry)
    blob = json.dumps(image, separators=(",", ":")).encode()
    described["config"] = {
        **described["config"],
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }
    return blob, json.dumps(described, separators=(",", ":")).encode()


def write_dir(path: str, config: bytes, manifest: bytes) -> None:
    """``path`` as a ``dir:`` image of ``manifest`` and ``config``, without the layers: ``buildah pull`` reuses
    the ones in the store and never asks for their blobs."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "version"), "w") as f:
        f.write(DIR_VERSION)
    with open(os.path.join(path, "manifest.json"), "wb") as f:
        f.write(manifest)
    with open(os.path.join(path, hashlib.sha256(config).hexdigest()), "wb") as f:
        f.write(config)
