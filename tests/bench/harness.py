"""Contenders, their private state, and one timed, metered build.

WHY private state per contender: the machine's image store is shared with other people's builds, and buildah's
cache mounts live in one directory per uid. Each contender therefore gets its own containers-storage root
(``CONTAINERS_STORAGE_CONF``), its own ``TMPDIR`` (where buildah keeps ``RUN --mount=type=cache`` contents), its
own ``HOME``/``XDG_CACHE_HOME`` and shlax-front cache directory. "Cold" means that whole directory deleted and the
same base image imported again -- every contender starts from the same state, and nothing of anyone else's is
touched.

Network: every build runs with ``http_proxy``/``https_proxy`` pointing at the counting proxy (``proxy.py``);
buildah passes these into RUN, apt/pip/npm honour them, so the proxy sees every byte the build fetches.

Certificates: pip and npm inside the builds reach their registries through this machine's TLS-intercepting proxy,
whose CA is only in the host bundle. Plain ``buildah bud`` cannot set an environment variable for RUN without
putting it in the image, so contenders 1 and 2 get the host bundle and two one-line configs bind-mounted
read-only for every RUN (``-v``): ``/etc/ssl/host-ca.crt``, ``/etc/pip.conf`` (``cert``) and ``/etc/npmrc``
(``cafile``). buildah 1.28 leaves the three mount points behind as empty files in the first layer (nothing else
of them reaches the image); shlax-front uses its own ``--ca-bundle`` (default: the same host bundle). The files,
their contents and the image are the same for every run of a contender.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from proxy import CountingProxy

ROOT = Path(__file__).resolve().parents[2]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_IMAGE = "docker.io/library/debian:bookworm"
TAG = "localhost/shlax-bench-app:latest"


@dataclass(frozen=True)
class App:
    """A benchmarked app: its folder, its "added" variant, the source file copied last that ``edit`` changes,
    and the sentence the report describes it with."""

    path: Path
    edited_source: str
    description: str
    #: the folder under ``variants/`` whose files replace their namesakes for the ``added`` scenario
    variant_name: str = "added"

    @property
    def variant(self) -> Path:
        return self.path / "variants" / self.variant_name


APPS = {
    "app": App(
        ROOT / "fixtures" / "app",
        "src/static/app.js",
        "the bundled example app (`fixtures/app`: Debian bookworm, 13 apt packages with nodejs/npm pulling about "
        "420 .debs, a Python venv with flask/requests/gunicorn, an npm lockfile)",
    ),
    "app2": App(
        ROOT / "fixtures" / "app2",
        "app.py",
        "the second, smaller app (`fixtures/app2`: Debian bookworm, apt python3, python3-venv, curl, tini and "
        "procps, a venv with flask and requests, app.py copied last; the added variant adds less and six)",
    ),
    "app2-unpinned": App(
        ROOT / "fixtures" / "app2",
        "app.py",
        "the second, smaller app (`fixtures/app2`, as above) with an unpinned addition: its added-unpinned variant "
        "adds less and `colorama` with no version, so pip asks the index what it means",
        "added-unpinned",
    ),
}
APP = APPS["app"].path
VARIANT = APPS["app"].variant
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
NO_PROXY_VARS = ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY")


@dataclass
class Run:
    """One build: what it cost and whether it worked."""

    pass_name: str
    contender: str
    scenario: str
    ok: bool
    seconds: float
    bytes_received: int
    bytes_sent: int = 0
    requests: int = 0
    tunnels: int = 0
    refused: int = 0
    per_host: dict[str, int] = field(default_factory=dict)
    load_before: float = 0.0
    load_after: float = 0.0
    exit_code: int = 0
    tail: str = ""
    log: str = ""
    #: no-op: every run's seconds (this Run holds the median)
    samples: list[float] = field(default_factory=list)
    #: plain http .deb downloads: [files, bytes]
    debs: list[int] = field(default_factory=lambda: [0, 0])
    #: other plain http requests (apt indexes...): (url, status, bytes)
    http_other: list[tuple[str, int, int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class Contender:
    """A way of building the app; subclasses say which file and which command."""

    key = ""
    label = ""
    containerfile = "Containerfile"

    def __init__(self, workdir: Path, app: App = APPS["app"]) -> None:
        self.app = app
        self.home = workdir / self.key
        self.storage = self.home / "storage"
        self.tmp = self.home / "tmp"
        self.user_home = self.home / "home"
        self.cache_dir = self.home / "shlax-cache"
        self.context = self.home / "context"
        self.certs = self.home / "certs"

    # -- availability and commands -------------------------------------------------------------------------------

    def missing(self) -> str | None:
        """Why this contender cannot run here, or None."""
        return None if shutil.which("buildah") else "buildah is not installed"

    def command(self, offline: bool, no_cache: bool) -> list[str]:
        raise NotImplementedError

    # -- state ------------------------------------------------------------------------------------------------------

    def env(self, proxy: CountingProxy) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in NO_PROXY_VARS}
        env.update({var: proxy.url for var in PROXY_VARS})
        env.update(
            CONTAINERS_STORAGE_CONF=str(self.home / "storage.conf"),
            BUILDAH_ISOLATION="chroot",
            TMPDIR=str(self.tmp),
            HOME=str(self.user_home),
            XDG_CACHE_HOME=str(self.user_home / ".cache"),
            PYTHONPATH=str(self.home.parent / "src") + os.pathsep + env.get("PYTHONPATH", ""),
        )
        return env

    def reset(self, base_archive: Path, proxy: CountingProxy) -> None:
        """Cold state: delete everything this contender ever made, import the base image again, fresh context."""
        self.destroy(proxy)
        for path in (self.storage, self.tmp, self.user_home, self.cache_dir, self.certs):
            path.mkdir(parents=True)
        (self.home / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.storage}/graph"\nrunroot = "{self.storage}/run"\n'
        )
        (self.certs / "pip.conf").write_text("[global]\ncert = /etc/ssl/host-ca.crt\n")
        (self.certs / "npmrc").write_text("cafile=/etc/ssl/host-ca.crt\n")
        subprocess.run(
            ["buildah", "pull", "--quiet", f"docker-archive:{base_archive}"],
            check=True, capture_output=True, env=self.env(proxy),
        )  # fmt: skip
        shutil.copytree(self.app.path, self.context, ignore=shutil.ignore_patterns("variants", "__pycache__"))

    def destroy(self, proxy: CountingProxy) -> None:
        if (self.home / "storage.conf").exists():
            env = self.env(proxy)
            subprocess.run(["buildah", "rm", "--all"], capture_output=True, env=env)
            subprocess.run(["buildah", "rmi", "--all", "--force"], capture_output=True, env=env)
        _unmount_under(self.home)
        shutil.rmtree(self.home, ignore_errors=True)

    def apply_variant(self) -> None:
        for path in self.app.variant.iterdir():
            if path.name != "README":
                shutil.copy2(path, self.context / path.name)

    def edit_source(self, n: int) -> None:
        source = self.context / self.app.edited_source
        comment = "#" if source.suffix == ".py" else "//"
        source.write_text(source.read_text() + f"{comment} edited by the benchmark ({n})\n")

    # -- running ----------------------------------------------------------------------------------------------------

    def build(
        self,
        proxy: CountingProxy,
        pass_name: str,
        scenario: str,
        offline: bool = False,
        no_cache: bool = False,
    ) -> Run:
        log = self.home.parent / "logs" / f"{self.key}-{pass_name}-{scenario}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        proxy.refuse = offline
        proxy.reset()
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        command = self.command(offline, no_cache)
        if offline:
            command = cut_network(command)
        with log.open("ab") as out:
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            result = subprocess.run(command, cwd=self.context, env=self.env(proxy), stdout=out, stderr=out)
        seconds = time.monotonic() - started
        time.sleep(0.2)  # let the proxy finish counting connections the build just closed
        counters = proxy.reset()
        proxy.refuse = False
        lines = log.read_text(errors="replace").splitlines()
        return Run(
            pass_name=pass_name,
            contender=self.key,
            scenario=scenario,
            ok=result.returncode == 0,
            seconds=round(seconds, 3),
            bytes_received=counters.bytes_received,
            bytes_sent=counters.bytes_sent,
            requests=counters.requests,
            tunnels=counters.tunnels,
            refused=counters.refused,
            per_host=counters.per_host,
            load_before=load_before,
            load_after=os.getloadavg()[0],
            exit_code=result.returncode,
            tail="\n".join(lines[-15:]),
            log=str(log),
            debs=[
                sum(1 for url, _, _ in counters.urls if url.endswith(".deb")),
                sum(n for url, _, n in counters.urls if url.endswith(".deb")),
            ],
            http_other=[entry for entry in counters.urls if not entry[0].endswith(".deb")],
        )

    def build_median(self, proxy: CountingProxy, pass_name: str, scenario: str, runs: int) -> Run:
        samples = [self.build(proxy, pass_name, scenario) for _ in range(runs)]
        median = sorted(samples, key=lambda run: run.seconds)[len(samples) // 2]
        median.samples = [run.seconds for run in samples]
        median.ok = all(run.ok for run in samples)
        median.bytes_received = max(run.bytes_received for run in samples)
        median.seconds = round(statistics.median(median.samples), 3)
        return median


class BuildahBud(Contender):
    key = "buildah"
    label = "buildah bud --layers (as written)"

    def command(self, offline: bool, no_cache: bool) -> list[str]:
        cmd = ["buildah", "bud", "--layers", "--format", "docker", "-f", self.containerfile, "-t", TAG]
        cmd += [
            "-v", f"{HOST_CA}:/etc/ssl/host-ca.crt:ro",
            "-v", f"{self.certs / 'pip.conf'}:/etc/pip.conf:ro",
            "-v", f"{self.certs / 'npmrc'}:/etc/npmrc:ro",
        ]  # fmt: skip
        if no_cache:
            cmd.append("--no-cache")
        return cmd + ["."]


class BuildahCacheMounts(BuildahBud):
    key = "cachemounts"
    label = "buildah bud --layers (hand-written cache mounts)"
    containerfile = "Containerfile.cachemounts"


class ShlaxFront(Contender):
    key = "shlax-front"
    label = "shlax-front build (as written)"

    def command(self, offline: bool, no_cache: bool) -> list[str]:
        cmd = [sys.executable, "-m", "shlax_front", "build", "-f", self.containerfile, "-t", TAG]
        cmd += ["--cache-dir", str(self.cache_dir)]
        if offline:
            cmd.append("--offline")
        if no_cache:
            cmd.append("--no-cache")
        return cmd + ["."]

    def missing(self) -> str | None:
        reason = super().missing()
        if reason:
            return reason
        probe = subprocess.run(
            [sys.executable, "-m", "shlax_front", "build", "--help"],
            cwd=self.home.parent, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(self.home.parent / "src")},
        )  # fmt: skip
        if probe.returncode != 0:
            last = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"`shlax-front build` not available yet ({last[0]})"
        for flag in ("--offline", "--cache-dir", "--no-cache"):
            if flag not in probe.stdout:
                return f"`shlax-front build` has no {flag} option yet"
        return None


class ShlaxFrontNoIncremental(ShlaxFront):
    """The same with ``--no-incremental``: a RUN whose install gained packages is built in full (the default
    starts it from its previous layer and installs only those)."""

    key = "shlax-no-incremental"
    label = "shlax-front build --no-incremental (as written)"

    def command(self, offline: bool, no_cache: bool) -> list[str]:
        cmd = super().command(offline, no_cache)
        return [*cmd[:-1], "--no-incremental", cmd[-1]]


CONTENDERS = {cls.key: cls for cls in (BuildahBud, BuildahCacheMounts, ShlaxFront, ShlaxFrontNoIncremental)}


def export_base_image(workdir: Path) -> Path:
    """The base image as a docker-archive (keeps its id), imported into every contender's fresh store."""
    archive = workdir / "base-image.tar"
    if not archive.exists():
        subprocess.run(["sh", str(ROOT / "tests" / "images" / "make_base_images.sh")], check=True)
        env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_STORAGE_CONF"}
        subprocess.run(
            ["buildah", "push", "--quiet", BASE_IMAGE, f"docker-archive:{archive}:{BASE_IMAGE}"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
    return archive


def cut_network(command: list[str], loopback: bool = True) -> list[str]:
    """Run the whole build in a new network namespace with no interface but loopback: a machine offline.

    chroot isolation runs RUN in the network namespace of buildah itself, so this cuts every route -- direct
    connections included, not only the ones that honour proxy variables; the proxy variables now point at a
    port nobody listens on (connection refused), the outside world is unreachable, DNS fails. Loopback is
    brought up because an offline laptop has it up, and tools react differently to "connection refused" and
    "network unreachable" (apt-get update turns the latter into a hard error). ``loopback=False`` keeps it down.
    (The proxy is told to refuse as well, should ``unshare`` be unavailable; then only proxied traffic is cut,
    and the report says so.)
    """
    if not (shutil.which("unshare") and os.geteuid() == 0):
        return command
    if loopback and shutil.which("ip"):
        return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *command]
    return ["unshare", "--net", "--", *command]


def export_source(workdir: Path, rev: str = "HEAD") -> str:
    """shlax-front as committed (HEAD), so colleagues' uncommitted edits in the shared tree cannot change a run
    halfway; returns the commit. Contenders import it through PYTHONPATH."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    src = workdir / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "shlax_front", "templates"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    # byte-compiled as an installed package is (pip compiles at install): with PYTHONDONTWRITEBYTECODE set, as
    # on some build machines, every run would otherwise compile the whole package again
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True, capture_output=True)
    return commit


def _unmount_under(path: Path) -> None:
    """Overlay mounts a killed build may have left in a private store (deepest first)."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
