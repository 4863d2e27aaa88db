"""Package files in a registry: images whose file tree is a cache directory, ``REPO:packages`` the shared one.

The image's files are the layout of ``localcache`` (``blobs/sha256/<hex>``, ``index/v1.json``). An export starts
a container from the image the registry holds, adds only the package files it lacks and a new index (one new
layer with just those), commits and pushes it: the registry receives the new layer, the layers it has are not
sent again. An import pulls the image and copies what this host lacks, each file hashed back to its digest first.

Two runners exporting at once: each one's image is pushed twice, as ``REPO:packages`` (the last push wins that
tag) and under a tag of its own, ``REPO:packages-<id>`` (``id`` from the content of its index), which nobody
else overwrites. An index lists in ``exports`` every such tag whose files it holds. An importer (and the next
exporter) asks the registry for its tag list and also reads each ``packages-<id>`` the shared image does not
list, so the files of an export that lost the race for ``REPO:packages`` are found all the same, and the next
export folds them back into the shared image. When the tag list cannot be read, only ``REPO:packages`` is used
(with a warning).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachetransfer import registryapi
from shlax_front.backend.cachetransfer.layers import FAST_COMPRESSION, NOT_THERE, run_buildah
from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.cachetransfer.packages import Transferred, export_files, import_files
from shlax_front.backend.cachetransfer.registryauth import RegistryAuth

log = logging.getLogger(__name__)

#: tags of the exports, one each: ``REPO:packages-<16 hex digits>``
EXPORT_PREFIX = "packages-"


def packages_tag(repository: str, tag: str = "packages") -> str:
    return f"{repository}:{tag}"


@contextlib.contextmanager
def _mounted(
    buildah: Buildah,
    auth: RegistryAuth,
    repository: str,
    create: bool,
    keep: bool = False,
    tag: str = "packages",
) -> Iterator[tuple[str, Path] | None]:
    """(container, mount point) of the registry's packages image ``tag``; a scratch container when it has none
    and ``create``; None when it has none and not ``create``. With ``keep`` the pulled image stays in the store
    (the export that follows an import of the same repository then pulls nothing again)."""
    ref = packages_tag(repository, tag)
    pulled = run_buildah(buildah, "pull", "--quiet", *auth.flags(), f"docker://{ref}", check=False)
    image = (
        pulled.stdout.strip().splitlines()[-1] if pulled.returncode == 0 and pulled.stdout.strip() else None
    )
    if image is None and not create:
        said = (pulled.stderr.strip().splitlines() or ["?"])[-1]
        if not any(words in said.lower() for words in NOT_THERE):
            log.warning("cache %s: package files not imported: %s", ref, said)
        yield None
        return
    made = run_buildah(buildah, "from", "--quiet", "--pull=never", image or "scratch")
    container = made.stdout.strip().splitlines()[-1]
    try:
        mountpoint = run_buildah(buildah, "mount", container).stdout.strip()
        yield container, Path(mountpoint)
    finally:
        run_buildah(buildah, "rm", container, check=False)
        if image and not keep:
            run_buildah(buildah, "rmi", image, check=False)


def _exports(index: dict) -> list[str]:
    listed = index.get("exports")
    return [t for t in listed if isinstance(t, str)] if isinstance(listed, list) else []


def _unlisted_exports(auth: RegistryAuth, repository: str, listed: list[str]) -> list[str]:
    """The ``packages-<id>`` tags of the repository that ``listed`` (the shared image's exports) lacks."""
    try:
        tags = registryapi.list_tags(repository, auth)
    except registryapi.TagListFailed as err:
        log.warning(
            "cache %s: its tag list cannot be read (%s): package files exported at the same moment by another "
            "runner may be missed",
            repository,
            err,
        )
        return []
    known = set(listed)
    return sorted(t for t in tags if t.startswith(EXPORT_PREFIX) and t not in known)


def import_packages(
    buildah: Buildah, auth: RegistryAuth, repository: str, cache_root: Path, keep: bool = False
) -> Transferred:
    moved = Transferred()
    listed: list[str] = []
    with _mounted(buildah, auth, repository, create=False, keep=keep) as found:
        if found is not None:
            cache = LocalCache(found[1])
            index = cache.read_index()
            listed = _exports(index)
            moved = import_files(cache, index["files"], cache_root)
    for tag in _unlisted_exports(auth, repository, listed):
        with _mounted(buildah, auth, repository, create=False, tag=tag) as side:
            if side is not None:
                cache = LocalCache(side[1])
                more = import_files(cache, cache.read_index()["files"], cache_root)
                moved.files, moved.bytes = moved.files + more.files, moved.bytes + more.bytes
    if found is None and not moved.files:
        log.info("cache %s: no package files yet", packages_tag(repository))
    return moved


def _fold_in(
    buildah: Buildah, auth: RegistryAuth, repository: str, tag: str, cache: LocalCache
) -> dict | None:
    """Copy the files of export ``tag`` that ``cache`` lacks into it (each checked against its digest); their
    index entries, or None when the export cannot be read."""
    with _mounted(buildah, auth, repository, create=False, tag=tag) as side:
        if side is None:
            return None
        other = LocalCache(side[1])
        entries = {}
        for name, entry in other.read_index()["files"].items():
            if not cache.has_blob(entry["digest"]):
                blob = other.verified_blob(entry["digest"])
                if blob is None or cache.put_file(blob)[0] != entry["digest"]:
                    continue
            entries[name] = entry
        return entries


def export_packages(buildah: Buildah, auth: RegistryAuth, repository: str, cache_root: Path) -> Transferred:
    with _mounted(buildah, auth, repository, create=True) as found:
        assert found is not None
        container, mountpoint = found
        cache = LocalCache(mountpoint)
        index = cache.read_index()
        listed = _exports(index)
        folded: dict[str, dict] = {}
        for tag in _unlisted_exports(auth, repository, listed):
            entries = _fold_in(buildah, auth, repository, tag, cache)
            if entries is not None:
                folded.update({n: e for n, e in entries.items() if n not in index["files"]})
                listed.append(tag)
        entries, moved = export_files(cache, cache_root, index["files"])
        if not moved.files and not folded and cache.index_path.exists():
            return moved
        files = {**index["files"], **folded, **entries}
        own = (
            EXPORT_PREFIX
            + hashlib.sha256(json.dumps([files, listed], sort_keys=True).encode()).hexdigest()[:16]
        )

        def update(data: dict) -> None:
            data["files"].update(folded)
            data["files"].update(entries)
            data["exports"] = sorted({*_exports(data), *listed, own})

        cache.merge_index(update)
        with contextlib.suppress(FileNotFoundError):
            (mountpoint / "index" / "v1.lock").unlink()
        committed = run_buildah(buildah, "commit", "--quiet", "--format", "oci", container)
        image = committed.stdout.strip().splitlines()[-1]
        try:
            # its own tag first: once it is there, no later push to the shared tag can lose these files
            for tag in (own, "packages"):
                run_buildah(
                    buildah,
                    "push",
                    "--quiet",
                    *FAST_COMPRESSION,
                    *auth.flags(),
                    image,
                    f"docker://{packages_tag(repository, tag)}",
                )
        finally:
            run_buildah(buildah, "rmi", image, check=False)
        return moved


def records_tag(repository: str) -> str:
    return f"{repository}:incremental"


#: the label of ``REPO:incremental`` that holds the incremental-layer records (a JSON object)
RECORDS_LABEL = "io.shlax-front.incremental"


def pull_records(buildah: Buildah, auth: RegistryAuth, repository: str) -> dict:
    """The incremental-layer records the repository holds (``{}`` when it has none or they are unreadable).
    They ride in a label of a tiny image, so reading them costs one small pull, not the package files."""
    ref = records_tag(repository)
    pulled = run_buildah(buildah, "pull", "--quiet", *auth.flags(), f"docker://{ref}", check=False)
    image = (
        pulled.stdout.strip().splitlines()[-1] if pulled.returncode == 0 and pulled.stdout.strip() else None
    )
    if image is None:
        return {}
    try:
        info = buildah.inspect_image(image) or {}
        labels = (info.get("OCIv1", {}).get("config") or {}).get("Labels") or {}
        records = json.loads(labels.get(RECORDS_LABEL, "{}"))
    except (ValueError, AttributeError):
        records = {}
    finally:
        run_buildah(buildah, "rmi", image, check=False)
    return records if isinstance(records, dict) else {}


def push_records(buildah: Buildah, auth: RegistryAuth, repository: str, records: dict) -> None:
    """Replace ``REPO:incremental`` with an image whose label holds ``records``. Two exports at once: the last
    one wins; a record lost so costs a full build of that step once, never a wrong layer."""
    made = run_buildah(buildah, "from", "--quiet", "scratch")
    container = made.stdout.strip().splitlines()[-1]
    try:
        label = json.dumps(records, sort_keys=True, separators=(",", ":"))
        run_buildah(buildah, "config", "--label", f"{RECORDS_LABEL}={label}", container)
        image = run_buildah(buildah, "commit", "--quiet", "--rm", "--format", "oci", container)
        container = ""
        image_id = image.stdout.strip().splitlines()[-1]
        try:
            run_buildah(
                buildah, "push", "--quiet", *auth.flags(), image_id, f"docker://{records_tag(repository)}"
            )
        finally:
            run_buildah(buildah, "rmi", image_id, check=False)
    finally:
        if container:
            run_buildah(buildah, "rm", container, check=False)
