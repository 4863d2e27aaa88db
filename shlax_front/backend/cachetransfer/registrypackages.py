"""Package files in a registry: one image, ``REPO:packages``, whose file tree is a cache directory.

The image's files are the layout of ``localcache`` (``blobs/sha256/<hex>``, ``index/v1.json``). An export starts
a container from the image the registry holds, adds only the package files it lacks and a new index (one new
layer with just those), commits and pushes it: the registry receives the new layer, the layers it has are not
sent again. An import pulls the image and copies what this host lacks, each file hashed back to its digest first.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachetransfer.layers import FAST_COMPRESSION, NOT_THERE, run_buildah
from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.cachetransfer.packages import Transferred, export_files, import_files
from shlax_front.backend.cachetransfer.registryauth import RegistryAuth

log = logging.getLogger(__name__)


def packages_tag(repository: str) -> str:
    return f"{repository}:packages"


@contextlib.contextmanager
def _mounted(
    buildah: Buildah, auth: RegistryAuth, repository: str, create: bool, keep: bool = False
) -> Iterator[tuple[str, Path] | None]:
    """(container, mount point) of the registry's packages image; a scratch container when it has none and
    ``create``; None when it has none and not ``create``. With ``keep`` the pulled image stays in the store
    (the export that follows an import of the same repository then pulls nothing again)."""
    ref = packages_tag(repository)
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


def import_packages(
    buildah: Buildah, auth: RegistryAuth, repository: str, cache_root: Path, keep: bool = False
) -> Transferred:
    with _mounted(buildah, auth, repository, create=False, keep=keep) as found:
        if found is None:
            log.info("cache %s: no package files yet", packages_tag(repository))
            return Transferred()
        cache = LocalCache(found[1])
        return import_files(cache, cache.read_index()["files"], cache_root)


def export_packages(buildah: Buildah, auth: RegistryAuth, repository: str, cache_root: Path) -> Transferred:
    with _mounted(buildah, auth, repository, create=True) as found:
        assert found is not None
        container, mountpoint = found
        cache = LocalCache(mountpoint)
        entries, moved = export_files(cache, cache_root, cache.read_index()["files"])
        if not moved.files and cache.index_path.exists():
            return moved
        cache.merge_index(lambda data: data["files"].update(entries))
        with contextlib.suppress(FileNotFoundError):
            (mountpoint / "index" / "v1.lock").unlink()
        committed = run_buildah(buildah, "commit", "--quiet", "--format", "oci", container)
        image = committed.stdout.strip().splitlines()[-1]
        try:
            run_buildah(
                buildah,
                "push",
                "--quiet",
                *FAST_COMPRESSION,
                *auth.flags(),
                image,
                f"docker://{packages_tag(repository)}",
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
