"""How many bytes the packages added by the "added" variant weigh: the yardstick for the rebuild's downloads.

WHY measured rather than typed in: the target is "at most 2x the new packages' own size + 0.5 MiB", and mirrors,
wheels and tarballs change size between releases. What counts is the compressed artefacts a package manager must
fetch for the change, dependencies included, given what the image already has:

- apt: ``apt-get install --print-uris`` inside a container of the cold-built app image lists exactly the .debs
  (with their sizes from the index) that adding the new packages needs;
- pip: ``pip install --dry-run --report`` for the old and the new requirements (target Python 3.11, manylinux
  x86_64, like the image's venv) resolves both sets; the new distributions' files are fetched on the host to weigh;
- npm: the packages present in the variant's package-lock.json and not in the base one, tarballs weighed.

Only added *names* are read from the fixture files, so editing the variant keeps this correct.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
APT_INSTALL = re.compile(r"apt-get\s+install\b(?P<args>[^\n]*?)(?:&&|;|\n|$)")


@dataclass
class AddedPackages:
    """The packages the variant adds and the bytes each manager needs for them."""

    apt: dict[str, int] = field(default_factory=dict)  # .deb file name -> size
    pip: dict[str, int] = field(default_factory=dict)  # wheel/sdist file name -> size
    npm: dict[str, int] = field(default_factory=dict)  # tarball URL -> size
    requested: dict[str, list[str]] = field(default_factory=dict)  # manager -> names added in the files

    @property
    def total(self) -> int:
        return sum(self.apt.values()) + sum(self.pip.values()) + sum(self.npm.values())

    def by_manager(self) -> dict[str, int]:
        return {"apt": sum(self.apt.values()), "pip": sum(self.pip.values()), "npm": sum(self.npm.values())}


def apt_packages(containerfile: str) -> set[str]:
    """Package names on the `apt-get install` lines (options dropped)."""
    names: set[str] = set()
    for match in APT_INSTALL.finditer(containerfile.replace("\\\n", " ")):
        names.update(word for word in match.group("args").split() if not word.startswith("-"))
    return names


def requirement_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def lock_packages(lock: dict) -> dict[str, str]:
    """``node_modules/x`` -> resolved tarball URL, from a lockfile v2/v3."""
    return {
        path: meta["resolved"]
        for path, meta in lock.get("packages", {}).items()
        if path and "resolved" in meta
    }


def _lock(path: Path) -> dict[str, str]:
    """The packages of an npm lockfile; none when the app has no npm part (the second app)."""
    return lock_packages(json.loads(path.read_text())) if path.exists() else {}


def _https_size(url: str) -> int:
    context = ssl.create_default_context(cafile=HOST_CA if os.path.exists(HOST_CA) else None)
    with urllib.request.urlopen(url, context=context, timeout=60) as response:
        return len(response.read())


def _pip_resolution(requirements: Path) -> dict[str, str]:
    """name==version -> file URL pip would install for an image's Python 3.11 venv on x86_64."""
    with tempfile.TemporaryDirectory() as target:
        out = subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                "--report", "-", "--target", target, "--only-binary=:all:",
                "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                "--platform", "manylinux_2_36_x86_64", "--platform", "manylinux2014_x86_64",
                "--platform", "manylinux_2_17_x86_64", "--platform", "any",
                "-r", str(requirements),
            ],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    report = json.loads(out)
    return {
        f"{item['metadata']['name'].lower()}=={item['metadata']['version']}": item["download_info"]["url"]
        for item in report["install"]
    }


def _apt_print_uris(image: str, packages: list[str], env: dict[str, str]) -> dict[str, int]:
    """The .debs adding ``packages`` to ``image`` needs, from apt itself inside a throwaway container."""
    container = subprocess.run(
        ["buildah", "from", "--pull=never", image], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()
    try:
        # an image built with a cache mount on /var/cache/apt has no archives/partial, which apt insists on
        script = (
            "mkdir -p /var/cache/apt/archives/partial /var/lib/apt/lists/partial && "
            "apt-get update -qq >/dev/null && "
            f"apt-get install -qq --print-uris --no-install-recommends {' '.join(packages)}"
        )
        out = subprocess.run(
            ["buildah", "run", container, "--", "sh", "-c", script],
            check=True, capture_output=True, text=True, env=env,
        ).stdout  # fmt: skip
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, env=env)
    debs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith("'"):
            debs[parts[1]] = int(parts[2])
    return debs


def measure_added(app: Path, variant: Path, cold_image: str, env: dict[str, str]) -> AddedPackages:
    """Weigh what the variant adds to the app; ``cold_image`` is the app built from ``app`` (for apt's view)."""
    added = AddedPackages()
    new_apt = sorted(
        apt_packages((variant / "Containerfile").read_text())
        - apt_packages((app / "Containerfile").read_text())
    )
    new_pip = sorted(
        requirement_lines((variant / "requirements.txt").read_text())
        - requirement_lines((app / "requirements.txt").read_text())
    )
    old_lock = _lock(app / "package-lock.json")
    new_lock = _lock(variant / "package-lock.json") if (variant / "package-lock.json").exists() else old_lock
    new_npm = sorted(url for path, url in new_lock.items() if old_lock.get(path) != url)
    added.requested = {"apt": new_apt, "pip": new_pip, "npm": [url.rsplit("/", 1)[-1] for url in new_npm]}

    if new_apt:
        added.apt = _apt_print_uris(cold_image, new_apt, env)
    if new_pip:
        old = _pip_resolution(app / "requirements.txt")
        new = _pip_resolution(variant / "requirements.txt")
        for key, url in sorted(new.items()):
            if old.get(key) != url:
                added.pip[url.rsplit("/", 1)[-1]] = _https_size(url)
    for url in new_npm:
        added.npm[url] = _https_size(url)
    return added
