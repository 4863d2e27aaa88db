"""A fake buildah for unit tests: answers the verbs the backend uses like buildah would, records every argv."""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref

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
                    {"FromImageID": "busybox-id", "Docker": {"config": config}, "OCIv1": {"config": config}}
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
        return Result(argv, 0, out, "")

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
