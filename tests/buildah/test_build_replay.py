"""A no-op rebuild finished from the record of the last build (``backend/replay.py``), by real buildah builds.

Every build runs with ``PYTHONPROFILEIMPORTTIME=1``: Python lists each module it imports on stderr, so a build
finished from its record is seen by what it did not import (the build API, the parser). After a change to any
input (a context file edited or added, the base image's name moved to another image, the final image removed,
a build arg's value) the normal path runs and makes the right image; after the normal path, the same command
is finished from the record again, with the same image id, its tags back and ``--iidfile`` written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pyte
from buildah_tools import diff_trees, file_tree, forget_layers, read_file, shlax, statuses

from shlax_front.backend import replay
from shlax_front.backend.statcache import RACY_SECONDS

BUSYBOX = "docker.io/library/busybox:latest"


def _replayed(build: subprocess.CompletedProcess) -> bool:
    """Whether the build was finished from its record (it imported neither the build API nor the parser), before
    the command line was read (``python -m shlax_front`` tries the record first: ``replay.finish_early``)."""
    imported = re.findall(r"^import time:.*\| ( *)(shlax_front\S*)$", build.stderr, re.M)
    names = {name for _, name in imported}
    assert "shlax_front.backend.replay" in names, build.stderr[-2000:]  # the build command ran
    replayed = "shlax_front.backend.api" not in names and "shlax_front.parser" not in names
    assert not replayed or "shlax_front.cli" not in names, "finished from the record after the command line"
    return replayed


def _image(ref: str) -> str:
    done = subprocess.run(
        ["buildah", "inspect", "--format", "{{.FromImageID}}", ref], capture_output=True, text=True
    )
    return done.stdout.strip().removeprefix("sha256:")


def _base_image(tag: str, label: str) -> str:
    """A base image of this test's own (busybox with a label): its name can be moved without touching busybox."""
    ctr = f"shlax-replay-base-{uuid.uuid4().hex[:12]}"  # never busybox's default name, which others may hold
    subprocess.run(
        ["buildah", "from", "--pull=never", "--quiet", "--name", ctr, BUSYBOX],
        capture_output=True,
        check=True,
    )
    try:
        subprocess.run(
            ["buildah", "config", "--label", f"base={label}", ctr], check=True, capture_output=True
        )
        made = subprocess.run(["buildah", "commit", "--quiet", ctr, tag], capture_output=True, text=True)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().removeprefix("sha256:")


def test_a_no_op_is_finished_from_its_record_until_an_input_changes(tmp_path, base_images, buildah_cleanup):
    base = buildah_cleanup.tag("shlax-replay-base")
    first_base = _base_image(base, "one")
    second_base = _base_image(buildah_cleanup.tag("shlax-replay-base2"), "two")
    buildah_cleanup.layers([first_base])  # nameless once its name moves
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Containerfile").write_text(
        f"FROM {base}\nARG V=0\nCOPY src/ /src/\nCOPY app.txt /app.txt\nRUN echo $V > /v.txt; ls /src > /ls.txt\n"
    )
    (ctx / "src" / "a.txt").write_text("a\n")
    (ctx / "app.txt").write_text("one\n")
    tag, other = buildah_cleanup.tag(), buildah_cleanup.tag()
    iidfile = tmp_path / "iid"
    args = (
        "build",
        "--progress=plain",
        "-t",
        tag,
        "-t",
        other,
        "--build-arg",
        "V",
        "--iidfile",
        str(iidfile),
    )
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "V": "1"}

    def build(**changed: str) -> subprocess.CompletedProcess:
        return shlax(*args, str(ctx), cache_dir=cache, env={**env, **changed})

    def label(image: str) -> str:
        info = json.loads(
            subprocess.run(["buildah", "inspect", image], capture_output=True, text=True).stdout
        )
        return info["OCIv1"]["config"]["Labels"]["base"]

    time.sleep(RACY_SECONDS + 0.5)  # the files were written just now: their stats stand for them from now on
    try:
        first = build()
        assert not _replayed(first) and statuses(first.stderr).count("built") == 3
        image = first.stdout.strip()

        subprocess.run(
            ["buildah", "rmi", tag], check=True, capture_output=True
        )  # the name only: `other` stays
        iidfile.unlink()
        again = build()
        assert _replayed(again), again.stderr[-3000:]
        assert statuses(again.stderr) == [s.replace("built", "cached") for s in statuses(first.stderr)]
        assert again.stdout.strip() == image == _image(tag) == _image(other)
        assert iidfile.read_text() == f"sha256:{image}"

        # a build arg's value (--build-arg V takes it from the environment)
        changed = build(V="2")
        assert not _replayed(changed) and read_file(tag, "/v.txt") == "2\n"
        assert _replayed(build(V="2"))
        env["V"] = "2"

        # the base image's name moved to another image
        subprocess.run(["buildah", "tag", second_base, base], check=True, capture_output=True)
        moved = build()
        assert not _replayed(moved) and label(moved.stdout.strip()) == "two" and first_base != second_base
        assert _replayed(build())

        # the final image removed: the last RUN's layer, an image of its own, is found; the final image is that
        # layer stored again with the ARG's empty history entry before the COPYs (``emptylayers``): the same again
        final = moved.stdout.strip()
        subprocess.run(["buildah", "rmi", "-f", final], check=True, capture_output=True)
        assert _image(tag) != final
        rebuilt = build()
        assert not _replayed(rebuilt) and statuses(rebuilt.stderr)[-1] == "cached"
        assert _image(tag) == rebuilt.stdout.strip() == final
        assert _replayed(build())

        # a file added to a copied directory
        (ctx / "src" / "b.txt").write_text("b\n")
        added = build()
        assert not _replayed(added) and read_file(tag, "/ls.txt") == "a.txt\nb.txt\n"
        time.sleep(RACY_SECONDS + 0.5)
        assert not _replayed(build())  # recorded now: the file had just been written when the last one ran
        assert _replayed(build())

        # a context file edited
        (ctx / "app.txt").write_text("two, longer\n")
        edited = build()
        assert not _replayed(edited) and read_file(tag, "/app.txt") == "two, longer\n"
    finally:
        forget_layers(cache)


def _same(text: str) -> str:
    """Output with its times taken out (they differ from one build to the next)."""
    text = re.sub(r"^import time:.*\n", "", text, flags=re.M)
    text = re.sub(r'"(time|seconds)": [\d.]+', r'"\1": 0', text)
    return re.sub(r"\d+\.\d+s\b", "0.0s", text)


def test_a_replayed_no_op_prints_what_a_no_op_prints(tmp_path, base_images, buildah_cleanup):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nENV A=1\nCOPY app.txt /\nRUN cat /app.txt\nEXPOSE 80\n"
    )
    (ctx / "app.txt").write_text("app\n")
    tag = buildah_cleanup.tag()
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    time.sleep(RACY_SECONDS + 0.5)
    try:
        image = shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=env).stdout.strip()
        for mode in (["--progress=plain"], ["--progress=rawjson"], ["--json"], ["-q"], ["--progress=quiet"]):
            normal = shlax("build", *mode, "-t", tag, str(ctx), cache_dir=cache, env=env)  # a no-op: recorded
            replayed = shlax("build", *mode, "-t", tag, str(ctx), cache_dir=cache, env=env)
            assert not _replayed(normal) and _replayed(replayed), mode
            assert _same(replayed.stdout) == _same(normal.stdout), mode
            assert _same(replayed.stderr) == _same(normal.stderr), mode
            assert image in replayed.stdout

        # the live view, without import lines on its screen: the record is the witness (the normal path
        # writes it anew, a replay only reads it)
        tty = ("--progress=tty", "-t", tag, str(ctx))
        record = replay.record_path(cache, ["build", "--cache-dir", str(cache), *tty], os.getcwd())
        plain_env = {**os.environ, "COLUMNS": "100"}
        normal = shlax("build", *tty, cache_dir=cache, env=plain_env)
        written = os.stat(record).st_ino
        replayed = shlax("build", *tty, cache_dir=cache, env=plain_env)
        assert os.stat(record).st_ino == written
        assert _screen(replayed.stderr) == _screen(normal.stderr) and replayed.stdout == normal.stdout
        assert any(" cached " in line for line in _screen(replayed.stderr))
    finally:
        forget_layers(cache)


def test_files_written_where_python_m_runs_keep_the_fast_path(tmp_path, base_images, buildah_cleanup):
    """``python -m shlax_front`` puts its working directory on the import path; a script that writes a new log
    there after each build must still get its no-op from the record (a new module there must not)."""
    ctx, cache, work = tmp_path / "ctx", tmp_path / "cache", tmp_path / "work"
    ctx.mkdir()
    work.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {BUSYBOX}\nCOPY app.txt /\nRUN cat /app.txt\n")
    (ctx / "app.txt").write_text("app\n")
    tag = buildah_cleanup.tag()
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    time.sleep(RACY_SECONDS + 0.5)
    try:
        shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=env, cwd=work)
        shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=env, cwd=work)  # a no-op: recorded
        (work / "build-1.log").write_text("the log of a build\n")
        (work / "out").mkdir()
        replayed = shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=env, cwd=work)
        assert _replayed(replayed), replayed.stderr[-2000:]
        (work / "helpers.py").write_text(
            "# a module: one of that name imported by the tool would be this one\n"
        )
        normal = shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=env, cwd=work)
        assert not _replayed(normal)
        assert statuses(normal.stderr) == ["from", "cached", "cached"], normal.stderr[-2000:]
    finally:
        forget_layers(cache)


def _screen(written: str) -> list[str]:
    """What a 100-column terminal shows in the end, times taken out."""
    screen = pyte.Screen(100, 40)
    pyte.Stream(screen).feed(written)
    return [_same(line.rstrip()) for line in screen.display if line.strip()]


def _made_of(ref: str) -> dict:
    """What an image is made of, times left out: its layers' digests but the last (the directories a copy
    writes into get the copy's time: two builds of the same step differ there), history and config."""
    info = json.loads(subprocess.run(["buildah", "inspect", ref], capture_output=True, text=True).stdout)
    oci = info["OCIv1"]
    history = [{k: v for k, v in entry.items() if k != "created"} for entry in oci["history"]]
    layers = oci["rootfs"]["diff_ids"]
    return {
        "layers": [len(layers), layers[:-1]],
        "history": history,
        "config": oci["config"],
        "docker": info["Docker"]["config"],
    }


def test_a_late_edit_is_redone_from_the_record_as_the_normal_path_builds_it(
    tmp_path, base_images, buildah_cleanup
):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {BUSYBOX}\nWORKDIR /app\nCOPY a.txt ./\nRUN echo one > /one\nENV A=1\nCOPY app.txt ./\n"
        'EXPOSE 80\nCMD ["cat", "app.txt"]\n'
    )
    (ctx / "a.txt").write_text("a\n")
    (ctx / "app.txt").write_text("one\n")
    tag, other = buildah_cleanup.tag(), buildah_cleanup.tag()
    iidfile = tmp_path / "iid"
    args = ("build", "--progress=plain", "-t", tag, "-t", other, "--iidfile", str(iidfile), str(ctx))
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    record = replay.record_path(cache, [*args[:1], "--cache-dir", str(cache), *args[1:]], os.getcwd())
    time.sleep(RACY_SECONDS + 0.5)
    try:
        first = shlax(*args, cache_dir=cache, env=env)
        assert not _replayed(first) and record.exists()
        shutil.copytree(cache, tmp_path / "before")

        (ctx / "app.txt").write_text("two, longer\n")  # just now: hashed again by every build until older
        written = os.stat(record).st_ino
        late = shlax(*args, cache_dir=cache, env=env)
        assert _replayed(late), late.stderr[-3000:]
        assert os.stat(record).st_ino != written  # the record written for the next build
        reused = [status.replace("built", "cached") for status in statuses(first.stderr)]
        assert statuses(late.stderr) == [*reused[:-3], "built", "config", "config"]  # one COPY after the RUN
        image = late.stdout.strip()
        assert image != first.stdout.strip() and image == _image(tag) == _image(other)
        assert iidfile.read_text() == f"sha256:{image}" and read_file(tag, "/app/app.txt") == "two, longer\n"

        # the normal path on the same edit, from the layers and index the first build left
        shutil.rmtree(tmp_path / "before" / "noop")
        normal_tag = buildah_cleanup.tag()
        normal = shlax("build", "-t", normal_tag, str(ctx), cache_dir=tmp_path / "before", env=env)
        assert not _replayed(normal)
        assert _made_of(image) == _made_of(normal.stdout.strip())
        assert diff_trees(file_tree(image), file_tree(normal.stdout.strip())) == []

        # what the late edit built is the normal path's cached layer, and the next no-op is replayed
        again = shlax(*args, cache_dir=cache, env=env)
        assert _replayed(again) and again.stdout.strip() == image and "built" not in statuses(again.stderr)
        record.unlink()
        normal_again = shlax(*args, cache_dir=cache, env=env)
        assert not _replayed(normal_again) and normal_again.stdout.strip() == image
        assert "built" not in statuses(normal_again.stderr)
    finally:
        forget_layers(cache)
        forget_layers(tmp_path / "before")


def test_a_late_edit_of_a_copied_directory_is_the_normal_paths_image(tmp_path, base_images, buildah_cleanup):
    """``COPY src/ ./src/`` last, a file below it edited: redone from the record (on buildah 1.28 the tree is
    written into the mounted container by shlax-front, ``directcopy``), the image is the one the normal path
    makes of the same edit: history (the ``dir:`` digest), config, layers but the last, and every file."""
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    (ctx / "src" / "static").mkdir(parents=True)
    for directory in (ctx, ctx / "src", ctx / "src" / "static"):
        directory.chmod(0o755)
    (ctx / "Containerfile").write_text(
        f'FROM {BUSYBOX}\nWORKDIR /app\nRUN echo one > /one\nCOPY src/ ./src/\nCMD ["ls"]\n'
    )
    (ctx / "src" / "app.py").write_text("one\n")
    (ctx / "src" / "run.sh").write_text("#!/bin/sh\n")
    (ctx / "src" / "run.sh").chmod(0o755)
    (ctx / "src" / "static" / "app.js").write_text("//\n")
    tag = buildah_cleanup.tag()
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    time.sleep(RACY_SECONDS + 0.5)
    try:
        first = shlax("build", "--progress=plain", "-t", tag, str(ctx), cache_dir=cache, env=env)
        assert not _replayed(first), first.stderr[-3000:]
        shutil.copytree(cache, tmp_path / "before")

        (ctx / "src" / "static" / "app.js").write_text("// two\n")
        late = shlax("build", "--progress=plain", "-t", tag, str(ctx), cache_dir=cache, env=env)
        assert _replayed(late), late.stderr[-3000:]
        assert statuses(late.stderr)[-2:] == ["built", "config"]
        image = late.stdout.strip()
        assert read_file(image, "/app/src/static/app.js") == "// two\n"

        shutil.rmtree(tmp_path / "before" / "noop")
        normal_tag = buildah_cleanup.tag()
        normal = shlax("build", "-t", normal_tag, str(ctx), cache_dir=tmp_path / "before", env=env)
        assert not _replayed(normal)
        assert _made_of(image) == _made_of(normal.stdout.strip())
        assert diff_trees(file_tree(image), file_tree(normal.stdout.strip())) == []
    finally:
        forget_layers(cache)
        forget_layers(tmp_path / "before")
