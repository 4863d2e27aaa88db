"""Config-only steps as bud commits them: one empty history entry each, no layer.

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

Config steps in the middle of a stage (ENV/WORKDIR/ARG/USER before a RUN, LABEL before a COPY) and after a
stage's last COPY (folded into its commit, ``executor._folded``) get their empty entries the same way, once per
stage image whose history a user sees - the build's image and any stage a later ``FROM`` builds on (its history
is the child's start) - not once per layer commit (``with_entries``): each of the stage's layers keeps its own
image under its own key (a changed CMD alone still runs nothing again; a later step builds on it), and the
stage's image with every entry in place is stored by the one rewrite above, recorded under a key of its own
(``history_key``: the last step's key and the entries, which an ARG's wording alone can change), so a no-op
finds it in the layer index with no buildah call. When the stage ends with config steps after a RUN, that
rewrite is the one the trailing steps already paid for (no call more); when it ends with a layer (a RUN, or a
COPY and its folded config steps), it is an inspect and a ``pull dir:`` (and a tag: the pulled image has no
name), on a cold build as on a late edit (``late_edit``). Stages only read by ``COPY --from`` or ``RUN --mount
from=`` are not given them: only their files are read.

Why not ``buildah config --add-history`` (1.28.2 and 1.39 ``cmd/buildah/config.go``): its entries are
*prepended* ones, written before the next commit's own entry, which fits the order, but their text is made by
buildah from the flags' values (``conditionallyAddHistory``: ``ENV`` of every ``--env`` of the call joined,
``EXPOSE`` of the ports as given, ``LABEL`` unquoted...), one per kind of flag in buildah's order rather than
one per instruction in the file's (two ENV steps folded into one call are one entry), none for ARG (no flag),
no comment: bud's lines (the instruction as written, ARG's list of names) cannot be carried. Entries inserted
into the stored config can.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

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
    return with_entries(config, manifest, (), entries, drop_last=True)


def with_entries(
    config: str,
    manifest: str,
    gaps: Sequence[Sequence[str]],
    trailing: Sequence[str],
    drop_last: bool = False,
    base_comment_first: bool = False,
) -> tuple[bytes, bytes] | None:
    """The config and manifest of a stage's image with bud's empty entries in its history: ``gaps`` has one
    item per layer the stage added (its last ``len(gaps)`` non-empty entries, in order), the lines bud writes
    just before that layer's entry; ``trailing`` the lines after the last one. ``drop_last``: the image's last
    layer is the empty one a commit of config steps added (``without_empty_layer``): it goes, and its entry's
    time, author and comment go to the trailing lines. An inserted entry takes the time, author and comment of
    the entry it precedes (trailing ones: of the last entry); ``base_comment_first`` (buildah 1.39's bud): only
    the stage's first entry has the comment its first layer had (``FROM <base>``), the entries after it none,
    the first layer's included (1.28's bud gives every entry ``FROM <id of the image before it>``, ids of its
    own images: the comment of the layer an entry precedes stands in). None when nothing is to be inserted or the image
    is not as expected (the history's non-empty entries are not one per layer, fewer than ``gaps``...): the
    caller keeps the image as it is, never a guess."""
    if not any(gaps) and not trailing:
        return None
    try:
        image, described = json.loads(config), json.loads(manifest)
        diff_ids, layers, history = image["rootfs"]["diff_ids"], described["layers"], image["history"]
        if not (isinstance(diff_ids, list) and isinstance(layers, list) and isinstance(history, list)):
            return None
        if not all(isinstance(entry, dict) for entry in history) or len(diff_ids) != len(layers):
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if drop_last:
        if not (diff_ids and history) or diff_ids[-1] != EMPTY_LAYER or history[-1].get("empty_layer"):
            return None
        if layers[-1].get("digest") != EMPTY_LAYER:
            return None
        last = history.pop()
        diff_ids.pop()
        layers.pop()
    filled = [i for i, entry in enumerate(history) if not entry.get("empty_layer")]
    if len(filled) != len(diff_ids) or len(gaps) > len(filled) or not history:
        return None
    if not drop_last:
        last = history[-1]
    edited: list[dict] = []
    first = len(filled) - len(gaps)
    layer_at = {place: n for n, place in enumerate(filled[first:])} if gaps else {}
    for place, entry in enumerate(history):
        if place in layer_at:
            lines = gaps[layer_at[place]]
            edited += [_empty(line, entry) for line in lines]
            if base_comment_first and layer_at[place] == 0 and lines:
                for later in edited[len(edited) - len(lines) + 1 :]:
                    later.pop("comment", None)
                entry.pop("comment", None)
        edited.append(entry)
    edited += [_empty(line, last) for line in trailing]
    image["history"] = edited
    blob = json.dumps(image, separators=(",", ":")).encode()
    described["config"] = {
        **described["config"],
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }
    return blob, json.dumps(described, separators=(",", ":")).encode()


def _empty(line: str, beside: dict) -> dict:
    """bud's empty entry for a config step: ``line`` as ``created_by``, the time, author and comment of
    ``beside``."""
    entry = {key: beside[key] for key in ("created", "author") if key in beside}
    entry["created_by"] = line
    if beside.get("comment"):
        entry["comment"] = beside["comment"]
    entry["empty_layer"] = True
    return entry


def history_key(key: str, gaps: Sequence[Sequence[str]], entries: Sequence[str]) -> str:
    """The layer index's key of a stage image given bud's empty entries (``with_entries``): its last step's key
    and the entries, which an ARG's wording alone (the build args given) can change."""
    from shlax_front.backend.keys import step_key

    return step_key(key, {"history": [list(gap) for gap in gaps], "trailing": list(entries)})


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


def store(buildah: Any, work: Any, config: bytes, manifest: bytes) -> str:
    """An image of ``config`` and ``manifest`` over layers the store already holds, stored by ``buildah pull``
    of a ``dir:`` written in a scratch directory of ``work`` (``WorkingContainers``) and removed after; its id.
    Raises what the pull or the directory raise. The executor's and the late edit's one way to do it."""
    path = work.scratch("shlax-front-image-")
    try:
        write_dir(path, config, manifest)
        return buildah.pull_dir(path).removeprefix("sha256:")
    finally:
        shutil.rmtree(path, ignore_errors=True)
