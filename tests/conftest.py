"""Shared pytest fixtures.

Real-buildah tests need the local base images (``docker.io/library/debian:bookworm`` and
``docker.io/library/busybox:latest``), made by ``tests/images/make_base_images.sh`` because no registry is reachable
here. The ``base_images`` fixture calls it once per session (it is a no-op when the images exist) and FAILS rather
than skips when buildah is missing: CI must run these tests.

Other people's builds share the image store, so ``buildah_cleanup`` removes only what a test registered (containers
by name, images by the unique tags ``unique_tag`` hands out).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE_BASE_IMAGES = ROOT / "tests" / "images" / "make_base_images.sh"
DEBIAN = "docker.io/library/debian:bookworm"
BUSYBOX = "docker.io/library/busybox:latest"

os.environ.setdefault("BUILDAH_ISOLATION", "chroot")
BUILDAH_TESTS = ROOT / "tests" / "buildah"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """The folder sets the marker: everything under tests/buildah/ builds with real buildah (``-m buildah``),
    tests/unit/ needs none. Marked before ``-m`` selects."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(BUILDAH_TESTS):
            item.add_marker(pytest.mark.buildah)


@pytest.fixture(scope="session")
def base_images() -> dict[str, str]:
    """Make sure the local base images exist; returns {"debian": ref, "busybox": ref}."""
    if shutil.which("buildah") is None:
        pytest.fail(
            "buildah is not installed: real-buildah tests must run (apt-get install buildah debootstrap)"
        )
    subprocess.run(["sh", str(MAKE_BASE_IMAGES)], check=True)
    return {"debian": DEBIAN, "busybox": BUSYBOX}


def unique_tag(prefix: str = "shlax-test") -> str:
    """An image name nobody else on this machine uses: ``localhost/<prefix>-<random>:latest``."""
    return f"localhost/{prefix}-{uuid.uuid4().hex[:12]}:latest"


class BuildahCleanup:
    """Remembers what a test created and removes exactly that afterwards."""

    def __init__(self) -> None:
        self.images: list[str] = []
        self.containers: list[str] = []
        self.layer_ids: list[str] = []

    def image(self, ref: str) -> str:
        self.images.append(ref)
        return ref

    def tag(self, prefix: str = "shlax-test") -> str:
        return self.image(unique_tag(prefix))

    def layers(self, ids: list[str]) -> None:
        """Untagged step images a build left behind (``buildah bud --layers``), removed after the named images."""
        self.layer_ids.extend(ids)

    def container(self, name: str) -> str:
        self.containers.append(name)
        return name

    def working_container(self, image: str) -> str:
        """A new working container of a local ``image`` (never pulled), removed at teardown."""
        made = subprocess.run(
            ["buildah", "from", "--pull=never", "--quiet", image], capture_output=True, text=True, check=True
        )
        return self.container(made.stdout.strip())

    def run(self) -> None:
        for name in self.containers:
            subprocess.run(["buildah", "rm", name], capture_output=True)
        for ref in reversed(self.images):
            subprocess.run(["buildah", "rmi", "-f", ref], capture_output=True)
        for ref in reversed(self.layer_ids):  # children before parents; a tagged one (not ours) stays
            subprocess.run(["buildah", "rmi", ref], capture_output=True)


@pytest.fixture
def buildah_cleanup():
    """Register containers/images a test creates (``cleanup.tag()`` gives a fresh unique tag); removed at teardown."""
    cleanup = BuildahCleanup()
    yield cleanup
    cleanup.run()
