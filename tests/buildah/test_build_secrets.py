"""Real-buildah tests for build secrets (``--secret`` + ``RUN --mount=type=secret``), ``ADD --checksum`` and
``COPY/ADD --exclude``.

Secrets are compared with ``buildah bud --secret`` (same flags, same Containerfile). bud 1.28 knows neither
``--checksum`` nor ``--exclude``: those images are compared with bud's build of the equivalent Containerfile
(the flag dropped; for ``--exclude`` the excluded files deleted from a copy of the context).

Cache keys: a secret's value is never part of a step's key (BuildKit and bud do not rebuild when a token is
rotated), its mount options are; the ``--checksum`` and the ``--exclude`` patterns are.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from buildah_tools import (
    bud,
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    mounted_image,
    read_file,
    shlax,
    statuses,
)

from shlax_front.backend import budversion

BUSYBOX = "docker.io/library/busybox:latest"
# paths buildah (either way) writes for its own run-time mounts; their contents differ per container
VOLATILE = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/run/.containerenv")


def _tree(ref: str) -> dict:
    return {k: v for k, v in file_tree(ref).items() if k not in VOLATILE}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _image_holds(ref: str, needle: bytes) -> list[str]:
    """Files of the image whose bytes contain ``needle`` (the whole tree is read)."""
    found = []
    with mounted_image(ref) as root:
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as f:
                        if needle in f.read():
                            found.append(os.path.relpath(path, root))
    return found


def _tree_holds(root: Path, needle: bytes) -> list[str]:
    found = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(str(path))
    return found


def _leftover_containers(cache: Path) -> set[str]:
    """shlax-front working containers made from a layer of the build using ``cache`` (a failing step after a
    built one starts from that layer: unlike a name check, other builds on this machine do not count)."""
    index = cache / "layers" / "index.json"
    images = (
        {e["image"] for e in json.loads(index.read_text())["entries"].values()} if index.exists() else set()
    )
    assert images, "the build committed no layer: put a RUN before the failing step"
    listing = subprocess.run(["buildah", "containers", "--json"], capture_output=True, text=True, check=True)
    return {
        c["containername"]
        for c in json.loads(listing.stdout or "[]") or ()  # buildah prints "null" when there is none
        if c["containername"].startswith("shlax-front-") and c["imageid"] in images
    }


def _secret_dirs() -> set[str]:
    return {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("shlax-front-secret-*")}


@pytest.fixture
def http_root(tmp_path):
    """A directory served over http on loopback (``buildah add`` downloads from the host)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


# -- secrets -------------------------------------------------------------------------------------------------


@pytest.fixture
def secret_project(tmp_path):
    """A context, two secret files with random values, and a Containerfile using them as bud 1.28 can."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    token = f"tok-{uuid.uuid4().hex}"
    config = f"cfg-{uuid.uuid4().hex}\n"
    (tmp_path / "token").write_text(token)
    (tmp_path / "config.ini").write_text(config)
    digest = hashlib.sha256(token.encode()).hexdigest()
    (ctx / "Containerfile").write_text(
        f"FROM {BUSYBOX}\n"
        # the RUN fails unless it sees the right value; only a digest of it is written in the file
        f"RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | grep -q '^{digest} '"
        " && stat -c '%a %u %g' /run/secrets/tok > /tok-stat\n"
        "RUN --mount=type=secret,id=cfg,target=/etc/app/cfg.ini,mode=0440,uid=7,gid=8"
        " stat -c '%a %u %g %s' /etc/app/cfg.ini > /cfg-stat\n"
        "RUN --mount=type=secret,id=absent ls -A /run/secrets > /absent-listing\n"
        "USER 65534\n"
        "RUN --mount=type=secret,id=tok,target=/tmp/nobody-tok,uid=65534 wc -c < /tmp/nobody-tok > /tmp/count\n"
    )
    return {
        "ctx": ctx,
        "token": token,
        "config": config,
        "flags": (
            "--secret",
            f"id=tok,src={tmp_path / 'token'}",
            "--secret",
            f"id=cfg,src={tmp_path / 'config.ini'}",
        ),
        "cache": tmp_path / "cache",
    }


def test_secret_mounts_same_image_as_bud(secret_project, base_images, buildah_cleanup):
    p = secret_project
    ours, theirs = buildah_cleanup.tag("shlax-secret"), buildah_cleanup.tag("bud-secret")
    try:
        shlax("build", *p["flags"], "-t", ours, str(p["ctx"]), cache_dir=p["cache"])
        bud(p["ctx"] / "Containerfile", p["ctx"], theirs, *p["flags"], cleanup=buildah_cleanup)
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_tree(ours), _tree(theirs)) == []
        # what the RUNs saw: the file at its target with the mount's mode and owner
        assert read_file(ours, "/tok-stat") == "400 0 0\n"
        assert read_file(ours, "/cfg-stat") == f"440 7 8 {len(p['config'])}\n"
        assert read_file(ours, "/tmp/count").strip() == str(len(p["token"]))
        assert read_file(ours, "/absent-listing") == ""  # an absent optional secret is not mounted
        # mount points are gone, their parents stay (as bud leaves them)
        tree = _tree(ours)
        assert "/run/secrets" in tree and "/etc/app" in tree
        assert (
            "/run/secrets/tok" not in tree
            and "/etc/app/cfg.ini" not in tree
            and "/tmp/nobody-tok" not in tree
        )
        # the values themselves are nowhere in the image, nor in the host cache / layer index
        assert _image_holds(ours, p["token"].encode()) == []
        assert _image_holds(ours, p["config"].strip().encode()) == []
        assert _tree_holds(p["cache"], p["token"].encode()) == []
    finally:
        forget_layers(p["cache"])


def test_secret_mount_points_left_as_bud_leaves_them(tmp_path, base_images, buildah_cleanup):
    """bud keeps a secret's mount point below /var/ and removes it elsewhere; 1.28 also deletes a target that was
    already in the image outside /var/ (the same as for its other mounts: buildah#4927), 1.39 keeps it."""
    (tmp_path / "tok").write_text("value")
    (tmp_path / "Containerfile").write_text(
        f"FROM {BUSYBOX}\n"
        "RUN mkdir -p /etc/pre /var/pre /run/secrets && echo old > /etc/pre/tok && echo old > /var/pre/tok"
        " && echo old > /run/secrets/existing\n"
        "RUN --mount=type=secret,id=s,target=/etc/pre/tok --mount=type=secret,id=s,target=/var/pre/tok"
        " --mount=type=secret,id=s,target=/var/newdir/tok --mount=type=secret,id=s,target=/var/newfile"
        " --mount=type=secret,id=s,target=/run/secrets/existing --mount=type=secret,id=s,target=/opt/new/tok"
        " cat /etc/pre/tok /var/pre/tok /run/secrets/existing /var/newfile\n"
    )
    flags = ("--secret", f"id=s,src={tmp_path / 'tok'}")
    ours, theirs = buildah_cleanup.tag("shlax-secret"), buildah_cleanup.tag("bud-secret")
    try:
        shlax("build", *flags, "-t", ours, str(tmp_path), cache_dir=tmp_path / "cache")
        bud(tmp_path / "Containerfile", tmp_path, theirs, *flags, cleanup=buildah_cleanup)
        tree = _tree(ours)
        assert diff_trees(tree, _tree(theirs)) == []
        assert "/var/newfile" in tree and "/var/pre/tok" in tree and "/opt/new" in tree
        assert "/opt/new/tok" not in tree
        assert ("/etc/pre/tok" in tree) is not budversion.installed().deletes_covered_secret_files
    finally:
        forget_layers(tmp_path / "cache")


def test_secret_value_is_not_in_the_cache_key(secret_project, base_images, buildah_cleanup, tmp_path):
    p = secret_project
    tag = buildah_cleanup.tag("shlax-secret")
    try:
        first = shlax("build", *p["flags"], "--explain", "-t", tag, str(p["ctx"]), cache_dir=p["cache"])
        assert statuses(first.stderr).count("built") == 4, first.stderr
        again = shlax("build", *p["flags"], "--explain", "-t", tag, str(p["ctx"]), cache_dir=p["cache"])
        assert "built" not in statuses(again.stderr), again.stderr
        assert again.stdout.strip() == first.stdout.strip()

        # rotated secrets: same key (the first RUN would fail on the new value if it ran: it is not run)
        rotated = tmp_path / "rotated"
        rotated.write_text("another value")
        flags = ("--secret", f"id=tok,src={rotated}", "--secret", f"id=cfg,src={rotated}")
        third = shlax("build", *flags, "--explain", "-t", tag, str(p["ctx"]), cache_dir=p["cache"])
        assert "built" not in statuses(third.stderr), third.stderr
        assert third.stdout.strip() == first.stdout.strip()

        # the mount options as written are part of the key: another target rebuilds that step
        text = (p["ctx"] / "Containerfile").read_text()
        (p["ctx"] / "Containerfile").write_text(text.replace("/etc/app/cfg.ini", "/etc/app/c2"))
        fourth = shlax("build", *p["flags"], "--explain", "-t", tag, str(p["ctx"]), cache_dir=p["cache"])
        assert statuses(fourth.stderr) == ["from", "cached", "built", "built", "config", "built"], (
            fourth.stderr
        )
    finally:
        forget_layers(p["cache"])


def test_secret_from_an_environment_variable(tmp_path, base_images, buildah_cleanup):
    value = f"env-{uuid.uuid4().hex}"
    digest = hashlib.sha256(value.encode()).hexdigest()
    (tmp_path / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nRUN --mount=type=secret,id=api sha256sum /run/secrets/api | grep -q '^{digest} '"
        " && touch /ok\n"
        "RUN --mount=type=secret,id=SHLAX_TEST_API_TOKEN sha256sum /run/secrets/SHLAX_TEST_API_TOKEN"
        f" | grep -q '^{digest} ' && touch /ok2\n"
    )
    tag = buildah_cleanup.tag("shlax-secret")
    env = {**os.environ, "SHLAX_TEST_API_TOKEN": value}
    try:
        shlax(
            "build",
            "--secret",
            "id=api,env=SHLAX_TEST_API_TOKEN",
            "--secret",
            "id=SHLAX_TEST_API_TOKEN",  # docker's spelling: the variable of that name (no such file here)
            "-t",
            tag,
            str(tmp_path),
            cache_dir=tmp_path / "cache",
            env=env,
        )
        assert "/ok" in file_tree(tag) and "/ok2" in file_tree(tag)
        assert _image_holds(tag, value.encode()) == []
    finally:
        forget_layers(tmp_path / "cache")


def test_missing_required_secret_is_a_located_error(tmp_path, base_images):
    (tmp_path / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nRUN true\nRUN --mount=type=secret,id=deploy_key,required=true cat /run/secrets/deploy_key\n"
    )
    secret_dirs = _secret_dirs()
    try:
        result = shlax("build", str(tmp_path), cache_dir=tmp_path / "cache", check=False)
        assert result.returncode == 2, result.stderr
        assert f"{tmp_path / 'Containerfile'}:3: " in result.stderr
        assert "secret 'deploy_key' is required" in result.stderr
        assert "--secret id=deploy_key" in result.stderr
        assert "Traceback" not in result.stderr
        assert _leftover_containers(tmp_path / "cache") == set()
        assert _secret_dirs() - secret_dirs == set()

        # bare "required" (BuildKit's spelling; bud 1.28 crashes on it) means required too
        (tmp_path / "Containerfile").write_text(
            f"FROM {BUSYBOX}\nRUN --mount=type=secret,id=k,required cat /run/secrets/k\n"
        )
        result = shlax("build", str(tmp_path), cache_dir=tmp_path / "cache", check=False)
        assert result.returncode == 2 and ":2: " in result.stderr and "Traceback" not in result.stderr
    finally:
        forget_layers(tmp_path / "cache")


def test_secret_as_environment_variable_is_refused_with_its_location(tmp_path, base_images):
    (tmp_path / "Containerfile").write_text(f"FROM {BUSYBOX}\nRUN --mount=type=secret,id=k,env=K true\n")
    (tmp_path / "k").write_text("v")
    try:
        result = shlax(
            "build",
            "--secret",
            f"id=k,src={tmp_path / 'k'}",
            str(tmp_path),
            cache_dir=tmp_path / "c",
            check=False,
        )
        assert result.returncode == 2
        assert ":2: " in result.stderr and "env=" in result.stderr and "Traceback" not in result.stderr
    finally:
        forget_layers(tmp_path / "c")


# -- ADD --checksum ------------------------------------------------------------------------------------------


def test_add_checksum_verified_and_in_the_key(tmp_path, http_root, base_images, buildah_cleanup):
    www, url = http_root
    payload = os.urandom(4096)
    (www / "blob.bin").write_bytes(payload)
    sha256 = hashlib.sha256(payload).hexdigest()
    sha512 = hashlib.sha512(payload).hexdigest()
    ctx, plain = tmp_path / "ctx", tmp_path / "plain"
    ctx.mkdir()
    plain.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nADD --checksum=sha256:{sha256} {url}/blob.bin /dl/\nADD {url}/blob.bin /file\n"
    )
    # bud 1.28 refuses --checksum: its image is the same file without the flag
    (plain / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nADD {url}/blob.bin /dl/\nADD {url}/blob.bin /file\n"
    )
    ours, theirs = buildah_cleanup.tag("shlax-sum"), buildah_cleanup.tag("bud-sum")
    cache = tmp_path / "cache"
    try:
        first = shlax("build", "--explain", "-t", ours, str(ctx), cache_dir=cache)
        bud(plain / "Containerfile", plain, theirs, cleanup=buildah_cleanup)
        assert image_config(ours) == image_config(theirs)
        assert diff_trees(_tree(ours), _tree(theirs)) == []
        assert _tree(ours)["/dl/blob.bin"][4] == sha256

        again = shlax("build", "--explain", "-t", ours, str(ctx), cache_dir=cache)
        assert "built" not in statuses(again.stderr) and again.stdout == first.stdout, again.stderr

        # another --checksum (same bytes, sha512) is another key: the step is built again
        (ctx / "Containerfile").write_text(
            (ctx / "Containerfile").read_text().replace(f"sha256:{sha256}", f"sha512:{sha512}")
        )
        third = shlax("build", "--explain", "-t", ours, str(ctx), cache_dir=cache)
        assert statuses(third.stderr) == ["from", "built", "built"], third.stderr

        # a wrong digest fails that step with its location; nothing is left behind
        wrong = hashlib.sha256(b"something else").hexdigest()
        (ctx / "Containerfile").write_text(
            f"FROM {BUSYBOX}\nRUN true\nADD --checksum=sha256:{wrong} {url}/blob.bin /dl/\n"
        )
        failed = shlax("build", str(ctx), cache_dir=cache, check=False)
        assert failed.returncode != 0
        assert f"{ctx / 'Containerfile'}:3: " in failed.stderr
        assert f"checksum mismatch: expected sha256:{wrong}, downloaded sha256:{sha256}" in failed.stderr
        assert "Traceback" not in failed.stderr
        assert _leftover_containers(cache) == set()
    finally:
        forget_layers(cache)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ADD --checksum=sha256:{sha} local.txt /x", "only supported for http(s) URL sources"),
        ("ADD --checksum=md5:abc http://127.0.0.1:9/a /x", "invalid --checksum"),
        ("ADD --checksum=sha256:{sha} http://127.0.0.1:9/a http://127.0.0.1:9/b /x/", "exactly one source"),
        ("ADD --keep-git-dir=true https://example.invalid/r.git /x", "--keep-git-dir is not supported"),
        ("COPY --parents a/b /x/", "--parents is not supported"),
        ("COPY --from=busybox --chown=1 --exclude=*.txt /etc /x/", "--exclude with --from and --chown"),
    ],
)
def test_unsupported_copy_flags_are_located_errors(tmp_path, base_images, line, message):
    (tmp_path / "local.txt").write_text("x")
    (tmp_path / "Containerfile").write_text(f"FROM {BUSYBOX}\n{line.format(sha='0' * 64)}\n")
    result = shlax("build", str(tmp_path), cache_dir=tmp_path / "c", check=False)
    assert result.returncode == 2, result.stderr
    assert f"{tmp_path / 'Containerfile'}:2: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# -- COPY/ADD --exclude --------------------------------------------------------------------------------------

EXCLUDE_FILES = {
    "app/main.py": "print('hi')\n",
    "app/notes.txt": "excluded\n",
    "app/keep.txt": "excluded, though .dockerignore re-includes it\n",
    "app/deep/readme.txt": "kept: *.txt is relative to app/ and does not cross /\n",
    "app/cache/blob": "excluded with its directory\n",
    "app/build.log": "ignored by .dockerignore\n",
    "home.md": "kept\n",
    "home.txt": "excluded from the glob's matches\n",
    "homework/x.txt": "kept: inside a matched directory\n",
    "other/a.tmp": "excluded\n",
    "other/a.dat": "kept\n",
}
EXCLUDED = ("app/notes.txt", "app/keep.txt", "app/cache", "home.txt", "other/a.tmp")
EXCLUDE_BODY = (
    "COPY {x1}app/ /srv/app/\nCOPY {x2}hom* /mydir/\nADD {x3}other /other/\nCOPY home.md /plain.md\n"
)


def _exclude_context(root: Path, with_flags: bool) -> None:
    _write(root, EXCLUDE_FILES)
    (root / ".dockerignore").write_text("app/*.log\napp/*.txt\n!app/keep.txt\n")
    flags = (
        {"x1": "--exclude=*.txt --exclude=cache ", "x2": "--exclude=*.txt ", "x3": "--exclude=*.tmp "}
        if with_flags
        else {"x1": "", "x2": "", "x3": ""}
    )
    (root / "Containerfile").write_text(f"FROM {BUSYBOX}\n" + EXCLUDE_BODY.format(**flags))
    if not with_flags:
        for rel in EXCLUDED:
            path = root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _same_as_bud(ctx: Path, plain: Path, cache: Path, cleanup) -> dict:
    """Build ``ctx`` with shlax-front and ``plain`` (the same without the excluded files) with bud; the two
    images must have the same config and files. Returns our file tree."""
    ours, theirs = cleanup.tag("shlax-exclude"), cleanup.tag("bud-exclude")
    shlax("build", "-t", ours, str(ctx), cache_dir=cache)
    bud(plain / "Containerfile", plain, theirs, cleanup=cleanup)
    assert image_config(ours) == image_config(theirs)
    tree = _tree(ours)
    assert diff_trees(tree, _tree(theirs)) == []
    return tree


def test_exclude_same_image_as_bud_without_the_excluded_files(tmp_path, base_images, buildah_cleanup):
    ctx, plain = tmp_path / "ctx", tmp_path / "plain"
    _exclude_context(ctx, with_flags=True)
    _exclude_context(plain, with_flags=False)
    try:
        tree = _same_as_bud(ctx, plain, tmp_path / "cache", buildah_cleanup)
        assert "/srv/app/deep/readme.txt" in tree and "/mydir/home.md" in tree and "/other/a.dat" in tree
        assert (
            "/srv/app/keep.txt" not in tree and "/srv/app/cache" not in tree and "/mydir/home.txt" not in tree
        )
    finally:
        forget_layers(tmp_path / "cache")


def test_exclude_patterns_and_excluded_files_in_the_key(tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    _exclude_context(ctx, with_flags=True)
    tag = buildah_cleanup.tag("shlax-exclude")
    cache = tmp_path / "cache"
    try:
        first = shlax("build", "--explain", "-t", tag, str(ctx), cache_dir=cache)
        assert statuses(first.stderr) == ["from", "built", "built", "built", "built"], first.stderr
        again = shlax("build", "--explain", "-t", tag, str(ctx), cache_dir=cache)
        assert statuses(again.stderr) == ["from", "cached", "cached", "cached", "cached"], again.stderr

        # an excluded file changes: nothing to rebuild
        (ctx / "app" / "notes.txt").write_text("edited, still excluded\n")
        (ctx / "app" / "cache" / "blob").write_text("edited too\n")
        edited = shlax("build", "--explain", "-t", tag, str(ctx), cache_dir=cache)
        assert "built" not in statuses(edited.stderr), edited.stderr

        # a copied file changes: that step (and the ones after it) is built again
        (ctx / "other" / "a.dat").write_text("changed\n")
        changed = shlax("build", "--explain", "-t", tag, str(ctx), cache_dir=cache)
        assert statuses(changed.stderr) == ["from", "cached", "cached", "built", "built"], changed.stderr
        assert "other/a.dat" in changed.stderr  # --explain names the file

        # another pattern is another key
        text = (ctx / "Containerfile").read_text()
        (ctx / "Containerfile").write_text(text.replace("--exclude=*.txt hom*", "--exclude=*.md hom*"))
        rebuilt = shlax("build", "--explain", "-t", tag, str(ctx), cache_dir=cache)
        assert statuses(rebuilt.stderr) == ["from", "cached", "built", "built", "built"], rebuilt.stderr
        tree = _tree(tag)
        assert "/mydir/home.txt" in tree and "/mydir/home.md" not in tree
    finally:
        forget_layers(cache)


FROM_STAGES = f"""FROM {BUSYBOX} AS build
RUN mkdir -p /out/js /out/keep && echo a > /out/app.js && echo m > /out/app.js.map && echo n > /out/js/x.js.map \\
 && echo k > /out/keep/k.txt && echo r > /out/README.md && chown -R 12:34 /out/keep
"""


def test_exclude_with_from_same_image_as_bud_without_the_excluded_files(
    tmp_path, base_images, buildah_cleanup
):
    """``COPY --from`` (copied by the executor, owners kept) with ``--exclude``: patterns are relative to the
    source directory (``*.map`` leaves ``js/x.js.map``), or to the directory of the glob's matches."""
    ctx, plain = tmp_path / "ctx", tmp_path / "plain"
    ctx.mkdir()
    plain.mkdir()
    (ctx / "Containerfile").write_text(
        FROM_STAGES + f"FROM {BUSYBOX}\n"
        "COPY --from=build --exclude=*.map --exclude=README.md /out/ /srv/\n"
        "COPY --from=build --exclude=*.md --exclude=keep /out/* /flat/\n"
    )
    (plain / "Containerfile").write_text(
        FROM_STAGES
        + "FROM build AS one\nRUN rm /out/app.js.map /out/README.md\n"
        + "FROM build AS two\nRUN rm -r /out/README.md /out/keep\n"
        + f"FROM {BUSYBOX}\nCOPY --from=one /out/ /srv/\nCOPY --from=two /out/* /flat/\n"
    )
    try:
        tree = _same_as_bud(ctx, plain, tmp_path / "cache", buildah_cleanup)
        assert "/srv/js/x.js.map" in tree and "/srv/app.js.map" not in tree and "/srv/keep/k.txt" in tree
        assert tree["/srv/keep/k.txt"][2:4] == (12, 34)
    finally:
        forget_layers(tmp_path / "cache")


# -- the layer lookup under concurrent builds ----------------------------------------------------------------
