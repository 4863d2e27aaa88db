"""Packages in the host caches against the digests they should have (no buildah): a ``.deb`` against the SHA256
the apt lists beside its cache give, a wheel against its own RECORD - damage that keeps every compressed stream
and CRC sound (a file rewritten whole, a member re-zipped) is caught too."""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

from test_hardening_units import _deb

from shlax_front.backend import distcheck


def _packages_entry(name: str, version: str, sha256: str) -> str:
    return (
        f"Package: {name}\nVersion: {version}\nArchitecture: amd64\n"
        f"Filename: pool/main/{name[0]}/{name}/{name}_{version.split(':')[-1]}_amd64.deb\n"
        f"Size: 1\nSHA256: {sha256}\nDescription: x\n\n"
    )


def test_a_deb_whose_sha256_is_not_the_lists_one_is_dropped(tmp_path, caplog):
    """The lists are plain, gzip or lz4 (Debian's images keep them lz4); an epoch is ``%3a`` in the archive name
    and absent from the pool's. A sound archive with other bytes than listed goes; one not listed stays."""
    archives = tmp_path / "caches" / "apt-cache" / "debian-12-amd64" / "archives"
    lists = tmp_path / "caches" / "apt-lists" / "debian-12-amd64"
    archives.mkdir(parents=True)
    lists.mkdir(parents=True)
    names = ["good_1.0_amd64.deb", "swapped_2.0_amd64.deb", "epoch_1%3a3.0_amd64.deb", "unlisted_1_amd64.deb"]
    for name in names:
        _deb(archives / name)
    digest = {name: hashlib.sha256((archives / name).read_bytes()).hexdigest() for name in names}
    other = hashlib.sha256(b"another build").hexdigest()
    (lists / "x_dists_bookworm_main_binary-amd64_Packages").write_text(
        _packages_entry("good", "1.0", digest["good_1.0_amd64.deb"])
        + _packages_entry("swapped", "2.0", other)
    )
    updates = _packages_entry("epoch", "1:3.0", other)
    if shutil.which("lz4"):
        plain = lists / "x_dists_bookworm-updates_main_binary-amd64_Packages"
        plain.write_text(updates)
        subprocess.run(["lz4", "-q", "--rm", str(plain), str(plain) + ".lz4"], check=True)
    else:
        (lists / "x_dists_bookworm-updates_main_binary-amd64_Packages.gz").write_bytes(
            gzip.compress(updates.encode())
        )
    dropped = distcheck.drop_damaged_packages("apt-cache", archives.parent)
    assert dropped == ["epoch_1%3a3.0_amd64.deb", "swapped_2.0_amd64.deb"]
    assert sorted(p.name for p in archives.iterdir()) == ["good_1.0_amd64.deb", "unlisted_1_amd64.deb"]
    assert caplog.text.count("is not the one the apt lists give") == 2


def _wheel_with_record(path: Path, body: bytes, listed: bytes) -> None:
    digest = base64.urlsafe_b64encode(hashlib.sha256(listed).digest()).rstrip(b"=").decode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pkg/__init__.py", body)
        archive.writestr(
            "pkg-1.dist-info/RECORD",
            f"pkg/__init__.py,sha256={digest},{len(listed)}\npkg-1.dist-info/RECORD,,\n",
        )


def test_a_wheel_whose_member_is_not_the_one_its_record_names_is_dropped(tmp_path, caplog):
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    _wheel_with_record(wheelhouse / "good-1-py3-none-any.whl", b"x = 1\n", b"x = 1\n")
    _wheel_with_record(wheelhouse / "changed-1-py3-none-any.whl", b"x = 2\n", b"x = 1\n")  # CRCs all sound
    assert distcheck.damage(wheelhouse / "good-1-py3-none-any.whl") is None
    assert "differs from RECORD" in (distcheck.damage(wheelhouse / "changed-1-py3-none-any.whl") or "")
    assert distcheck.drop_damaged_packages("pip-wheelhouse", wheelhouse) == ["changed-1-py3-none-any.whl"]
    assert "damaged in the host cache" in caplog.text


def test_the_lists_in_the_image_count_too_their_symlinks_resolved_inside_it(tmp_path):
    """A RUN that keeps its lists in the image: the container's lists judge the cached archives; a symlink
    there leads to the image's own directory, never the host's."""
    archives = tmp_path / "caches" / "apt-cache" / "debian-12-amd64" / "archives"
    archives.mkdir(parents=True)
    for name in ("kept_1_amd64.deb", "swapped_1_amd64.deb"):
        _deb(archives / name)
    rootfs = tmp_path / "rootfs"
    (rootfs / "var" / "lib" / "apt").mkdir(parents=True)
    (rootfs / "srv" / "lists").mkdir(parents=True)
    (rootfs / "var" / "lib" / "apt" / "lists").symlink_to("/srv/lists")  # absolute: inside the image
    kept = hashlib.sha256((archives / "kept_1_amd64.deb").read_bytes()).hexdigest()
    (rootfs / "srv" / "lists" / "x_bookworm_main_binary-amd64_Packages").write_text(
        _packages_entry("kept", "1", kept) + _packages_entry("swapped", "1", hashlib.sha256(b"x").hexdigest())
    )
    dropped = distcheck.drop_damaged_packages("apt-cache", archives.parent, str(rootfs))
    assert dropped == ["swapped_1_amd64.deb"]


def test_a_deb_the_lists_vouch_for_is_not_decompressed(tmp_path, monkeypatch):
    """Its SHA256 equal to the listed one, a .deb is the file the archive published: judged by that digest alone
    (reading every stream of a few hundred packages was seconds at the first build after a cold one). A
    package the lists do not name is still read to its end."""
    archives = tmp_path / "caches" / "apt-cache" / "debian-12-amd64" / "archives"
    lists = tmp_path / "caches" / "apt-lists" / "debian-12-amd64"
    archives.mkdir(parents=True)
    lists.mkdir(parents=True)
    for name in ("listed_1.0_amd64.deb", "unlisted_1_amd64.deb"):
        _deb(archives / name)
    listed = hashlib.sha256((archives / "listed_1.0_amd64.deb").read_bytes()).hexdigest()
    (lists / "x_dists_bookworm_main_binary-amd64_Packages").write_text(
        _packages_entry("listed", "1.0", listed)
    )
    read = []
    monkeypatch.setattr(distcheck, "damage", lambda path: read.append(path.name))
    assert distcheck.drop_damaged_packages("apt-cache", archives.parent) == []
    assert read == ["unlisted_1_amd64.deb"]
