"""Step images into a local cache directory, each layer compressed once per export.

The step images of a build form chains: each starts from the image of the step before it, so its layers are
the earlier image's layers plus its own. ``buildah push`` into an OCI layout compresses every layer of the image
it is given, those the layout already holds included (it looks a blob up by the layer's uncompressed digest,
which a compressed blob is never named by), so pushing each of eight step images compressed the base layers
eight times: most of a fresh runner's export to a directory.

So the images are exported longest first. The first of a chain is pushed by buildah, and its manifest tells
which compressed blob holds each of its layers (a manifest's layers are its config's ``diff_ids``, in order).
An image whose layers are all known that way is written without buildah: its own config (the image id is that
config's digest, checked before it is used) and a manifest naming the known blobs, with the image's own
manifest annotations (buildah's commit names the base image there). Any other image (a layer not yet known, a
config that does not hash to the image id, annotations in a Docker manifest) is pushed as before. Import is
unchanged: it hashes every blob back to its digest and buildah checks each layer against the config's
``diff_ids``, so a manifest written here can only be a miss, never a wrong layer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachetransfer import layers
from shlax_front.backend.cachetransfer.localcache import LocalCache

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class StepImage:
    image: str
    #: the image's config exactly as stored (its sha256 is the image id), and the layers it lists
    config: bytes
    diff_ids: tuple[str, ...]
    #: the image's manifest annotations (buildah's commit names the base image there): written back as they are
    annotations: dict[str, str]


def read_step_image(buildah: Buildah, image: str) -> StepImage | None:
    """The config and layer list of ``image``; None when buildah cannot say (it is then pushed as before)."""
    info = buildah.inspect_image(image)
    if not info:
        return None
    try:
        config = str(info["Config"]).encode()
        diff_ids = tuple(json.loads(config)["rootfs"]["diff_ids"])
    except (KeyError, TypeError, ValueError):
        return None
    return StepImage(image, config, diff_ids, dict(info.get("ImageAnnotations") or {}))


class LocalImageExport:
    """Exports the step images of one build into ``cache``: ``export`` returns key -> manifest digest."""

    def __init__(self, buildah: Buildah, cache: LocalCache, fmt: str):
        self.buildah = buildah
        self.cache = cache
        self.fmt = fmt
        #: uncompressed layer digest -> the layer descriptor of a manifest buildah wrote in this export
        self.blobs: dict[str, dict] = {}
        #: a manifest buildah wrote in this export (its kind and media types are copied)
        self.model: dict | None = None
        self.pushed = 0

    def export(self, images: dict[str, str]) -> dict[str, str]:
        read = {key: read_step_image(self.buildah, image) for key, image in images.items()}
        order = sorted(images, key=lambda key: -_layer_count(read[key]))
        return {key: self._one(key, images[key], read[key]) for key in order}

    def _one(self, key: str, image: str, step: StepImage | None) -> str:
        if step is not None:
            written = self._written(step)
            if written is not None:
                return written
        manifest = layers.push_local(self.buildah, self.cache, image, key, self.fmt)
        self.pushed += 1
        if step is not None:
            self._learn(manifest, step)
        return manifest

    def _learn(self, manifest_digest: str, step: StepImage) -> None:
        """Which compressed blob holds each layer of ``step``, from the manifest buildah just wrote."""
        try:
            manifest = json.loads(self.cache.blob_path(manifest_digest).read_bytes())
            descriptors = manifest["layers"]
        except (OSError, KeyError, TypeError, ValueError):
            return
        if len(descriptors) != len(step.diff_ids) or manifest.get("annotations", {}) != step.annotations:
            return  # not the manifest this code would write for it: learn nothing from it
        self.blobs.update(zip(step.diff_ids, descriptors, strict=True))
        if self.model is None:
            self.model = {k: v for k, v in manifest.items() if k not in ("config", "layers", "annotations")}
            self.model["config"] = manifest["config"]

    def _written(self, step: StepImage) -> str | None:
        """The digest of a manifest written for ``step`` from known blobs, or None when buildah must push it."""
        if self.model is None or not all(d in self.blobs for d in step.diff_ids):
            return None
        if step.annotations and self.model.get("mediaType") != OCI_MANIFEST:
            return None  # only an OCI manifest holds annotations
        if hashlib.sha256(step.config).hexdigest() != step.image.removeprefix("sha256:"):
            return None
        config_digest = self.cache.put_bytes(step.config)
        manifest = {
            **self.model,
            "config": {**self.model["config"], "digest": config_digest, "size": len(step.config)},
            "layers": [self.blobs[d] for d in step.diff_ids],
            **({"annotations": step.annotations} if step.annotations else {}),
        }
        if not all(self.cache.has_blob(layer["digest"]) for layer in manifest["layers"]):
            return None
        return self.cache.put_bytes(json.dumps(manifest, separators=(",", ":")).encode())


def _layer_count(step: StepImage | None) -> int:
    return len(step.diff_ids) if step is not None else 0
