"""``shlax-front build -f shlaxfile.py``: a Python recipe builds like the Containerfile it stands for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from buildah_tools import FIXTURES, ROOT, diff_trees, file_tree, forget_layers, image_config, read_file, shlax

RECIPE = """\
from shlax_front import Buildah, Cmd, Container, Copy, Env, Run, Workdir

app = Container(
    build=Buildah(
        Env(pairs=(("GREETING", "costs \\\\$5"), ("PATH", "/app/bin:${PATH}"))),
        Workdir(path="/app"),
        Copy("hello.txt", "/app/"),
        Run(run="cat hello.txt > out.txt\\necho \\"$GREETING\\" >> out.txt"),
        Cmd(command=("cat", "/app/out.txt")),
        base="busybox",
        commit="{tag}",
    ),
)
"""


def test_recipe_builds_and_tags_its_commit(tmp_path, base_images, buildah_cleanup):
    tag = buildah_cleanup.tag("shlax-recipe")
    (tmp_path / "shlaxfile.py").write_text(RECIPE.replace("{tag}", tag))
    (tmp_path / "hello.txt").write_text("hello\n")
    try:
        # a recipe is Python run on this host: never picked up by itself, only when named with -f
        refused = shlax("build", str(tmp_path), cache_dir=tmp_path / "cache", check=False)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.count("\n") == 1 and "Python recipe" in refused.stderr
        assert f"-f {tmp_path / 'shlaxfile.py'}" in refused.stderr
        recipe = str(tmp_path / "shlaxfile.py")
        image = shlax("build", "-f", recipe, str(tmp_path), cache_dir=tmp_path / "cache").stdout.strip()
        assert read_file(tag, "/app/out.txt") == "hello\ncosts $5\n"
        config = image_config(tag)
        assert "GREETING=costs $5" in config["Env"] and config["Cmd"] == ["cat", "/app/out.txt"]
        # ${PATH} is the base image's PATH, resolved by the build, as in a Containerfile
        assert "PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in config["Env"]
        again = shlax("build", "-f", recipe, str(tmp_path), cache_dir=tmp_path / "cache")
        assert again.stdout.strip() == image and " built " not in again.stderr
    finally:
        forget_layers(tmp_path / "cache")


@pytest.mark.parametrize("case", ["multistage", "config-values"])
def test_migrated_recipe_builds_the_same_image(case, tmp_path, base_images, buildah_cleanup):
    folder = FIXTURES / case
    recipe = tmp_path / "shlaxfile.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "shlax_front",
            "migrate",
            "-f",
            str(folder / "Containerfile"),
            "-o",
            str(recipe),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    ours, theirs = buildah_cleanup.tag(), buildah_cleanup.tag()
    try:
        shlax("build", "-f", str(recipe), "-t", ours, str(folder), cache_dir=tmp_path / "cache")
        shlax("build", "-t", theirs, str(folder), cache_dir=tmp_path / "cache")
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(file_tree(ours), file_tree(theirs)) == []
    finally:
        forget_layers(tmp_path / "cache")
