"""Incremental pip layers (``--incremental``) on real builds: requirements added to a ``pip install`` are installed on the previous
layer, and the image is the one a full build of the same step gives, file for file; where pip would leave
something else than a full install, the step is built in full.

The wheels are made here (a local ``--find-links`` directory, bind-mounted): ``dep`` 1.0 and 2.0, ``alpha``
and ``beta`` (both need ``dep``, ``beta`` has a console script) and ``gamma`` (needs ``dep>=2``). The layer
below the install holds ``dep`` 1.0, so adding ``gamma`` makes pip uninstall it from an earlier layer: the
whiteouts must leave the tree a full install leaves. The full build is the same install written with a
leading ``:`` (another step key, the same cached layers below). Only ``.pyc`` contents are not compared (they
hold the install time).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile

from buildah_tools import diff_trees, file_tree, forget_layers, image_config, shlax

PREFIX = """\
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && python3 -m venv /venv \
 && rm -rf /var/lib/apt/lists/*
"""
PIP = "RUN --mount=type=bind,source=wheels,target=/wheels {lead}/venv/bin/pip install --no-index --find-links /wheels"
OLD_DEP = PIP.format(lead="") + " dep==1.0\n"
INSTALL = PIP.format(lead="{lead}") + ' {packages}\nCMD ["/venv/bin/beta"]\n'


def _wheel(directory, name: str, version: str, requires: tuple[str, ...] = (), script: bool = False) -> None:
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n\ndef main():\n    print({name!r}, VERSION)\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if script:
        files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{name} = {name}:main\n"
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        for path, text in files.items():
            whl.writestr(zipfile.ZipInfo(path, (2024, 1, 1, 0, 0, 0)), text)


def _context(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "wheels").mkdir(parents=True)
    for version in ("1.0", "2.0"):
        _wheel(ctx / "wheels", "dep", version)
    _wheel(ctx / "wheels", "alpha", "1.0", ("dep>=1",))
    _wheel(ctx / "wheels", "beta", "1.0", ("dep>=1",), script=True)
    _wheel(ctx / "wheels", "gamma", "1.0", ("dep>=2",))
    return ctx


def _tree(ref: str) -> dict:
    return {
        path: entry[:4] if path.endswith(".pyc") else entry
        for path, entry in file_tree(ref).items()
        if not path.startswith("/var/log/")  # the layers below are the same ones; apt's own log aside
    }


def test_added_pip_requirements_build_on_the_previous_layer_as_a_full_build_would(
    tmp_path, base_images, buildah_cleanup
):
    ctx, cache = _context(tmp_path), tmp_path / "cache"
    containerfile = ctx / "Containerfile"
    try:
        containerfile.write_text(PREFIX + OLD_DEP + INSTALL.format(lead="", packages="alpha"))
        shlax("build", "--incremental", str(ctx), cache_dir=cache)
        # beta shares dep with alpha and has a console script; gamma needs dep 2.0: pip uninstalls the 1.0
        # an earlier layer holds
        containerfile.write_text(PREFIX + OLD_DEP + INSTALL.format(lead="", packages="alpha beta gamma"))
        incremental = buildah_cleanup.tag()
        added = shlax("build", "--incremental", "--explain", "-t", incremental, str(ctx), cache_dir=cache)
        assert "built incrementally: added beta gamma to the layer with alpha" in added.stderr

        # another script: no earlier layer of its install, built in full (and recorded, for the next case)
        containerfile.write_text(PREFIX + OLD_DEP + INSTALL.format(lead=": && ", packages="alpha beta gamma"))
        full = buildah_cleanup.tag()
        whole = shlax("build", "--incremental", "--explain", "-t", full, str(ctx), cache_dir=cache)
        assert "not incremental: no earlier layer of this install" in whole.stderr
        tree = _tree(incremental)
        assert "/venv/bin/beta" in tree and "/venv/lib/python3.11/site-packages/dep-2.0.dist-info" in tree
        assert diff_trees(tree, _tree(full)) == []
        assert image_config(incremental) == image_config(full)

        # dep 2.0 is in that full layer as gamma's dependency; naming dep too would mark it requested in a full
        # install (which upgrades the 1.0 below), pip does not for one it has: built in full, said why
        containerfile.write_text(
            PREFIX + OLD_DEP + INSTALL.format(lead=": && ", packages="alpha beta gamma dep")
        )
        named = shlax("build", "--incremental", "--explain", str(ctx), cache_dir=cache)
        assert "not incremental: the pip delta left dep 2.0 (a full install: 2.0, requested)" in named.stderr

        # -I installs alpha's dep again over the earlier layer's: its RECORD was not a full install's (the
        # names and versions pip reports were): built in full, said why
        containerfile.write_text(PREFIX + OLD_DEP + INSTALL.format(lead="", packages="-I alpha"))
        shlax("build", "--incremental", str(ctx), cache_dir=cache)
        containerfile.write_text(PREFIX + OLD_DEP + INSTALL.format(lead="", packages="-I alpha beta"))
        again = shlax("build", "--incremental", "--explain", str(ctx), cache_dir=cache)
        assert "not incremental: pip -I installs the earlier layer's distributions again" in again.stderr
    finally:
        forget_layers(cache)
