"""A RUN asks ``buildah inspect`` of its container once for all it reads from it, and not at all when it runs
right after FROM with no config step between (its container is its FROM image's, inspected for the plan): each
buildah call costs 30-100 ms, and a cold build of a small app has a few RUN steps with host caches."""

from __future__ import annotations

import json

from fake_runner import FakeRunner
from test_build_units import make_executor, plan_of

from shlax_front.backend.runner import Result


class ContainerAwareRunner(FakeRunner):
    """The fake buildah, answering ``inspect`` of a container, and of the busybox image, with arm64 (PATH set)."""

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        argv = [str(a) for a in argv]
        config = {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "User": "root", "WorkingDir": "/"}
        if argv[1:4] == ["inspect", "--type", "container"]:
            self.calls.append(argv)
            return Result(argv, 0, json.dumps({"OCIv1": {"architecture": "arm64", "config": config}}), "")
        if argv[1:4] == ["inspect", "--type", "image"] and argv[-1] in ("busybox", "busybox-id"):
            self.calls.append(argv)
            oci = {"architecture": "arm64", "config": config}
            return Result(argv, 0, json.dumps({"FromImageID": "busybox-id", "OCIv1": oci, "Docker": {}}), "")
        return super().run(argv, check, on_output, cwd, input)


def _inspects(runner):
    return [c[2:4] for c in runner.calls if c[1] == "inspect"]


def test_an_apt_run_inspects_its_container_once_and_no_layer_image(tmp_path):
    runner = ContainerAwareRunner()
    text = "FROM busybox\nRUN apt-get update && apt-get install -y curl\nRUN apt-get install -y less\n"
    make_executor(tmp_path, runner).run(plan_of(text))
    runs = [c for c in runner.calls if c[1] == "run"]
    assert len(runs) == 2
    # one inspect of a container (architecture for the cache partition, PATH for the apt stand-ins): the second
    # RUN's, made from a layer just committed; the first's container is the base image's, whose inspect serves;
    # the images inspected are the base only, never a layer just committed
    assert _inspects(runner).count(["--type", "container"]) == 1
    inspected = [c[-1] for c in runner.calls if c[2:4] == ["--type", "container"]]
    assert inspected == [runs[1][runs[1].index("--") - 1]]
    assert all(c[-1] in ("busybox", "busybox-id") for c in runner.calls if c[2:4] == ["--type", "image"])
    # the partition's architecture is the container's
    volumes = [a for c in runs for a in c if "apt-cache/" in a]
    assert volumes and all("-arm64:" in v for v in volumes)
