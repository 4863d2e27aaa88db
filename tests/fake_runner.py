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
