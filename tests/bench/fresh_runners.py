"""Fresh-runner benchmarks (``make bench``): CI runners that start empty, the caches carried between them.

Each contender runs as three runners, one after the other, each from the cold state of ``harness.py`` (its own
empty image store with only the base image, empty caches, empty HOME -- what a CI runner starts with):

  seed         runner 1 builds the bundled example app and exports its cache
  reexport     runner 1 builds it again, nothing changed, and exports again (what is pushed: only what is new)
  fresh-noop   runner 2 builds the same app with the cache of runner 1 imported
  fresh-added  runner 3 builds the app with one apt, one pip and one npm package added, cache imported, and
               exports (what is pushed: the new layers and package files)

Contenders: shlax-front with ``--cache-to/--cache-from type=registry`` and with ``type=local`` (a directory, as
actions/cache keeps it), ``buildah bud --layers --cache-to/--cache-from REPO`` as written and with hand-written
cache mounts (which start empty on a new runner). The cache registry is Debian's ``docker-registry`` on
127.0.0.1, plain HTTP (an ``insecure`` registries.conf entry); its traffic never goes through the counting proxy
(loopback is not proxied), so "received" counts the package registries alone, and "pushed" is what the cache
store (registry or directory) grew by.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    APP,
    TAG,
    VARIANT,
    BuildahBud,
    BuildahCacheMounts,
    Contender,
    Run,
    ShlaxFront,
    export_base_image,
    export_source,
)
from proxy import CountingProxy  # noqa: E402
from sizes import measure_added  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("seed", "reexport", "fresh-noop", "fresh-added")


class Registry:
    """docker-registry on 127.0.0.1 with its data under ``root``; ``size`` is what it stores, in bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.conf = root / "registries.conf"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Registry:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "registry.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.root / 'data'}\nhttp:\n  addr: {self.host}\n"
        )
        self.conf.write_text(f'[[registry]]\nlocation = "{self.host}"\ninsecure = true\n')
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def carried(base: type[Contender], key: str, label: str):
    """``base`` with cache flags added to its command (set per build) and the registry settings in its env."""

    class Carried(base):  # type: ignore[misc, valid-type]
        cache_flags: list[str] = []
        registries: Path | None = None

        def command(self, offline: bool, no_cache: bool) -> list[str]:
            cmd = super().command(offline, no_cache)
            return [*cmd[:-1], *self.cache_flags, cmd[-1]]

        def env(self, proxy: CountingProxy) -> dict[str, str]:
            env = super().env(proxy)
            if self.registries:
                env["CONTAINERS_REGISTRIES_CONF"] = str(self.registries)
            return env

    Carried.key, Carried.label = key, label
    return Carried


def image_id(contender: Contender, proxy: CountingProxy) -> str:
    listed = subprocess.run(
        ["buildah", "images", "--noheading", "--no-trunc", "--format", "{{.ID}}", TAG],
        capture_output=True, text=True, env=contender.env(proxy),
    )  # fmt: skip
    first = (listed.stdout.strip().splitlines() or [""])[0]  # an image with two names is listed twice
    return first.removeprefix("sha256:")


def run_contender(
    contender, flags_to, flags_from, store: Path, proxy, base_archive, added_holder
) -> list[dict]:
    rows: list[dict] = []

    def build(scenario: str, flags: list[str]) -> Run:
        contender.cache_flags = flags
        before = tree_size(store) if store.exists() else 0
        run = contender.build(proxy, "fresh", scenario)
        pushed = (tree_size(store) if store.exists() else 0) - before
        row = {**run.as_dict(), "pushed": pushed, "image": image_id(contender, proxy) if run.ok else ""}
        rows.append(row)
        status = "ok" if run.ok else f"FAILED (exit {run.exit_code})"
        print(
            f"[fresh] {contender.key:<18} {scenario:<12} {run.seconds:8.1f} s "
            f"{run.bytes_received / 2**20:8.2f} MiB in {pushed / 2**20:8.2f} MiB pushed  {status}",
            flush=True,
        )
        return run

    try:
        contender.reset(base_archive, proxy)
        if not build("seed", flags_to).ok:
            return rows
        if added_holder.get("added") is None:
            added_holder["added"] = measure_added(APP, VARIANT, TAG, contender.env(proxy))
        build("reexport", flags_to)
        contender.reset(base_archive, proxy)
        build("fresh-noop", flags_from)
        contender.reset(base_archive, proxy)
        contender.apply_variant()
        build("fresh-added", flags_from + flags_to)
    finally:
        contender.destroy(proxy)
    return rows


def write_report(rows: list[dict], added_total: int, out: Path, commit: str, notes: list[str] = ()) -> str:
    seeds = {row["contender"]: row["image"] for row in rows if row["scenario"] == "seed"}
    lines = [
        "# Fresh runners: caches carried by --cache-to/--cache-from",
        "",
        f"Commit `{commit}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, by `tests/bench/fresh_runners.py`."
        " Received: bytes from the package registries (counted by the proxy); pushed: what the cache store grew"
        " by. Wall seconds are noisy on this shared machine; bytes are exact.",
        "",
        f"New packages of the `added` variant: {added_total / 1024:.0f} KiB.",
        "",
        *[f"> **Note:** {note}\n" for note in notes],
        "| contender | scenario | result | wall s | received MiB | pushed MiB | same image as seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        same = (
            "-"
            if row["scenario"] in ("seed", "fresh-added")
            else str(row["image"] == seeds.get(row["contender"]))
        )
        result = "ok" if row["ok"] else f"FAILED ({row['exit_code']})"
        lines.append(
            f"| {row['contender']} | {row['scenario']} | {result} | {row['seconds']:.1f} | "
            f"{row['bytes_received'] / 2**20:.2f} | {row['pushed'] / 2**20:.2f} | {same} |"
        )
    lines += ["", "## Targets (issue 12)", ""]
    limit = 1.1 * added_total + 100 * 1024
    for row in rows:
        if row["contender"].startswith("shlax") and row["scenario"] == "fresh-noop":
            verdict = "met" if row["ok"] and row["bytes_received"] == 0 else "NOT met"
            lines.append(f"- {row['contender']} fresh-noop: no byte from the package registries: {verdict}")
        if row["contender"].startswith("shlax") and row["scenario"] == "fresh-added":
            got = row["bytes_received"]
            verdict = "met" if row["ok"] and got <= limit else "NOT met"
            lines.append(
                f"- {row['contender']} fresh-added: {got / 1024:.0f} KiB <= 1.1x new packages + 100 KiB "
                f"({limit / 1024:.0f} KiB): {verdict}"
            )
    walls = {(row["contender"], row["scenario"]): row["seconds"] for row in rows if row["ok"]}
    bud = walls.get(("bud-registry", "fresh-added"))
    for key in ("shlax-registry", "shlax-local"):
        own = walls.get((key, "fresh-added"))
        if own is not None and bud is not None:
            verdict = "met" if own < bud else "NOT met"
            lines.append(
                f"- {key} fresh-added: wall {own:.1f} s < bud with its registry cache {bud:.1f} s: {verdict}"
            )
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fresh.md").write_text(text)
    (out / "fresh.json").write_text(
        json.dumps({"commit": commit, "added": added_total, "runs": rows}, indent=1)
    )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contenders", default="shlax-registry,shlax-local,bud-registry,cachemounts-registry"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--shlax-commit", default="HEAD")
    parser.add_argument("--note", action="append", default=[], help="a remark printed with the results")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shlax-fresh-", dir="/var/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    commit = export_source(workdir, args.shlax_commit)
    base_archive = export_base_image(workdir)
    rows: list[dict] = []
    added_holder: dict = {}
    with Registry(workdir / "registry") as registry, CountingProxy() as proxy:
        reg_store, local_store = registry.root / "data", workdir / "ci-cache"
        shlax_reg = f"type=registry,ref={registry.host}/shlax-cache"
        shlax_local_to, shlax_local_from = f"type=local,dest={local_store}", f"type=local,src={local_store}"
        inc = ["--incremental"]  # its records travel with the layers (on by default later)
        table = {
            "shlax-registry": (ShlaxFront, "shlax-front --cache-* type=registry", [*inc, "--cache-to", shlax_reg],
                               [*inc, "--cache-from", shlax_reg], reg_store),
            "shlax-local": (ShlaxFront, "shlax-front --cache-* type=local", [*inc, "--cache-to", shlax_local_to],
                            [*inc, "--cache-from", shlax_local_from], local_store),
            "bud-registry": (BuildahBud, "buildah bud --layers --cache-to/--cache-from",
                             ["--cache-to", f"{registry.host}/bud-cache"],
                             ["--cache-from", f"{registry.host}/bud-cache"], reg_store),
            "cachemounts-registry": (BuildahCacheMounts, "bud, cache mounts, --cache-to/--cache-from",
                                     ["--cache-to", f"{registry.host}/mounts-cache"],
                                     ["--cache-from", f"{registry.host}/mounts-cache"], reg_store),
        }  # fmt: skip
        for key in [k.strip() for k in args.contenders.split(",") if k.strip()]:
            base, label, flags_to, flags_from, store = table[key]
            contender = carried(base, key, label)(workdir)
            contender.registries = registry.conf
            rows += run_contender(contender, flags_to, flags_from, store, proxy, base_archive, added_holder)
    added = added_holder.get("added")
    print(write_report(rows, added.total if added else 0, args.out, commit, args.note))
    return 0 if rows and all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
