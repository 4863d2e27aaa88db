"""A working container given no config options describes itself as its image does: ``buildah inspect`` of the
container and of the image give the same OCI config (Env, User, WorkingDir...) and platform. The executor reads
a FROM image's container from the image's inspect the plan made (``Executor._known_info``: the apt cache's
partition, the apt stand-ins' PATH, the wheelhouse's user and working directory), instead of asking again."""

from __future__ import annotations

import json
import os
import subprocess

import pytest


def _inspect(kind: str, ref: str) -> dict:
    result = subprocess.run(["buildah", "inspect", "--type", kind, ref], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("base", ["debian", "busybox"])
def test_an_unconfigured_container_is_described_as_its_image(base, base_images):
    ref = base_images[base]
    name = f"shlax-test-config-{os.getpid()}-{base}"
    subprocess.run(
        ["buildah", "from", "--quiet", "--pull=never", "--name", name, ref], check=True, capture_output=True
    )
    try:
        image, container = _inspect("image", ref), _inspect("container", name)
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True)
    assert container["FromImageID"] == image["FromImageID"]
    assert container["OCIv1"]["config"] == image["OCIv1"]["config"]
    for key in ("architecture", "os", "variant"):
        assert container["OCIv1"].get(key) == image["OCIv1"].get(key)
