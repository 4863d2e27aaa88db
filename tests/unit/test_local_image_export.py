"""The local cache export writes a step image's manifest from blobs a longer image's push made (no buildah push,
no compression again), and pushes whatever it cannot write that way."""

from __future__ import annotations

import hashlib
import json

from shlax_front.backend.cachetransfer import layers
from shlax_front.backend.cachetransfer.localcache import LocalCache
from shlax_front.backend.cachetransfer.localimages import LocalImageExport

ANNOTATIONS = {"org.opencontainers.image.base.name": "docker.io/library/debian:bookworm"}


def _config(diff_ids: list[str], marker: str) -> bytes:
    return json.dumps({"rootfs": {"type": "layers", "diff_ids": diff_ids}, "marker": marker}).encode()


class _Store:
    """inspect_image of a fake image store: image id -> (config bytes, annotations)."""

    def __init__(self):
        self.images: dict[str, tuple[bytes, dict]] = {}

    def add(self, diff_ids: list[str], marker: str, config: bytes | None = None) -> str:
        config = config or _config(diff_ids, marker)
        image = hashlib.sha256(_config(diff_ids, marker)).hexdigest()
        self.images[image] = (config, ANNOTATIONS)
        return image

    def inspect_image(self, image: str) -> dict | None:
        config, annotations = self.images[image]
        return {"Config": config.decode(), "ImageAnnotations": annotations}


def _fake_push(store: _Store, pushed: list[str]):
    """buildah push into the cache: compressed layer blobs (made up) and an OCI manifest naming them."""

    def push_local(buildah, cache: LocalCache, image: str, key: str, fmt: str) -> str:
        pushed.append(key)
        cache.root.mkdir(parents=True, exist_ok=True)
        config, annotations = store.images[image]
        descriptors = []
        for diff_id in json.loads(config)["rootfs"]["diff_ids"]:
            path = cache.root / "layer"
            path.write_bytes(b"gzip of " + diff_id.encode())
            digest, _ = cache.put_file(path)
            descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest})
        path = cache.root / "config"
        path.write_bytes(config)
        config_digest, _ = cache.put_file(path)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest},
            "layers": descriptors,
            "annotations": annotations,
        }
        path.write_bytes(json.dumps(manifest).encode())
        return cache.put_file(path)[0]

    return push_local


def test_the_longest_image_is_pushed_and_the_shorter_ones_are_written(tmp_path, monkeypatch):
    store, pushed = _Store(), []
    monkeypatch.setattr(layers, "push_local", _fake_push(store, pushed))
    first = store.add(["sha256:aa"], "first")
    second = store.add(["sha256:aa", "sha256:bb"], "second")
    cache = LocalCache(tmp_path / "cache")
    manifests = LocalImageExport(store, cache, "oci").export({"k1": first, "k2": second})
    assert pushed == ["k2"]
    written = json.loads(cache.blob_path(manifests["k1"]).read_bytes())
    pushed_manifest = json.loads(cache.blob_path(manifests["k2"]).read_bytes())
    assert written["layers"] == pushed_manifest["layers"][:1]
    assert written["config"]["digest"] == f"sha256:{first}"
    assert cache.blob_path(written["config"]["digest"]).read_bytes() == store.images[first][0]
    assert written["annotations"] == ANNOTATIONS and written["mediaType"] == pushed_manifest["mediaType"]


def test_an_image_with_an_unknown_layer_or_a_config_that_is_not_its_id_is_pushed(tmp_path, monkeypatch):
    store, pushed = _Store(), []
    monkeypatch.setattr(layers, "push_local", _fake_push(store, pushed))
    tip = store.add(["sha256:aa", "sha256:bb"], "tip")
    other = store.add(["sha256:cc"], "other")  # another chain: its layer is in no push before it
    changed = store.add(["sha256:aa"], "changed", config=_config(["sha256:aa"], "not the id's config"))
    LocalImageExport(store, LocalCache(tmp_path / "cache"), "oci").export(
        {"t": tip, "o": other, "c": changed}
    )
    assert pushed == ["t", "o", "c"]
