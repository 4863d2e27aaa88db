"""A fake buildah for unit tests: answers the verbs the backend uses like buildah would, records every argv."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref

from shlax_front.backend.emptylayers import EMPTY_LAYER
from shlax_front.backend.runner import Result


class FakeRunner:
    """Answers buildah verbs like buildah would, records every argv."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.images = {"busybox-id"}
        self.counter = 0
        self._rootfs: str | None = None

    @property
    def rootfs(self) -> str:
        """What ``mount`` answers: an empty directory of this runner's own, removed with it (what a build writes
        into the mounted container, a direct copy's files, stays out of the host's tree)."""
        if self._rootfs is None:
            self._rootfs = tempfile.mkdtemp(prefix="fake-rootfs-")
            weakref.finalize(self, shutil.rmtree, self._rootfs, True)
        return self._rootfs

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        verb = argv[1]
        out = ""
        if verb == "inspect":
            ref = argv[-1]
            if ref in ("busybox", "busybox-id") or ref in self.images:
                config = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
                out = json.dumps(
                    {
                        "FromImageID": "busybox-id",
                        "Docker": {"config": config},
                        "OCIv1": {"config": config},
                        **self._stored(ref),
                    }
                )
            else:
                return Result(argv, 125, "", "not found")
        elif verb == "commit":
            self.counter += 1
            out = f"image{self.counter}\n"
            self.images.add(f"image{self.counter}")
        elif verb == "images":
            out = "\n".join(self.images)
        elif verb == "from":
            out = argv[argv.index("--name") + 1]
        elif verb == "mount":
            out = self.rootfs
        elif verb == "pull" and argv[-1].startswith(
            "dir:"
        ):  # an image written as a directory: its config's digest
            with open(os.path.join(argv[-1].removeprefix("dir:"), "manifest.json")) as f:
                out = json.load(f)["config"]["digest"].removeprefix("sha256:") + "\n"
            self.images.add(out.strip())
        return Result(argv, 0, out, "")

    @staticmethod
    def _stored(ref: str) -> dict:
        """A committed image's ``Config`` and ``Manifest`` as buildah stores them: a base layer, then the layer of
        its commit, empty (``emptylayers``: what a commit of config steps alone adds)."""
        if not ref.startswith("image"):
            return {}
        base = "sha256:" + "0" * 64
        config = {
            "rootfs": {"type": "layers", "diff_ids": [base, EMPTY_LAYER]},
            "history": [
                {"created_by": "/bin/sh"},
                {"created_by": "commit", "created": "2026-01-01T00:00:00Z"},
            ],
        }
        layers = [{"mediaType": "layer", "digest": digest, "size": 1024} for digest in (base, EMPTY_LAYER)]
        manifest = {
            "schemaVersion": 2,
            "config": {"mediaType": "config", "digest": "sha256:" + ref},
            "layers": layers,
        }
        return {"Config": json.dumps(config), "Manifest": json.dumps(manifest)}

    def verbs(self):
        return [c[1] for c in self.calls]


def build_with(runner, tmp_path, text: str, build_args: dict[str, str] | None = None, on_output=None):
    """Plan ``text`` with incremental layers on and run it through the executor on ``runner`` (a fake buildah),
    with a layer index and host caches under ``tmp_path / "cache"`` that the next call finds again; the
    ``BuildResult``."""
    from shlax_front.backend.buildah import Buildah
    from shlax_front.backend.context import BuildContext
    from shlax_front.backend.executor import Executor, Options
    from shlax_front.backend.hostcache import HostCaches
    from shlax_front.backend.plan import Planner
    from shlax_front.backend.store import LayerIndex
    from shlax_front.parser import parse

    plan = Planner(parse(text), build_args=build_args or {}, incremental=True).plan()
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    executor = Executor(
        Buildah(runner),
        LayerIndex(tmp_path / "cache").load(),
        HostCaches(tmp_path / "cache"),
        BuildContext(str(ctx)),
        Options(ca_bundle=None, incremental=True),
        on_output=on_output,
    )
    return executor.run(plan)
