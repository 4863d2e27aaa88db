"""Same files and same image config as ``buildah bud --layers --format docker``, case by case.

Cases are the folders under ``fixtures/build/`` that bud can build (heredoc cases are checked elsewhere:
buildah 1.28 cannot parse heredocs, which is why shlax-front lowers them itself).
"""

from __future__ import annotations

import pytest
from buildah_tools import FIXTURES, bud, diff_trees, file_tree, forget_layers, image_config, shlax

CASES = sorted(
    p.name for p in FIXTURES.iterdir() if (p / "Containerfile").exists() and not p.name.startswith("heredoc")
)
# paths buildah (either way) writes for its own run-time mounts; their mtimes/contents differ per container
VOLATILE = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/run/.containerenv")


#: files whose content records when and how a tool ran (timestamps, command lines): compared without content
LOGS = ("/var/log/",)


def _trees(ref: str) -> dict:
    tree = file_tree(ref)
    return {k: (v[:4] if k.startswith(LOGS) else v) for k, v in tree.items() if k not in VOLATILE}


@pytest.mark.parametrize("case", CASES)
def test_same_image_as_buildah_bud(case, base_images, buildah_cleanup, tmp_path):
    folder = FIXTURES / case
    ours, theirs = buildah_cleanup.tag("shlax-eq"), buildah_cleanup.tag("bud-eq")
    try:
        shlax("build", "-t", ours, "-f", str(folder / "Containerfile"), str(folder), cache_dir=tmp_path)
        bud(folder / "Containerfile", folder, theirs, cleanup=buildah_cleanup)
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_trees(ours), _trees(theirs)) == []
    finally:
        forget_layers(tmp_path)


def test_target_stage_same_as_bud(base_images, buildah_cleanup, tmp_path):
    folder = FIXTURES / "multistage"
    ours, theirs = buildah_cleanup.tag("shlax-eq"), buildah_cleanup.tag("bud-eq")
    try:
        result = shlax(
            "build",
            "--target",
            "final",
            "-t",
            ours,
            "-f",
            str(folder / "Containerfile"),
            str(folder),
            cache_dir=tmp_path,
        )
        assert "never" not in result.stderr  # the unused stage is not built
        bud(folder / "Containerfile", folder, theirs, "--target", "final", cleanup=buildah_cleanup)
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_trees(ours), _trees(theirs)) == []
    finally:
        forget_layers(tmp_path)
